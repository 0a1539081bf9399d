package projections

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/surge-platform/surge/domain"
)

// Projection is a read model that can apply any event of the history: a
// replay, a catch-up, a rebuild. Applying an event it has applied already
// changes nothing.
type Projection interface {
	Name() string
	Apply(ctx context.Context, e domain.Event) error
}

// Checkpoint is how far a reader of the whole history has come, in the
// order the event store hands out committed events: transaction, position.
type Checkpoint struct {
	TransactionID uint64
	Position      int64
}

// StoredEvent is an event read back from the event store.
type StoredEvent struct {
	Position      int64
	StreamID      string
	StreamVersion int
	Event         domain.Event
}

// EventHistory is the event store as the catch-up reads it.
type EventHistory interface {
	// ReadCommitted returns up to limit events after cp, only from
	// transactions older than every one still running (so none is ever
	// stepped over), and the checkpoint after the last one.
	ReadCommitted(ctx context.Context, cp Checkpoint, limit int) ([]StoredEvent, Checkpoint, error)
	LoadCheckpoint(ctx context.Context, name string) (Checkpoint, error)
	SaveCheckpoint(ctx context.Context, name string, cp Checkpoint) error
}

// DataMarker tells whether Redis still holds what the projections wrote.
type DataMarker interface {
	Present(ctx context.Context) (bool, error)
	Set(ctx context.Context) error
}

// Exclusive runs fn while this process alone holds the lease name.
type Exclusive interface {
	Run(ctx context.Context, name string, ttl time.Duration, fn func(ctx context.Context) error) (bool, error)
}

// CatchUp keeps every read model complete from the event store, whatever
// Kafka delivered:
//
//   - every Interval it applies the events committed since its checkpoint
//     (Kafka delivered almost all of them already; applying again changes
//     nothing), so an event Kafka lost after it was forwarded, a broker that
//     restarted empty, still reaches every projection;
//   - every WatchInterval it looks for the data marker in Redis; when the
//     marker is gone (Redis flushed, restarted empty, failed over to an
//     empty replica) it says so and rebuilds every read model from the
//     first event, then sets the marker again.
//
// One instance at a time runs a pass (a lease); a rebuild cut short (the
// holder died, Redis was flushed again and the lease went with it) starts
// over on the next pass, because the marker is set only at its end.
type CatchUp struct {
	History       EventHistory
	Targets       []Projection
	Marker        DataMarker
	Exclusive     Exclusive
	Interval      time.Duration
	WatchInterval time.Duration
	Logger        *slog.Logger
	Applied       func(events int) // metrics hook; may be nil

	rebuilding atomic.Bool
}

// checkpointName is the catch-up's checkpoint in the event store.
const checkpointName = "read-models"

// pageSize is how many events a pass reads at a time.
const pageSize = 1000

// Rebuilding says whether this process is rebuilding the read models now.
func (c *CatchUp) Rebuilding() bool { return c.rebuilding.Load() }

// Run catches up until ctx ends.
func (c *CatchUp) Run(ctx context.Context) {
	watch := time.NewTicker(c.WatchInterval)
	defer watch.Stop()
	lastPass := time.Time{}
	for {
		present, err := c.Marker.Present(ctx)
		if err == nil && (!present || time.Since(lastPass) >= c.Interval) {
			lastPass = time.Now()
			if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
				c.Logger.Error("catching read models up from the event store", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
		}
	}
}

// Pass applies what the read models may lack, if no other instance is doing
// so: everything since the checkpoint, or, when the marker is gone, the
// whole history. It returns how many events it applied.
func (c *CatchUp) Pass(ctx context.Context) (int, error) {
	applied := 0
	_, err := c.Exclusive.Run(ctx, "projection-catch-up", 30*time.Second, func(ctx context.Context) error {
		present, err := c.Marker.Present(ctx)
		if err != nil {
			return err
		}
		if !present {
			applied, err = c.rebuild(ctx)
			return err
		}
		cp, err := c.History.LoadCheckpoint(ctx, checkpointName)
		if err != nil {
			return err
		}
		applied, err = c.apply(ctx, cp, checkpointName)
		return err
	})
	return applied, err
}

// Rebuild applies the whole history now and sets the marker (`surge
// rebuild`). If another instance is catching up at the moment, it waits
// for its turn (at most a minute).
func (c *CatchUp) Rebuild(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		applied := 0
		ran, err := c.Exclusive.Run(ctx, "projection-catch-up", 30*time.Second, func(ctx context.Context) error {
			var err error
			applied, err = c.rebuild(ctx)
			return err
		})
		if ran || err != nil {
			return applied, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("another instance kept catching the read models up: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *CatchUp) rebuild(ctx context.Context) (int, error) {
	c.rebuilding.Store(true)
	defer c.rebuilding.Store(false)
	start := time.Now()
	c.Logger.Warn("Redis does not hold the read models (its data marker is missing: flushed, restarted empty, or a first start): rebuilding them from the event store")
	applied, err := c.apply(ctx, Checkpoint{}, checkpointName)
	if err != nil {
		return applied, err
	}
	if err := c.Marker.Set(ctx); err != nil {
		return applied, err
	}
	c.Logger.Warn("read models rebuilt from the event store", "events", applied, "took", time.Since(start).String())
	return applied, nil
}

// apply applies every committed event after cp to every target, saving the
// checkpoint under name after each page ("" saves none).
func (c *CatchUp) apply(ctx context.Context, cp Checkpoint, name string) (int, error) {
	applied := 0
	for {
		page, next, err := c.History.ReadCommitted(ctx, cp, pageSize)
		if err != nil {
			return applied, err
		}
		if len(page) == 0 {
			return applied, nil
		}
		for _, e := range page {
			for _, p := range c.Targets {
				if err := p.Apply(ctx, e.Event); err != nil {
					return applied, fmt.Errorf("%s at position %d (%s): %w", p.Name(), e.Position, e.Event.WireName(), err)
				}
			}
		}
		applied += len(page)
		if c.Applied != nil {
			c.Applied(len(page))
		}
		cp = next
		if name != "" {
			if err := c.History.SaveCheckpoint(ctx, name, cp); err != nil {
				return applied, err
			}
		}
	}
}

// Snapshot is the event store as a replay reads it: everything committed
// when the replay starts, in order, from one consistent snapshot.
type Snapshot interface {
	ReadSnapshot(ctx context.Context, fn func(StoredEvent) error) error
}

// Replay applies the whole committed history to targets, and nothing else:
// no lease, no marker, no checkpoint. It returns how many events it read.
func Replay(ctx context.Context, history Snapshot, targets ...Projection) (int, error) {
	n := 0
	err := history.ReadSnapshot(ctx, func(e StoredEvent) error {
		n++
		for _, p := range targets {
			if err := p.Apply(ctx, e.Event); err != nil {
				return fmt.Errorf("%s at position %d (%s): %w", p.Name(), e.Position, e.Event.WireName(), err)
			}
		}
		return nil
	})
	return n, err
}
