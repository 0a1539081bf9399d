package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/internal/testenv"
)

// The hot-room shortcut against the real limiter: two instances (two
// shortcuts) share one Redis limiter; three clients of a hot room fetch
// every 210 ms for 2 s, each alternating between the instances. Every
// fetch a shortcut refuses is asked of the limiter too (a refusal changes
// nothing in GCRA): it must refuse as well. The limiter lets exactly 3
// fetches of each client through (rate 1/s, burst 2: at 0 s, 0.21 s and
// 1.05 s), the shortcuts answer most refusals without Redis, and every
// refused fetch is counted in the room's counts.
func TestHotRoomShortcutRefusesOnlyWhatTheSharedLimiterRefuses(t *testing.T) {
	c, prefix := newChat(t)
	ctx := context.Background()
	testenv.Must(t, c.SaveRoom(ctx, chat.RoomCreated{RoomID: "r", Name: "R", CreatedAt: t0}), "room")
	tallies := []*handlers.FetchTally{handlers.NewFetchTally(c, nil), handlers.NewFetchTally(c, nil)} // one per instance
	instances := []*handlers.HotRoomShortcut{handlers.NewHotRoomShortcut(tallies[0], 1, 2), handlers.NewHotRoomShortcut(tallies[1], 1, 2)}
	for _, s := range instances {
		// In a storm hundreds of fetches a second read the room hot; three
		// clients do not, so the room stays hot here for the whole test.
		s.Fresh = time.Minute
	}
	// Every 210 ms, not 200: no fetch falls within the limiter's clock's
	// jitter of the moment it is let through again (1 s, 2 s).
	const clients, fetches, every = 3, 10, 210 * time.Millisecond

	// The counts rest on each client's first fetch reaching the limiter
	// within 50 ms of the start: the connections and the limiter's script
	// are made ready first, not by those fetches.
	var warm sync.WaitGroup
	for range clients { // at once: a connection each
		warm.Go(func() {
			if _, _, err := c.Throttle(ctx, "r", "warm-up", 1000, 1000); err != nil {
				t.Error(err)
			}
		})
	}
	warm.Wait()
	var mu sync.Mutex
	allowed, refusedHere, refusedShared := map[string]int{}, 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	for k := range clients {
		wg.Go(func() {
			client := fmt.Sprintf("client-%d", k)
			for i := range fetches {
				time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
				s := instances[(i+k)%2]
				asked := time.Now()
				wait, refused := s.Refuse("r", client, asked)
				ok, retry, err := c.Throttle(ctx, "r", client, 1, 2)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				switch {
				case refused && ok:
					t.Errorf("fetch %d of %s: refused here (wait %s) but the shared limiter let it through", i, client, wait)
				case refused:
					refusedHere++
					if wait > retry+50*time.Millisecond {
						t.Errorf("fetch %d of %s: told to wait %s, the limiter says %s", i, client, wait, retry)
					}
				case ok:
					allowed[client]++
				default:
					refusedShared++
				}
				mu.Unlock()
				if !refused {
					s.Observe("r", client, true, ok, retry, asked)
				}
			}
		})
	}
	wg.Wait()
	for k := range clients {
		if n := allowed[fmt.Sprintf("client-%d", k)]; n != 3 {
			t.Errorf("client-%d: the limiter let %d fetches through, want 3", k, n)
		}
	}
	// 7 refusals per client. Each instance learns the client's state from
	// the limiter's answers it saw itself: fetches 2 and 3 (one per
	// instance, which has seen only its own allowed fetch) and 6 (after
	// fetch 5 let through on the other instance) go to Redis; 4, 7, 8 and
	// 9 are refused here.
	if refusedHere != clients*4 || refusedShared != clients*3 {
		t.Fatalf("refused here %d, by the shared limiter %d: want %d and %d", refusedHere, refusedShared, clients*4, clients*3)
	}

	// Run counts the refusals in Redis (the detector's per-second counts)
	// and, when it stops, forgets what no longer matters.
	runCtx, stop := context.WithCancel(ctx)
	var runs sync.WaitGroup
	for i, s := range instances {
		s.Fresh = 100 * time.Millisecond
		runs.Go(func() { s.Run(runCtx) })
		runs.Go(func() { tallies[i].Run(runCtx) })
	}
	time.Sleep(2*handlers.FlushEvery + 2*time.Second) // every arrival time is past
	stop()
	runs.Wait()
	keys, err := testenv.Redis(t).Keys(ctx, prefix+"room:{r}:f:*").Result()
	testenv.Must(t, err, "keys")
	counted := 0
	for _, k := range keys {
		v, err := testenv.Redis(t).Get(ctx, k).Result()
		testenv.Must(t, err, "get %s", k)
		n, _ := strconv.Atoi(v)
		counted += n
		if ttl := testenv.Redis(t).TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("%s expires in %s, want within a minute", strings.TrimPrefix(k, prefix), ttl)
		}
	}
	if counted != refusedHere {
		t.Fatalf("%d fetches counted in Redis, want the %d refused without it", counted, refusedHere)
	}
	for i, s := range instances {
		if rooms, cl := s.Remembered(); rooms != 0 || cl != 0 {
			t.Errorf("instance %d still remembers %d rooms, %d clients", i, rooms, cl)
		}
	}
}

// A room that cooled is not throttled here: one fetch that reads it not
// hot, or Fresh without one that reads it hot, and the shortcut lets
// everything through to Redis.
func TestHotRoomShortcutLetsACooledRoomThrough(t *testing.T) {
	s := handlers.NewHotRoomShortcut(nil, 1, 1)
	now := time.Now()
	s.Observe("r", "a", true, true, 0, now)
	if _, refused := s.Refuse("r", "a", now.Add(10*time.Millisecond)); !refused {
		t.Fatal("the second fetch within a second of a burst of 1 was let through")
	}
	if _, refused := s.Refuse("r", "b", now.Add(10*time.Millisecond)); refused {
		t.Fatal("a client the limiter never saw was refused")
	}
	if _, refused := s.Refuse("r", "a", now.Add(300*time.Millisecond)); refused {
		t.Fatal("refused 300 ms after the room was last read hot")
	}
	s.Observe("r", "a", true, true, 0, now.Add(400*time.Millisecond))
	s.Observe("r", "z", false, true, 0, now.Add(410*time.Millisecond))
	if _, refused := s.Refuse("r", "a", now.Add(420*time.Millisecond)); refused {
		t.Fatal("refused after a fetch read the room not hot")
	}
	var off *handlers.HotRoomShortcut
	if handlers.NewHotRoomShortcut(nil, 0, 2) != off {
		t.Fatal("a rate of 0 (no throttling) made a shortcut")
	}
	if _, refused := off.Refuse("r", "a", now); refused {
		t.Fatal("no shortcut refused a fetch")
	}
}
