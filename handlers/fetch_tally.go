package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// FetchCounter adds fetches to a room's counts in Redis (what the detector
// reads), for fetches answered without a Redis round trip.
type FetchCounter interface {
	CountFetches(ctx context.Context, roomID string, n int64, at time.Time) error
}

// FlushEvery is how often a FetchTally adds its fetches to Redis.
const FlushEvery = 100 * time.Millisecond

// FetchTally counts the fetches this process answers without Redis (a 429
// of the hot-room shortcut, a page from RecentPages) and adds them to the
// rooms' counts in Redis every FlushEvery (Run), so the detector still
// sees every fetch, at most FlushEvery late. A count Redis does not take is
// kept for the next flush; a process that dies loses at most FlushEvery's.
type FetchTally struct {
	counter FetchCounter
	logger  *slog.Logger

	mu     sync.Mutex
	counts map[string]int64
}

// NewFetchTally counts into counter.
func NewFetchTally(counter FetchCounter, logger *slog.Logger) *FetchTally {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FetchTally{counter: counter, logger: logger, counts: map[string]int64{}}
}

// Add counts one fetch of a room (nil: counts nothing).
func (t *FetchTally) Add(roomID string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.counts[roomID]++
	t.mu.Unlock()
}

// Run adds the counts to Redis every FlushEvery, and what is left when ctx
// ends.
func (t *FetchTally) Run(ctx context.Context) {
	if t == nil {
		return
	}
	tick := time.NewTicker(FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			t.flush(final, time.Now())
			cancel()
			return
		case now := <-tick.C:
			t.flush(ctx, now)
		}
	}
}

func (t *FetchTally) flush(ctx context.Context, now time.Time) {
	t.mu.Lock()
	counts := t.counts
	t.counts = map[string]int64{}
	t.mu.Unlock()
	for id, n := range counts {
		if err := t.counter.CountFetches(ctx, id, n, now); err != nil {
			t.logger.Warn("counting fetches answered without Redis", "room", id, "fetches", n, "error", err)
			t.mu.Lock()
			t.counts[id] += n
			t.mu.Unlock()
		}
	}
}
