package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

// A message and a reaction answered 202 whose commands Kafka lost (here:
// recorded as pending and never sent, what a broker that restarted empty
// leaves) are sent again after the grace and recorded once; the commands
// that went through are never sent again, and the record ends empty.
func TestChatCommandsKafkaLostAreSentAgainAndRecordedOnce(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Set("SURGE_CHAT_RESEND_GRACE", "2s") // a re-sent command has 2 s to be recorded before it is sent again
	cfg.Set("SURGE_CHAT_RESEND_INTERVAL", "100ms")
	app := startApp(t, cfg, allRoles)
	ctx := context.Background()
	createRoom(t, app, "lobby", "Lobby")
	first := postMessage(t, app, "lobby", "ann", "hello")
	for i := range 4 {
		postMessage(t, app, "lobby", "ann", fmt.Sprintf("message %d", i))
	}
	testenv.Eventually(t, 10*time.Second, "5 messages", func() bool { return len(fetchPage(t, app, "lobby", 0).Messages) == 5 })

	pending := redis.NewChatPending(app.Redis(), cfg.RedisPrefix)
	lost := chat.PostMessage{RoomID: "lobby", MessageID: uuid.NewString(), UserID: "bob", Text: "lost on the way"}
	react := chat.AddReaction{RoomID: "lobby", MessageID: first, UserID: "bob", Emoji: "👍"}
	for key, cmd := range map[string]any{lost.Key(): map[string]any{"post": lost}, react.Key(): map[string]any{"react": react}, "m/lobby/garbage": "not a command"} {
		body, err := json.Marshal(cmd)
		testenv.Must(t, err, "marshal")
		testenv.Must(t, pending.Add(ctx, key, body, time.Now()), "pending %s", key)
	}

	testenv.Eventually(t, 15*time.Second, "the lost message and reaction recorded", func() bool {
		p := fetchPage(t, app, "lobby", 0)
		return len(p.Messages) == 6 && p.Messages[5].MessageID == lost.MessageID && p.Messages[0].Reactions["👍"] == 1
	})
	waitQuiet(t, app)
	time.Sleep(time.Second) // more passes: nothing more is sent
	if n := metric(t, app, "surge_chat_commands_resent_total"); n != 2 {
		t.Fatalf("surge_chat_commands_resent_total = %d, want 2 (the lost message and reaction, never the 5 that went through)", n)
	}
	var posted, reacted int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FILTER (WHERE event_type = 'chat.message_posted.v1'), count(*) FILTER (WHERE event_type = 'chat.reaction_added.v1') FROM events`).Scan(&posted, &reacted), "count")
	if posted != 6 || reacted != 1 {
		t.Fatalf("%d messages and %d reactions recorded, want 6 and 1", posted, reacted)
	}
	left, err := pending.Stale(ctx, time.Now().Add(time.Hour), 100)
	testenv.Must(t, err, "pending")
	if len(left) != 0 {
		t.Fatalf("still pending: %v", left)
	}
}
