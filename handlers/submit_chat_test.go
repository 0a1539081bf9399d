package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/chat"
)

type pendingLog struct {
	PendingChatCommands
	added, done []string
}

func (p *pendingLog) Add(_ context.Context, key string, _ []byte, _ time.Time) error {
	p.added = append(p.added, key)
	return nil
}
func (p *pendingLog) Done(_ context.Context, key string) error {
	p.done = append(p.done, key)
	return nil
}

type knownMessage struct{ ChatFastPath }

func (knownMessage) MessageKnown(context.Context, string, string) (bool, error) { return true, nil }

// A command Kafka did not take: the message is forgotten (the client posts
// it anew, under a new id), the reaction stays pending (its key may be a
// retry's that went through; recorded once whatever happens).
func TestACommandNotSentIsForgottenOnlyIfItIsAMessage(t *testing.T) {
	ctx := context.Background()
	known := NewKnownRooms(10)
	known.Add("lobby", nil)
	pending := &pendingLog{}
	h := SubmitChatHandler{FastPath: knownMessage{}, Known: known, Commands: &sender{err: errors.New("kafka down")}, Pending: pending}
	if _, err := h.Message(ctx, SubmitMessage{RoomID: "lobby", UserID: "ann", Text: "hi"}); err == nil {
		t.Fatal("a message Kafka did not take was accepted")
	}
	react := SubmitReaction{RoomID: "lobby", MessageID: "0b7e2f4e-3a4f-4c1a-9d0e-8f6b2a1c5d3e", UserID: "ann", Emoji: "👍"}
	if err := h.Reaction(ctx, react); err == nil {
		t.Fatal("a reaction Kafka did not take was accepted")
	}
	wantReact := chat.AddReaction{RoomID: react.RoomID, MessageID: react.MessageID, UserID: "ann", Emoji: "👍"}.Key()
	if len(pending.added) != 2 || !strings.HasPrefix(pending.added[0], "m/lobby/") || pending.added[1] != wantReact || len(pending.done) != 1 || pending.done[0] != pending.added[0] {
		t.Fatalf("added %v, forgotten %v; want both added and only the message forgotten", pending.added, pending.done)
	}
}

type brokenPending struct{ pendingLog }

func (p *brokenPending) Add(context.Context, string, []byte, time.Time) error {
	return errors.New("redis down")
}

// Redis not taking the pending record does not stop a message or a
// reaction: Kafka is where the command is kept.
func TestACommandIsSentWhenRedisDoesNotTakeItsRecord(t *testing.T) {
	ctx := context.Background()
	known := NewKnownRooms(10)
	known.Add("lobby", nil)
	pending := &brokenPending{}
	commands := &sender{}
	h := SubmitChatHandler{FastPath: knownMessage{}, Known: known, Commands: commands, Pending: pending}
	id, err := h.Message(ctx, SubmitMessage{RoomID: "lobby", UserID: "ann", Text: "hi"})
	if err != nil || id == "" {
		t.Fatalf("the message was refused: id %q, %v", id, err)
	}
	react := SubmitReaction{RoomID: "lobby", MessageID: "0b7e2f4e-3a4f-4c1a-9d0e-8f6b2a1c5d3e", UserID: "ann", Emoji: "👍"}
	if err := h.Reaction(ctx, react); err != nil {
		t.Fatalf("the reaction was refused: %v", err)
	}
	if len(commands.sent) != 2 {
		t.Fatalf("%d commands sent, want 2", len(commands.sent))
	}
	if p, ok := commands.sent[0].(chat.PostMessage); !ok || p.MessageID != id || p.Text != "hi" {
		t.Fatalf("first command %#v, want PostMessage %s", commands.sent[0], id)
	}
	if r, ok := commands.sent[1].(chat.AddReaction); !ok || r.Emoji != "👍" || r.MessageID != react.MessageID {
		t.Fatalf("second command %#v, want the reaction", commands.sent[1])
	}
	if len(pending.done) != 0 {
		t.Fatalf("records forgotten: %v, want none (none was written)", pending.done)
	}
}
