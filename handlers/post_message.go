package handlers

import (
	"context"
	"errors"

	"github.com/surge-platform/surge/domain"

	"github.com/surge-platform/surge/domain/chat"
)

// PostMessageHandler records a message in its room's feed. The message is
// a stream of its own at expected version 0, so a redelivered command
// records nothing. A room's commands run one after another (one
// partition), so the usual case takes two round trips: the feed's last
// position and the append. The room comes from Known once loaded, and a
// new message is not loaded first: only a conflict (a redelivery, or
// another writer at the same feed position) reloads and decides again.
type PostMessageHandler struct {
	Rooms ChatRepository
	Known *KnownRooms
	Clock Clock
}

func (h PostMessageHandler) HandlerName() string { return "PostMessageHandler" }

func (h PostMessageHandler) Handle(ctx context.Context, cmd *chat.PostMessage) error {
	room := h.Known.Room(cmd.RoomID)
	if room == nil {
		var err error
		if room, err = h.Rooms.LoadRoom(ctx, cmd.RoomID); err != nil {
			return err
		}
		if room.Exists() {
			h.Known.Add(cmd.RoomID, room)
		}
	}
	first := chat.LoadMessage(nil)
	if err := first.Post(room, *cmd, h.Clock.Now()); err != nil {
		return err
	}
	err := h.Rooms.SaveMessage(ctx, first)
	if !errors.Is(err, domain.ErrConcurrentModification) {
		return err
	}
	return retryOnConflict(func() error {
		m, err := h.Rooms.LoadMessage(ctx, cmd.RoomID, cmd.MessageID)
		if err != nil {
			return err
		}
		if err := m.Post(room, *cmd, h.Clock.Now()); err != nil {
			return err
		}
		return h.Rooms.SaveMessage(ctx, m)
	})
}
