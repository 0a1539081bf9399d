package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/chat"
)

// PostMessageHandler records a message in its room's feed. The message is
// a stream of its own at expected version 0, so a redelivered command
// records nothing.
type PostMessageHandler struct {
	Rooms ChatRepository
	Clock Clock
}

func (h PostMessageHandler) HandlerName() string { return "PostMessageHandler" }

func (h PostMessageHandler) Handle(ctx context.Context, cmd *chat.PostMessage) error {
	room, err := h.Rooms.LoadRoom(ctx, cmd.RoomID)
	if err != nil {
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
