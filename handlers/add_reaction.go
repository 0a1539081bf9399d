package handlers

import (
	"context"
	"errors"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/chat"
)

// AddReactionHandler records a reaction on its message's stream, which
// knows who gave which emoji: the same user's same emoji again records
// nothing (still one).
type AddReactionHandler struct {
	Rooms ChatRepository
	Clock Clock
}

func (h AddReactionHandler) HandlerName() string { return "AddReactionHandler" }

func (h AddReactionHandler) Handle(ctx context.Context, cmd *chat.AddReaction) error {
	return retryOnConflict(func() error {
		m, err := h.Rooms.LoadMessage(ctx, cmd.RoomID, cmd.MessageID)
		if err != nil {
			return err
		}
		err = m.React(*cmd, h.Clock.Now())
		if errors.Is(err, chat.ErrMessageNotFound) {
			// The API checked the message exists: a reaction for one that
			// does not is a broken command, not something a retry fixes.
			return domain.Invalid("message_not_found", "message %s of room %s was never posted", cmd.MessageID, cmd.RoomID)
		}
		if err != nil {
			return err
		}
		return h.Rooms.SaveMessage(ctx, m)
	})
}
