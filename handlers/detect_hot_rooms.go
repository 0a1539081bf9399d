package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/projections"
)

// HeatGauge is what the detector reads and keeps in Redis: the rooms
// fetched lately, their fetch rates, their heat, and since when a hot room
// has been quiet (kept in Redis, so a detector that takes over continues).
type HeatGauge interface {
	Candidates(ctx context.Context, since time.Duration, now time.Time) ([]string, error)
	Rates(ctx context.Context, roomIDs []string, window time.Duration, now time.Time) (map[string]projections.FetchRate, error)
	Heat(ctx context.Context, roomIDs []string) (map[string]projections.HeatState, error)
	SetCoolSince(ctx context.Context, roomID string, since time.Time) error
}

// DetectHotRooms marks rooms hot and cool. Once a second, exactly one
// instance (a Redis lease another takes over within a few seconds if the
// holder dies) reads the fetch counts: a room becomes hot when its rate
// over Window reaches Threshold fetches/s, and cools when its rate stays
// below half of it for Cooldown (hysteresis: a room at the threshold does
// not flap). Each change is a ReportRoomHeat command; the room's stream
// records it once, so a detector that restarts or takes over and says it
// again changes nothing.
type DetectHotRooms struct {
	Gauge     HeatGauge
	Commands  CommandSender
	Exclusive Exclusive
	Threshold float64
	Window    time.Duration
	Cooldown  time.Duration
	Clock     Clock
	Logger    *slog.Logger
	// Led is called when this instance becomes the detector (metrics, logs).
	Led func()
}

// leaseTTL is how long a dead detector holds the lease: another instance
// takes over within it and a tick.
const leaseTTL = 3 * time.Second

// Run detects until ctx ends, whenever this instance holds the lease.
func (d DetectHotRooms) Run(ctx context.Context) {
	for ctx.Err() == nil {
		ran, err := d.Exclusive.Run(ctx, "hot-room-detector", leaseTTL, d.lead)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("the hot-room detector stopped", "err", err)
		}
		if !ran || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// lead runs a pass just after every second boundary (when the second's
// fetch count is complete) until the lease is lost.
func (d DetectHotRooms) lead(ctx context.Context) error {
	d.Logger.Info("this instance is the hot-room detector")
	if d.Led != nil {
		d.Led()
	}
	for {
		now := d.Clock.Now()
		next := now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next.Sub(now)):
		}
		if err := d.Once(ctx, d.Clock.Now()); err != nil && ctx.Err() == nil {
			d.Logger.Warn("hot-room detection pass failed", "err", err)
		}
	}
}

// Once is one pass at now.
func (d DetectHotRooms) Once(ctx context.Context, now time.Time) error {
	ids, err := d.Gauge.Candidates(ctx, d.Window+d.Cooldown+5*time.Second, now)
	if err != nil || len(ids) == 0 {
		return err
	}
	rates, err := d.Gauge.Rates(ctx, ids, d.Window, now)
	if err != nil {
		return err
	}
	heat, err := d.Gauge.Heat(ctx, ids)
	if err != nil {
		return err
	}
	// The last complete second began at this instant.
	quietFrom := now.Truncate(time.Second).Add(-time.Second)
	for _, id := range ids {
		r, h := rates[id], heat[id]
		switch {
		case !h.Hot && r.Window >= d.Threshold:
			if err := d.report(ctx, id, true, r.Window, now); err != nil {
				return err
			}
		case h.Hot && r.LastSecond >= d.Threshold/2:
			if !h.CoolSince.IsZero() { // busy again: the cooldown starts over
				if err := d.Gauge.SetCoolSince(ctx, id, time.Time{}); err != nil {
					return err
				}
			}
		case h.Hot && h.CoolSince.IsZero():
			if err := d.Gauge.SetCoolSince(ctx, id, quietFrom); err != nil {
				return err
			}
		case h.Hot && now.Sub(h.CoolSince) >= d.Cooldown:
			if err := d.report(ctx, id, false, r.Window, now); err != nil {
				return err
			}
			if err := d.Gauge.SetCoolSince(ctx, id, time.Time{}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d DetectHotRooms) report(ctx context.Context, roomID string, hot bool, rate float64, now time.Time) error {
	d.Logger.Info("room heat changes", "room", roomID, "hot", hot, "rate", rate)
	return d.Commands.Send(ctx, chat.ReportRoomHeat{RoomID: roomID, Hot: hot, Rate: rate, ObservedAt: now})
}
