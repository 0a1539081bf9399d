package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

func newChat(t *testing.T) (*redis.Chat, string) {
	t.Helper()
	prefix := testenv.RedisPrefix(t)
	return redis.NewChat(testenv.Redis(t), prefix), prefix
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestTimelineKeepsTheLastThousandWithReactions(t *testing.T) {
	c, _ := newChat(t)
	ctx := context.Background()
	testenv.Must(t, c.SaveRoom(ctx, chat.RoomCreated{RoomID: "r", Name: "R", CreatedAt: t0}), "room")
	for p := int64(1); p <= redis.TimelineSize+3; p++ {
		m := chat.MessageView{MessageID: fmt.Sprintf("m%04d", p), UserID: "u", Text: "t", Position: p, At: t0}
		testenv.Must(t, c.SaveMessage(ctx, m, "r"), "message %d", p)
	}
	testenv.Must(t, c.SaveMessage(ctx, chat.MessageView{MessageID: "m1003", Position: 1003, At: t0}, "r"), "again")
	testenv.Must(t, c.SaveReaction(ctx, "r", "m1003", "👍", 2), "reaction")
	testenv.Must(t, c.SaveReaction(ctx, "r", "m1003", "👍", 1), "an older count, late") // counts only grow
	testenv.Must(t, c.SaveReaction(ctx, "r", "m0001", "👍", 5), "a reaction to a trimmed message")
	page, err := c.Fetch(ctx, "r", 1000, 10)
	testenv.Must(t, err, "fetch")
	if !page.Known || page.Hot || page.Oldest != 4 || len(page.Messages) != 3 {
		t.Fatalf("page %+v", page)
	}
	last := page.Messages[2]
	if last.MessageID != "m1003" || last.Position != 1003 || last.Reactions["👍"] != 2 || last.Text != "t" {
		t.Fatalf("last message %+v", last)
	}
	if known, _ := c.MessageKnown(ctx, "r", "m0001"); known {
		t.Fatal("a trimmed message is still in the timeline")
	}
}

func TestFetchCountsOnlyRoomsThatExistAndRatesAverageTheWindow(t *testing.T) {
	c, _ := newChat(t)
	ctx := context.Background()
	testenv.Must(t, c.SaveRoom(ctx, chat.RoomCreated{RoomID: "r", Name: "R", CreatedAt: t0}), "room")
	for i := 0; i < 30; i++ {
		_, err := c.Fetch(ctx, "r", 0, 10)
		testenv.Must(t, err, "fetch")
		_, err = c.Fetch(ctx, "ghost", 0, 10)
		testenv.Must(t, err, "fetch a room that does not exist")
	}
	now := time.Now()
	// 30 fetches in the window of 3 s (they may straddle two seconds), read
	// now and a second later.
	for _, at := range []time.Time{now, now.Add(time.Second)} {
		rates, err := c.Rates(ctx, []string{"r", "ghost"}, 3*time.Second, at)
		testenv.Must(t, err, "rates")
		if r := rates["r"]; r.Window < 9.9 || r.Window > 10.1 {
			t.Fatalf("rate at %s %+v, want 10/s over the window", at, r)
		}
		if rates["ghost"].Window != 0 {
			t.Fatalf("a made-up room was counted: %+v", rates["ghost"])
		}
	}
	// Once the window has moved past them, they are not counted.
	later, err := c.Rates(ctx, []string{"r"}, 3*time.Second, now.Add(5*time.Second))
	testenv.Must(t, err, "rates later")
	if later["r"].Window != 0 {
		t.Fatalf("rate after the window %+v", later["r"])
	}
	ids, err := c.Candidates(ctx, time.Minute, now)
	testenv.Must(t, err, "candidates")
	if fmt.Sprint(ids) != "[r]" {
		t.Fatalf("candidates %v", ids)
	}
}

func TestHeatAppliesOnlyNewerChanges(t *testing.T) {
	c, _ := newChat(t)
	ctx := context.Background()
	testenv.Must(t, c.SaveRoom(ctx, chat.RoomCreated{RoomID: "r", Name: "R", CreatedAt: t0}), "room")
	testenv.Must(t, c.SaveHeat(ctx, "r", 7, false, time.Time{}, 0), "cooled at 7")
	testenv.Must(t, c.SaveHeat(ctx, "r", 5, true, t0, 300), "hot at 5, applied late")
	v, err := c.RoomView(ctx, "r", 3*time.Second)
	testenv.Must(t, err, "view")
	if v.Hot {
		t.Fatalf("an older change overrode a newer one: %+v", v)
	}
	testenv.Must(t, c.SaveHeat(ctx, "r", 9, true, t0, 300), "hot at 9")
	hot, err := c.HotRooms(ctx)
	testenv.Must(t, err, "hot rooms")
	if v, _ := c.RoomView(ctx, "r", 3*time.Second); !v.Hot || v.HotSince == "" || fmt.Sprint(hot) != "[r]" {
		t.Fatalf("view %+v, hot rooms %v", v, hot)
	}
}

func TestThrottleAllowsTheBurstThenAsksToWait(t *testing.T) {
	c, _ := newChat(t)
	ctx := context.Background()
	for i, want := range []bool{true, true, false, false} {
		ok, retry, err := c.Throttle(ctx, "r", "client-a", 1, 2)
		testenv.Must(t, err, "throttle")
		if ok != want {
			t.Fatalf("fetch %d: allowed %v, want %v", i, ok, want)
		}
		if !ok && (retry <= 0 || retry > time.Second) {
			t.Fatalf("retry after %s, want within a second", retry)
		}
	}
	if ok, _, _ := c.Throttle(ctx, "r", "client-b", 1, 2); !ok {
		t.Fatal("another client was throttled by the first one's fetches")
	}
}

// A fractional rate is kept: at 2.5/s, one fetch every 400 ms (the limiter
// counts per 1,000 s, not in whole fetches per second).
func TestThrottleKeepsAFractionalRate(t *testing.T) {
	c, _ := newChat(t)
	ctx := context.Background()
	ok, _, err := c.Throttle(ctx, "r", "client-a", 2.5, 1)
	testenv.Must(t, err, "throttle")
	if !ok {
		t.Fatal("the first fetch is allowed")
	}
	ok, retry, _ := c.Throttle(ctx, "r", "client-a", 2.5, 1)
	if ok || retry < 350*time.Millisecond || retry > 400*time.Millisecond {
		t.Fatalf("second fetch at once: allowed %v, retry after %s; want refused for about 400 ms (1/2.5 s)", ok, retry)
	}
}
