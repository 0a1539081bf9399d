package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/chat"
)

// ReportRoomHeatHandler records a change of a room's heat in its stream:
// RoomBecameHot or RoomCooledDown, each once (the detector saying it again,
// after a restart or a takeover, records nothing).
type ReportRoomHeatHandler struct {
	Rooms ChatRepository
}

func (h ReportRoomHeatHandler) HandlerName() string { return "ReportRoomHeatHandler" }

func (h ReportRoomHeatHandler) Handle(ctx context.Context, cmd *chat.ReportRoomHeat) error {
	return retryOnConflict(func() error {
		room, err := h.Rooms.LoadRoom(ctx, cmd.RoomID)
		if err != nil {
			return err
		}
		if err := room.ReportHeat(*cmd); err != nil {
			return err
		}
		return h.Rooms.SaveRoom(ctx, room)
	})
}
