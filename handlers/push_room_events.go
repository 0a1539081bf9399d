package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/chat"
)

// RoomNotifier hands an event of a room's feed to this process's streams.
type RoomNotifier interface {
	NotifyRoom(roomID string, position int64, event string, data []byte)
}

// PushRoomEvents streams every event of a room's feed (messages,
// reactions, hot, cooled) to the room's SSE clients on this process. It runs
// in every push instance (a live group); a stream that sees a gap fills it
// from the feed, so an event missed here is late, never lost.
type PushRoomEvents struct{ Notifier RoomNotifier }

// Name names the group (live: no consumer group is kept for it).
func (PushRoomEvents) Name() string { return "PushRoomEvents" }

func (p PushRoomEvents) OnMessagePosted(_ context.Context, e *chat.MessagePosted) error {
	return p.push(*e)
}

func (p PushRoomEvents) OnReactionAdded(_ context.Context, e *chat.ReactionAdded) error {
	return p.push(*e)
}

func (p PushRoomEvents) OnRoomBecameHot(_ context.Context, e *chat.RoomBecameHot) error {
	return p.push(*e)
}

func (p PushRoomEvents) OnRoomCooledDown(_ context.Context, e *chat.RoomCooledDown) error {
	return p.push(*e)
}

func (p PushRoomEvents) push(e chat.Positioned) error {
	if e.FeedPosition() == 0 {
		return nil
	}
	entry, err := chat.Entry(e)
	if err != nil {
		return err
	}
	p.Notifier.NotifyRoom(e.Room(), entry.Position, entry.Event, entry.Data)
	return nil
}
