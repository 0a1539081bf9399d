package handlers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surge-platform/surge/domain/chat"
)

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
// refused fetches are still counted, by its FetchTally.
//
// Without it a 429 cost more than a 200 (the counted page read, then the
// limiter script, both in Redis); with it most 429s of a storm cost a map
// lookup.
type HotRoomShortcut struct {
	tally  *FetchTally
	period time.Duration // one fetch per period: 1 / rate
	burst  time.Duration // period × burst: how far ahead the arrival time may run
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
	// shortcutPruneEvery is how often Run forgets what no longer matters.
	shortcutPruneEvery = time.Second
)

// NewHotRoomShortcut mirrors a limiter of perSecond fetches with burst; the
// fetches it refuses are counted by tally.
func NewHotRoomShortcut(tally *FetchTally, perSecond float64, burst int) *HotRoomShortcut {
	if perSecond <= 0 {
		return nil
	}
	_, period := chat.FetchRatePeriod(perSecond) // the shared limiter's very period
	return &HotRoomShortcut{tally: tally, period: period, burst: period * time.Duration(max(burst, 1)),
		Fresh: shortcutFresh, rooms: map[string]*hotRoom{}}
}

// Refuse says whether the fetch of client is refused here, and when the
// client may fetch again. A refused fetch is counted (by the tally).
func (s *HotRoomShortcut) Refuse(roomID, client string, now time.Time) (time.Duration, bool) {
	if s == nil || s.tracked.Load() == 0 {
		return 0, false
	}
	wait, refused := s.refuse(roomID, client, now)
	if refused {
		s.tally.Add(roomID)
	}
	return wait, refused
}

func (s *HotRoomShortcut) refuse(roomID, client string, now time.Time) (time.Duration, bool) {
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
		if r != nil {
			delete(s.rooms, roomID)
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

// Run forgets, every shortcutPruneEvery until ctx ends, the clients whose
// state no longer matters and the rooms no longer read hot.
func (s *HotRoomShortcut) Run(ctx context.Context) {
	if s == nil {
		return
	}
	tick := time.NewTicker(shortcutPruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.prune(now)
		}
	}
}

func (s *HotRoomShortcut) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.rooms {
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
