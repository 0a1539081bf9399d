package handlers

import (
	"context"
	"log/slog"

	"github.com/surge-platform/surge/domain/chat"
)

// ChatRepository loads and saves rooms and messages; saving gives each new
// feed event the next position of its room's feed.
type ChatRepository interface {
	LoadRoom(ctx context.Context, roomID string) (*chat.Room, error)
	SaveRoom(ctx context.Context, r *chat.Room) error
	LoadMessage(ctx context.Context, roomID, messageID string) (*chat.Message, error)
	SaveMessage(ctx context.Context, m *chat.Message) error
}

// RoomFastPath is the room's Redis read model, written as soon as the room
// is stored so that the first message finds it.
type RoomFastPath interface {
	SaveRoom(ctx context.Context, e chat.RoomCreated) error
}

// CreateRoomHandler stores a room before it answers (the API runs it
// synchronously). Creating it again with the same name is harmless.
type CreateRoomHandler struct {
	Rooms    ChatRepository
	FastPath RoomFastPath
	Clock    Clock
	Logger   *slog.Logger
}

// Handle returns the room as stored.
func (h CreateRoomHandler) Handle(ctx context.Context, cmd chat.CreateRoom) (*chat.Room, error) {
	var room *chat.Room
	err := retryOnConflict(func() error {
		var err error
		if room, err = h.Rooms.LoadRoom(ctx, cmd.RoomID); err != nil {
			return err
		}
		if err := room.Create(cmd, h.Clock.Now()); err != nil {
			return err
		}
		return h.Rooms.SaveRoom(ctx, room)
	})
	if err != nil {
		return nil, err
	}
	e := chat.RoomCreated{RoomID: room.ID, Name: room.Name, CreatedAt: room.CreatedAt}
	if err := h.FastPath.SaveRoom(context.WithoutCancel(ctx), e); err != nil {
		h.Logger.WarnContext(ctx, "room stored, but its Redis read model was not written", "room", room.ID, "err", err)
	}
	return room, nil
}
