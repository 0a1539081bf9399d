package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

type messageView struct {
	MessageID string         `json:"messageId"`
	UserID    string         `json:"userId"`
	Text      string         `json:"text"`
	Reactions map[string]int `json:"reactions"`
	Position  int64          `json:"position"`
	At        string         `json:"at"`
}

type messagePage struct {
	Messages []messageView `json:"messages"`
	Position int64         `json:"position"`
	Hot      bool          `json:"hot"`
}

func createRoom(t *testing.T, app *testApp, id, name string) {
	t.Helper()
	res := app.do(t, "POST", "/v1/rooms", map[string]string{"id": id, "name": name})
	if res.Status != http.StatusCreated || string(res.Body) != `{"id":"`+id+`","name":"`+name+`"}` {
		t.Fatalf("create room: %d %s", res.Status, res.Body)
	}
}

func postMessage(t *testing.T, app *testApp, room, user, text string) string {
	t.Helper()
	res := app.do(t, "POST", "/v1/rooms/"+room+"/messages", map[string]string{"userId": user, "text": text})
	var v struct{ MessageID string }
	res.JSON(t, &v)
	if res.Status != http.StatusAccepted || v.MessageID == "" {
		t.Fatalf("post: %d %s", res.Status, res.Body)
	}
	return v.MessageID
}

func fetchPage(t *testing.T, app *testApp, room string, after int64) messagePage {
	t.Helper()
	res := app.do(t, "GET", fmt.Sprintf("/v1/rooms/%s/messages?after=%d&limit=100", room, after), nil)
	if res.Status != http.StatusOK {
		t.Fatalf("fetch: %d %s", res.Status, res.Body)
	}
	var p messagePage
	res.JSON(t, &p)
	return p
}

// Messages and reactions through the spine: the fetch reads the Redis
// timeline, two SSE clients on two instances see the same events in the
// same order, and a client that reconnects with Last-Event-ID after 20
// messages gets exactly those 20, once each, in order.
func TestChatIsLiveAndResumable(t *testing.T) {
	cfg := testenv.Config(t)
	one := startApp(t, cfg, allRoles)
	two := startApp(t, cfg, allRoles)
	createRoom(t, one, "lobby", "Lobby")
	res := one.do(t, "POST", "/v1/rooms", map[string]string{"id": "lobby", "name": "Lobby"})
	if res.Status != http.StatusCreated {
		t.Fatalf("creating it again with the same name: %d %s", res.Status, res.Body)
	}
	one.do(t, "POST", "/v1/rooms", map[string]string{"id": "lobby", "name": "Other"}).requireError(t, http.StatusConflict, "room_exists")

	s1 := openStream(t, one.URL+"/v1/rooms/lobby/stream", 0)
	s2 := openStream(t, two.URL+"/v1/rooms/lobby/stream", 0)
	if s1.status != http.StatusOK || s2.status != http.StatusOK {
		t.Fatalf("stream statuses %d %d", s1.status, s2.status)
	}
	first := postMessage(t, one, "lobby", "alice", "hello")
	postMessage(t, two, "lobby", "bob", "hi alice")
	s1.wait(t, 2, 10*time.Second, "message")
	res = two.do(t, "POST", "/v1/rooms/lobby/messages/"+first+"/reactions", map[string]string{"userId": "bob", "emoji": "👍"})
	if res.Status != http.StatusAccepted {
		t.Fatalf("react: %d %s", res.Status, res.Body)
	}
	e1 := s1.wait(t, 3, 10*time.Second)
	e2 := s2.wait(t, 3, 10*time.Second)
	if summarize(e1) != summarize(e2) || summarize(e1) != "[1 message] [2 message] [3 reaction] " {
		t.Fatalf("streams differ or are wrong:\n%s\n%s", summarize(e1), summarize(e2))
	}
	var m messageView
	testenv.Must(t, json.Unmarshal([]byte(e1[0].Data), &m), "message data")
	if m.MessageID != first || m.UserID != "alice" || m.Text != "hello" || m.Position != 1 {
		t.Fatalf("message event %s", e1[0].Data)
	}
	if !strings.Contains(e1[2].Data, `"emoji":"👍"`) || !strings.Contains(e1[2].Data, `"count":1`) {
		t.Fatalf("reaction event %s", e1[2].Data)
	}
	// The fetch (Redis timeline) shows both messages with the reaction.
	waitQuiet(t, one)
	page := fetchPage(t, one, "lobby", 0)
	if len(page.Messages) != 2 || page.Position != 2 || page.Hot || page.Messages[0].Reactions["👍"] != 1 || page.Messages[1].UserID != "bob" {
		t.Fatalf("page %+v", page)
	}

	// s1 drops; 20 messages are posted; it reconnects with Last-Event-ID.
	s1.close()
	last := e1[len(e1)-1].ID
	for i := 0; i < 20; i++ {
		postMessage(t, []*testApp{one, two}[i%2], "lobby", "carol", fmt.Sprintf("message %d", i))
	}
	s2.wait(t, 23, 15*time.Second)
	back := openStream(t, two.URL+"/v1/rooms/lobby/stream", last)
	if got := back.wait(t, 20, 10*time.Second); len(got) != 20 || got[0].ID != last+1 {
		t.Fatalf("the missed messages after reconnecting: %s, want positions %d..%d", summarize(got), last+1, last+20)
	}
	postMessage(t, one, "lobby", "dave", "and a live one")
	got := back.wait(t, 21, 10*time.Second)
	for i, e := range got {
		if e.ID != last+1+int64(i) || e.Event != "message" {
			t.Fatalf("after reconnecting: %s, want positions %d..%d once each", summarize(got), last+1, last+21)
		}
	}
	if len(got) != 21 {
		t.Fatalf("%d events after reconnecting, want 21", len(got))
	}
	if !strings.Contains(got[20].Data, "and a live one") {
		t.Fatalf("the live event after the catch-up: %s", got[20].Data)
	}
}

