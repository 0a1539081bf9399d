package chat

import (
	"math"
	"time"

	"github.com/surge-platform/surge/domain"
)

// Errors a caller can act on.
var (
	ErrRoomNotFound    = domain.NotFound("room_not_found", "no room with that id")
	ErrMessageNotFound = domain.NotFound("message_not_found", "no message with that id in this room")
)

// Room is a chat room: its name and whether it runs hot.
type Room struct {
	domain.Root
	ID        string
	Name      string
	CreatedAt time.Time
	Hot       bool
	HotSince  time.Time
}

// LoadRoom rebuilds a room.
func LoadRoom(history []domain.Event) *Room {
	r := &Room{}
	r.Replay(history, r.apply)
	return r
}

// Exists says whether the room was created.
func (r *Room) Exists() bool { return !r.IsNew() }

// Create records RoomCreated; creating it again with the same name records
// nothing (a retried request), with another name is a conflict.
func (r *Room) Create(cmd CreateRoom, now time.Time) error {
	if err := ValidateRoomID(cmd.RoomID); err != nil {
		return err
	}
	name, err := NormalizeName(cmd.Name)
	if err != nil {
		return err
	}
	if r.Exists() {
		if r.Name == name {
			return nil
		}
		return domain.Conflict("room_exists", "room %q exists with another name", cmd.RoomID)
	}
	r.Record(RoomCreated{RoomID: cmd.RoomID, Name: name, CreatedAt: now.UTC().Truncate(time.Millisecond)}, r.apply)
	return nil
}

// ReportHeat records a change of heat: RoomBecameHot when a cool room is
// reported hot, RoomCooledDown when a hot one is reported cool; the same
// verdict again records nothing.
func (r *Room) ReportHeat(cmd ReportRoomHeat) error {
	if !r.Exists() {
		return domain.Invalid("room_not_found", "room %q was never created", cmd.RoomID)
	}
	at := cmd.ObservedAt.UTC().Truncate(time.Millisecond)
	switch {
	case cmd.Hot && !r.Hot:
		r.Record(RoomBecameHot{RoomID: r.ID, Rate: cmd.Rate, HotSince: at}, r.apply)
	case !cmd.Hot && r.Hot:
		r.Record(RoomCooledDown{RoomID: r.ID, HotFor: at.Sub(r.HotSince), CooledAt: at}, r.apply)
	}
	return nil
}

func (r *Room) apply(e domain.Event) {
	switch e := e.(type) {
	case RoomCreated:
		r.ID, r.Name, r.CreatedAt = e.RoomID, e.Name, e.CreatedAt
	case RoomBecameHot:
		r.Hot, r.HotSince = true, e.HotSince
	case RoomCooledDown:
		r.Hot, r.HotSince = false, time.Time{}
	}
}

// FetchRatePeriod is how long a client of a hot room waits between two
// fetches at perSecond fetches a second, as the limiter counts it: the rate
// is kept to a thousandth of a fetch a second (per 1,000 s), at least one
// fetch per 1,000 s. The shared limiter and every copy of it use this one
// rule, so they agree to the nanosecond.
func FetchRatePeriod(perSecond float64) (fetchesPer1000s int, period time.Duration) {
	n := max(1, int(math.Round(perSecond*1000)))
	return n, 1000 * time.Second / time.Duration(n)
}
