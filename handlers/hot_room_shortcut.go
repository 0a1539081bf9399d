package handlers

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surge-platform/surge/domain/chat"
)

// FetchCounter adds fetches to a room's counts in Redis (what the detector
// reads), for fetches answered without a Redis round trip.
type FetchCounter interface {
	CountFetches(ctx context.Context, roomID string, n int64, at time.Time) error
}

// HotRoomShortcut answers a throttled fetch of a hot room in this process,
// without Redis, when the shared limiter is sure to say no.
//
// It keeps, per client of a room seen hot, the GCRA state of the fetches
// the shared limiter let through here (or, after a refusal, the state the
// limiter itself reported): a subset of what the shared limiter counted
// from every instance, so its theoretical arrival time is never later than
// the shared one, and a fetch it refuses the shared limiter would refuse
// too. It refuses only while the room was read hot in Redis within Fresh,
// so a room that cooled is never throttled for longer than that. The
// refused fetches are still counted: they are added to the room's counts
// in Redis every FlushEvery, by Run.
//
// Without it a 429 cost more than a 200 (the counted page read, then the
// limiter script, both in Redis); with it most 429s of a storm cost a map
// lookup.
type HotRoomShortcut struct {
	counter FetchCounter
	period  time.Duration // one fetch per period: 1 / rate
	burst   time.Duration // period × burst: how far ahead the arrival time may run
	logger  *slog.Logger
	// Fresh is how long a room read hot in Redis counts as hot here
	// (shortcutFresh; tests change it before first use).
	Fresh time.Duration

	mu    sync.Mutex
	rooms map[string]*hotRoom
	// tracked is len(rooms), read without mu: with no room hot (the usual
	// case) a fetch never takes the lock every fetch would share.
	tracked atomic.Int32
}

type hotRoom struct {
	seenHot time.Time            // the last fetch that read the room hot in Redis
	tat     map[string]time.Time // client → theoretical arrival time (GCRA)
	pending int64                // fetches refused here, not yet counted in Redis
}

// Shortcut tuning.
const (
	// shortcutFresh is how long a room read hot stays hot here: during a
	// storm hundreds of fetches a second read it; after it cooled, at most
	// this long of 429s that Redis would not have answered.
	shortcutFresh = 200 * time.Millisecond
	// shortcutMargin is how sure the shortcut must be: a fetch within this
	// of being allowed goes to the shared limiter (whose clock is Redis's).
	shortcutMargin = 20 * time.Millisecond
	// shortcutMaxClients bounds the clients remembered per room: beyond
	// it, fetches simply go to the shared limiter.
	shortcutMaxClients = 100_000
	// FlushEvery is how often the refused fetches are counted in Redis.
	FlushEvery = 100 * time.Millisecond
)

// NewHotRoomShortcut mirrors a limiter of perSecond fetches with burst.
func NewHotRoomShortcut(counter FetchCounter, perSecond float64, burst int, logger *slog.Logger) *HotRoomShortcut {
	if perSecond <= 0 {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	_, period := chat.FetchRatePeriod(perSecond) // the shared limiter's very period
	return &HotRoomShortcut{counter: counter, period: period, burst: period * time.Duration(max(burst, 1)),
		Fresh: shortcutFresh, logger: logger, rooms: map[string]*hotRoom{}}
}

// Refuse says whether the fetch of client is refused here, and when the
// client may fetch again. A refused fetch is counted (later, by Run).
func (s *HotRoomShortcut) Refuse(roomID, client string, now time.Time) (time.Duration, bool) {
	if s == nil || s.tracked.Load() == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil || now.Sub(r.seenHot) > s.Fresh {
		return 0, false
	}
	tat, ok := r.tat[client]
	if !ok {
		return 0, false
	}
	// GCRA: allowed iff max(tat, now) + period − burst ≤ now.
	wait := tat.Add(s.period - s.burst).Sub(now)
	if wait <= shortcutMargin {
		return 0, false
	}
	r.pending++
	return wait, true
}

// Observe records what Redis answered a fetch: whether the room is hot,
// and, for a hot room, whether the shared limiter let this client through
// (or else when it may fetch again). now is when the limiter was asked
// (before, not after, its answer: so the state kept here never runs ahead
// of the limiter's).
func (s *HotRoomShortcut) Observe(roomID, client string, hot, allowed bool, retryAfter time.Duration, now time.Time) {
	if s == nil || (!hot && s.tracked.Load() == 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.tracked.Store(int32(len(s.rooms))) }()
	r := s.rooms[roomID]
	if !hot {
		if r != nil && r.pending == 0 {
			delete(s.rooms, roomID)
		} else if r != nil {
			r.seenHot, r.tat = time.Time{}, map[string]time.Time{}
		}
		return
	}
	if r == nil {
		r = &hotRoom{tat: map[string]time.Time{}}
		s.rooms[roomID] = r
	}
	r.seenHot = now
	tat, known := r.tat[client]
	if !known && len(r.tat) >= shortcutMaxClients {
		return
	}
	if allowed {
		// The limiter counted this fetch: the arrival time moves on.
		r.tat[client] = later(tat, now).Add(s.period)
		return
	}
	// Refused: the limiter's own arrival time is now + retryAfter + burst
	// − period (the inverse of the rule in Refuse).
	r.tat[client] = later(tat, now.Add(retryAfter+s.burst-s.period))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Run counts the refused fetches in Redis every FlushEvery, forgets the
// clients whose state no longer matters, and counts what is left when ctx
// ends.
func (s *HotRoomShortcut) Run(ctx context.Context) {
	if s == nil {
		return
	}
	tick := time.NewTicker(FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			s.flush(final, time.Now())
			cancel()
			return
		case now := <-tick.C:
			s.flush(ctx, now)
		}
	}
}

// flush counts the refused fetches; a count Redis did not take is kept for
// the next flush.
func (s *HotRoomShortcut) flush(ctx context.Context, now time.Time) {
	counts := map[string]int64{}
	s.mu.Lock()
	for id, r := range s.rooms {
		if r.pending > 0 {
			counts[id] = r.pending
			r.pending = 0
		}
		for client, tat := range r.tat {
			if !tat.After(now) {
				delete(r.tat, client) // no fetch of it would be refused
			}
		}
		if len(r.tat) == 0 && now.Sub(r.seenHot) > s.Fresh {
			delete(s.rooms, id)
		}
	}
	s.tracked.Store(int32(len(s.rooms)))
	s.mu.Unlock()
	for id, n := range counts {
		if err := s.counter.CountFetches(ctx, id, n, now); err != nil {
			s.logger.Warn("counting refused fetches of a hot room", "room", id, "fetches", n, "error", err)
			s.mu.Lock()
			r := s.rooms[id]
			if r == nil {
				r = &hotRoom{tat: map[string]time.Time{}}
				s.rooms[id] = r
				s.tracked.Store(int32(len(s.rooms)))
			}
			r.pending += n
			s.mu.Unlock()
		}
	}
}

// Remembered is how many rooms and clients the shortcut holds (tests).
func (s *HotRoomShortcut) Remembered() (rooms, clients int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		clients += len(r.tat)
	}
	return len(s.rooms), clients
}