// 100 users react with 👍 at once and 20 of them again: the count reads 100
// in the fetch, on the stream and in the event store.
func TestConcurrentReactionsCountOncePerUser(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	createRoom(t, app, "r1", "Reactions")
	id := postMessage(t, app, "r1", "alice", "react to me")
	stream := openStream(t, app.URL+"/v1/rooms/r1/stream", 0)
	stream.wait(t, 1, 10*time.Second, "message")

	var wg sync.WaitGroup
	errs := make(chan string, 120)
	for i := 0; i < 120; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := app.try("POST", "/v1/rooms/r1/messages/"+id+"/reactions", map[string]string{"userId": fmt.Sprintf("u%03d", i%100), "emoji": "👍"})
			if err != nil || res.Status != http.StatusAccepted {
				errs <- fmt.Sprintf("reaction %d: %d %s %v", i, res.Status, res.Body, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitQuiet(t, app)
	if page := fetchPage(t, app, "r1", 0); len(page.Messages) != 1 || page.Messages[0].Reactions["👍"] != 100 {
		t.Fatalf("page %+v, want 100 👍", page)
	}
	events := stream.wait(t, 101, 10*time.Second)
	if reactions := len(events) - 1; reactions != 100 || !strings.Contains(events[100].Data, `"count":100`) {
		t.Fatalf("%d reaction events, last %s; want 100, the last counting 100", reactions, events[len(events)-1].Data)
	}
	var stored int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FROM events WHERE event_type = 'chat.reaction_added.v1'`).Scan(&stored), "count")
	if stored != 100 {
		t.Fatalf("%d ReactionAdded events, want 100", stored)
	}
}

// Redis loses the chat: fetches are served from the event store meanwhile,
// and the timeline comes back by itself.
func TestChatFetchSurvivesRedisLoss(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	createRoom(t, app, "keep", "Keep")
	for i := 0; i < 5; i++ {
		postMessage(t, app, "keep", "u", fmt.Sprintf("m%d", i))
	}
	waitQuiet(t, app)
	want := fetchPage(t, app, "keep", 0)
	if len(want.Messages) != 5 {
		t.Fatalf("before: %+v", want)
	}
	keys, err := app.Redis().Keys(t.Context(), cfg.RedisPrefix+"*").Result()
	testenv.Must(t, err, "keys")
	testenv.Must(t, app.Redis().Del(t.Context(), keys...).Err(), "flush")
	if got := fetchPage(t, app, "keep", 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("right after the flush: %+v, want %+v", got, want)
	}
	testenv.Eventually(t, 10*time.Second, "the timeline rebuilt in Redis", func() bool {
		n, _ := app.Redis().ZCard(t.Context(), cfg.RedisPrefix+"room:{keep}:timeline").Result()
		return n == 5
	})
	if got := fetchPage(t, app, "keep", 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rebuild: %+v, want %+v", got, want)
	}
	if got := fetchPage(t, app, "keep", 3); len(got.Messages) != 2 || got.Messages[0].Position != 4 {
		t.Fatalf("after 3: %+v", got)
	}
}

// Bad input: the documented 4xx (for the stream, before streaming), and
// nothing written.
func TestChatBadInputGetsAClearErrorAndWritesNothing(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	createRoom(t, app, "real", "Real")
	id := postMessage(t, app, "real", "u", "x")
	waitQuiet(t, app)
	before := snapshot(t, app, cfg.RedisPrefix)
	long := strings.Repeat("x", 1001)
	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
	}{
		{"room without name", "POST", "/v1/rooms", `{"id":"x"}`, nil, 400, "missing_field"},
		{"bad room id", "POST", "/v1/rooms", `{"id":"a b","name":"x"}`, nil, 422, "invalid_room_id"},
		{"control in name", "POST", "/v1/rooms", `{"id":"x","name":"\u0007"}`, nil, 422, "invalid_name"},
		{"empty text", "POST", "/v1/rooms/real/messages", `{"userId":"u","text":""}`, nil, 422, "invalid_text"},
		{"long text", "POST", "/v1/rooms/real/messages", `{"userId":"u","text":"` + long + `"}`, nil, 422, "invalid_text"},
		{"no user", "POST", "/v1/rooms/real/messages", `{"text":"x"}`, nil, 400, "missing_field"},
		{"long user", "POST", "/v1/rooms/real/messages", `{"userId":"` + strings.Repeat("u", 65) + `","text":"x"}`, nil, 422, "invalid_user_id"},
		{"unknown room", "POST", "/v1/rooms/nope/messages", `{"userId":"u","text":"x"}`, nil, 404, "room_not_found"},
		{"unknown message", "POST", "/v1/rooms/real/messages/nope/reactions", `{"userId":"u","emoji":"👍"}`, nil, 404, "message_not_found"},
		{"long emoji", "POST", "/v1/rooms/real/messages/" + id + "/reactions", `{"userId":"u","emoji":"👍👍👍👍👍"}`, nil, 422, "invalid_emoji"},
		{"no emoji", "POST", "/v1/rooms/real/messages/" + id + "/reactions", `{"userId":"u"}`, nil, 400, "missing_field"},
		{"bad after", "GET", "/v1/rooms/real/messages?after=x", nil, nil, 400, "invalid_after"},
		{"bad limit", "GET", "/v1/rooms/real/messages?limit=101", nil, nil, 400, "invalid_limit"},
		{"zero limit", "GET", "/v1/rooms/real/messages?limit=0", nil, nil, 400, "invalid_limit"},
		{"fetch unknown room", "GET", "/v1/rooms/nope/messages", nil, nil, 404, "room_not_found"},
		{"unknown room view", "GET", "/v1/rooms/nope", nil, nil, 404, "room_not_found"},
		{"list without hot", "GET", "/v1/rooms", nil, nil, 400, "invalid_query"},
		{"stream of an unknown room", "GET", "/v1/rooms/nope/stream", nil, nil, 404, "room_not_found"},
		{"bad Last-Event-ID", "GET", "/v1/rooms/real/stream", nil, []string{"Last-Event-ID", "abc"}, 400, "invalid_last_event_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.do(t, tc.method, tc.path, tc.body, tc.headers...).requireError(t, tc.status, tc.code)
		})
	}
	if after := snapshot(t, app, cfg.RedisPrefix); !sameExceptFetchCounters(before, after) {
		t.Fatalf("bad requests wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// sameExceptFetchCounters compares snapshots, leaving out what every fetch
// writes by design (its count, for the detector).
func sameExceptFetchCounters(a, b string) bool {
	keep := func(s string) string {
		var out []string
		for _, line := range strings.Split(s, "\n") {
			if !strings.Contains(line, ":f:") && !strings.Contains(line, "rooms:active") {
				out = append(out, line)
			}
		}
		return strings.Join(out, "\n")
	}
	return keep(a) == keep(b)
}
