package projections

import (
	"context"
	"time"

	"github.com/surge-platform/surge/domain/chat"
)

// RoomView is what GET /v1/rooms/{id} answers.
type RoomView struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Hot              bool    `json:"hot"`
	HotSince         string  `json:"hotSince,omitempty"`
	FetchesPerSecond float64 `json:"fetchesPerSecond"`
}

// RoomPage is what a fetch read from Redis.
type RoomPage struct {
	Known    bool  // Redis holds the room
	Hot      bool  // the room runs hot
	Complete bool  // Redis holds every read model (its data marker is there)
	Oldest   int64 // the position of the oldest message Redis holds (0: none)
	Messages []chat.MessageView
}

// FetchRate is a room's fetch rate: over the detector's window (up to
// now), and in the last complete second.
type FetchRate struct {
	Window     float64 // fetches per second over the window
	LastSecond float64 // fetches in the last complete second
}

// HeatState is what the detector reads of a room: is it hot, and since
// when has it been below half the threshold (zero: it is not).
type HeatState struct {
	Hot       bool
	CoolSince time.Time
}

// ChatStore is the chat read model in Redis: each room's state and the
// timeline of its last messages. Every write is idempotent and order-safe:
// a message is added once, a reaction count only grows, a change of heat
// applies only if it is newer (by feed position) than the last one.
type ChatStore interface {
	SaveRoom(ctx context.Context, e chat.RoomCreated) error
	SaveMessage(ctx context.Context, m chat.MessageView, roomID string) error
	SaveReaction(ctx context.Context, roomID, messageID, emoji string, count int) error
	SaveHeat(ctx context.Context, roomID string, position int64, hot bool, since time.Time, rate float64) error
}

// SettledCommands forgets a command once its event is projected (the
// record of commands sent and not yet recorded, handlers.SettleChatCommands).
type SettledCommands interface {
	Done(ctx context.Context, key string) error
}

// RoomProjection keeps rooms, their hot status and their timelines in
// Redis, and tells Settled (if set) which commands were recorded.
type RoomProjection struct {
	Store   ChatStore
	Settled SettledCommands
}

// Name is the projection's consumer group. Never rename it.
func (RoomProjection) Name() string { return "RoomProjection" }

func (p RoomProjection) OnRoomCreated(ctx context.Context, e *chat.RoomCreated) error {
	return p.Store.SaveRoom(ctx, *e)
}

func (p RoomProjection) OnMessagePosted(ctx context.Context, e *chat.MessagePosted) error {
	if err := p.Store.SaveMessage(ctx, chat.MessageView{MessageID: e.MessageID, UserID: e.UserID, Text: e.Text, Position: e.Position, At: e.PostedAt}, e.RoomID); err != nil {
		return err
	}
	return p.settled(ctx, e.CommandKey())
}

func (p RoomProjection) OnReactionAdded(ctx context.Context, e *chat.ReactionAdded) error {
	if err := p.Store.SaveReaction(ctx, e.RoomID, e.MessageID, e.Emoji, e.Count); err != nil {
		return err
	}
	return p.settled(ctx, e.CommandKey())
}

func (p RoomProjection) settled(ctx context.Context, key string) error {
	if p.Settled == nil {
		return nil
	}
	return p.Settled.Done(ctx, key)
}

func (p RoomProjection) OnRoomBecameHot(ctx context.Context, e *chat.RoomBecameHot) error {
	return p.Store.SaveHeat(ctx, e.RoomID, e.Position, true, e.HotSince, e.Rate)
}

func (p RoomProjection) OnRoomCooledDown(ctx context.Context, e *chat.RoomCooledDown) error {
	return p.Store.SaveHeat(ctx, e.RoomID, e.Position, false, time.Time{}, 0)
}
