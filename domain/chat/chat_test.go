package chat_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/chat"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func room() *chat.Room {
	return chat.LoadRoom([]domain.Event{chat.RoomCreated{RoomID: "r1", Name: "Lobby", CreatedAt: now}})
}

func TestCreateRoomOnceSameNameIsHarmlessOtherNameConflicts(t *testing.T) {
	r := chat.LoadRoom(nil)
	if err := r.Create(chat.CreateRoom{RoomID: "r1", Name: " Lobby "}, now); err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{chat.RoomCreated{RoomID: "r1", Name: "Lobby", CreatedAt: now}}; !reflect.DeepEqual(r.Changes(), want) {
		t.Fatalf("changes %#v", r.Changes())
	}
	again := room()
	if err := again.Create(chat.CreateRoom{RoomID: "r1", Name: "Lobby"}, now); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("same name: %v %v", err, again.Changes())
	}
	err := again.Create(chat.CreateRoom{RoomID: "r1", Name: "Other"}, now)
	if de, ok := err.(*domain.Error); !ok || de.Code != "room_exists" || de.Kind != domain.KindConflict {
		t.Fatalf("other name: %v", err)
	}
}

func TestSameReactionTwiceCountsOnce(t *testing.T) {
	m := chat.LoadMessage(nil)
	if err := m.Post(room(), chat.PostMessage{RoomID: "r1", MessageID: "m1", UserID: "u1", Text: "hello"}, now); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u2", "u3", "u2"} {
		if err := m.React(chat.AddReaction{RoomID: "r1", MessageID: "m1", UserID: u, Emoji: "👍"}, now); err != nil {
			t.Fatal(err)
		}
	}
	want := []domain.Event{
		chat.MessagePosted{RoomID: "r1", MessageID: "m1", UserID: "u1", Text: "hello", PostedAt: now},
		chat.ReactionAdded{RoomID: "r1", MessageID: "m1", UserID: "u2", Emoji: "👍", Count: 1, AddedAt: now},
		chat.ReactionAdded{RoomID: "r1", MessageID: "m1", UserID: "u3", Emoji: "👍", Count: 2, AddedAt: now},
	}
	if !reflect.DeepEqual(m.Changes(), want) || m.Reactions()["👍"] != 2 {
		t.Fatalf("changes %#v reactions %v", m.Changes(), m.Reactions())
	}
	// Rebuilt from its stream, the message still knows who reacted.
	again := chat.LoadMessage(m.Changes())
	if err := again.React(chat.AddReaction{RoomID: "r1", MessageID: "m1", UserID: "u3", Emoji: "👍"}, now); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("redelivered reaction: %v %v", err, again.Changes())
	}
}

func TestHeatChangesAreRecordedOnce(t *testing.T) {
	r := room()
	hot := chat.ReportRoomHeat{RoomID: "r1", Hot: true, Rate: 350, ObservedAt: now}
	if err := r.ReportHeat(hot); err != nil {
		t.Fatal(err)
	}
	if err := r.ReportHeat(hot); err != nil { // a restarted detector says it again
		t.Fatal(err)
	}
	cool := chat.ReportRoomHeat{RoomID: "r1", Hot: false, ObservedAt: now.Add(42 * time.Second)}
	if err := r.ReportHeat(cool); err != nil {
		t.Fatal(err)
	}
	if err := r.ReportHeat(cool); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		chat.RoomBecameHot{RoomID: "r1", Rate: 350, HotSince: now},
		chat.RoomCooledDown{RoomID: "r1", HotFor: 42 * time.Second, CooledAt: now.Add(42 * time.Second)},
	}
	if !reflect.DeepEqual(r.Changes(), want) {
		t.Fatalf("changes %#v", r.Changes())
	}
}

func TestInputRules(t *testing.T) {
	for _, bad := range []string{"", "a b", "x\x00", string(make([]byte, 17)), "toolongemoji🎉🎉🎉🎉"} {
		if _, err := chat.NormalizeEmoji(bad); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("emoji %q accepted", bad)
		}
	}
	for _, ok := range []string{"👍", "❤️", "🏳️‍🌈", "+1"} {
		if _, err := chat.NormalizeEmoji(ok); err != nil {
			t.Errorf("emoji %q refused: %v", ok, err)
		}
	}
	m := chat.LoadMessage(nil)
	for _, text := range []string{"", "   ", string(make([]rune, 1001))} {
		if err := m.Post(room(), chat.PostMessage{RoomID: "r1", MessageID: "m1", UserID: "u", Text: text}, now); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("text of %d runes accepted", len([]rune(text)))
		}
	}
	if err := m.Post(chat.LoadRoom(nil), chat.PostMessage{RoomID: "nope", MessageID: "m1", UserID: "u", Text: "x"}, now); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("a message to a room that does not exist: %v", err)
	}
}
