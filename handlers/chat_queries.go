package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/projections"
)

// RoomReadModel is the rooms' Redis read model.
type RoomReadModel interface {
	RoomView(ctx context.Context, roomID string, window time.Duration) (projections.RoomView, error)
	HotRooms(ctx context.Context) ([]string, error)
}

// ChatQueries answers room views from Redis, and from the event store when
// Redis does not hold the room.
type ChatQueries struct {
	ReadModel RoomReadModel
	Rooms     ChatRepository
	Window    time.Duration // the detector's window: what fetchesPerSecond averages over
}

// Room is a room's view.
func (q ChatQueries) Room(ctx context.Context, roomID string) (projections.RoomView, error) {
	if !chat.ValidRoomID(roomID) {
		return projections.RoomView{}, chat.ErrRoomNotFound
	}
	v, err := q.ReadModel.RoomView(ctx, roomID, q.Window)
	if !errors.Is(err, domain.ErrNotInFastPath) {
		return v, err
	}
	room, err := q.Rooms.LoadRoom(ctx, roomID)
	if err != nil {
		return v, err
	}
	if !room.Exists() {
		return v, chat.ErrRoomNotFound
	}
	v = projections.RoomView{ID: room.ID, Name: room.Name, Hot: room.Hot}
	if room.Hot {
		v.HotSince = projections.FormatTime(room.HotSince)
	}
	return v, nil
}

// HotRooms lists the rooms that run hot, with their views.
func (q ChatQueries) HotRooms(ctx context.Context) ([]projections.RoomView, error) {
	ids, err := q.ReadModel.HotRooms(ctx)
	if err != nil {
		return nil, err
	}
	out := []projections.RoomView{}
	for _, id := range ids {
		v, err := q.Room(ctx, id)
		if err != nil {
			return nil, err
		}
		if v.Hot {
			out = append(out, v)
		}
	}
	return out, nil
}
