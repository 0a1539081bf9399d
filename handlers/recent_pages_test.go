package handlers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/projections"
)

// countsLog is a FetchCounter that remembers what it was told (and can
// refuse once).
type countsLog struct {
	mu     sync.Mutex
	counts map[string]int64
	fail   bool
}

func (c *countsLog) CountFetches(_ context.Context, roomID string, n int64, _ time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		c.fail = false
		return errors.New("redis down")
	}
	if c.counts == nil {
		c.counts = map[string]int64{}
	}
	c.counts[roomID] += n
	return nil
}

// timelineLog is a ChatTimeline that counts its round trips.
type timelineLog struct {
	page              projections.RoomPage
	fetches, throttle int
	allow             bool
}

func (l *timelineLog) Fetch(context.Context, string, int64, int) (projections.RoomPage, error) {
	l.fetches++
	return l.page, nil
}

func (l *timelineLog) Throttle(context.Context, string, string, float64, int) (bool, time.Duration, error) {
	l.throttle++
	return l.allow, time.Second, nil
}

// A storm's fetches of one page cost one Redis read per TTL; every fetch
// is still counted (the ones Redis read by Redis, the others by the tally),
// a room that runs hot still asks the shared limiter every time, and a
// page Redis does not hold whole is never kept.
func TestRecentPagesAnswerTheSameFetchWithinTheirTTL(t *testing.T) {
	ctx := context.Background()
	counts := &countsLog{}
	tally := NewFetchTally(counts, nil)
	page := projections.RoomPage{Known: true, Complete: true, Oldest: 1,
		Messages: []chat.MessageView{{MessageID: "m1", UserID: "ann", Text: "hi", Position: 1}}}
	timeline := &timelineLog{page: page}
	h := FetchMessagesHandler{Timeline: timeline, Rate: 1, Burst: 2, Pages: NewRecentPages(time.Hour, tally)}
	q := FetchMessages{RoomID: "lobby", After: 0, Limit: 10, Client: "a"}
	for i := range 10 {
		got, err := h.Handle(ctx, q)
		if err != nil || len(got.Messages) != 1 || got.Messages[0].MessageID != "m1" || got.Position != 1 {
			t.Fatalf("fetch %d: %+v, %v", i, got, err)
		}
	}
	if timeline.fetches != 1 {
		t.Fatalf("10 fetches of one page read Redis %d times, want 1", timeline.fetches)
	}
	if _, err := h.Handle(ctx, FetchMessages{RoomID: "lobby", After: 1, Limit: 10, Client: "a"}); err != nil {
		t.Fatal(err)
	}
	if timeline.fetches != 2 {
		t.Fatalf("another page (after 1) was not read from Redis: %d reads", timeline.fetches)
	}
	tally.flush(ctx, time.Now())
	if counts.counts["lobby"] != 9 {
		t.Fatalf("the tally counted %v, want the 9 fetches Redis did not read", counts.counts)
	}

	// Hot: the page may be recent, the limiter is asked every time.
	hot := page
	hot.Hot = true
	timeline2 := &timelineLog{page: hot, allow: false}
	h2 := FetchMessagesHandler{Timeline: timeline2, Rate: 1, Burst: 2, Pages: NewRecentPages(time.Hour, tally)}
	for range 3 {
		got, err := h2.Handle(ctx, FetchMessages{RoomID: "storm", Limit: 10, Client: "b"})
		if err != nil || !got.Throttled {
			t.Fatalf("a hot room's fetch over the rate: %+v, %v", got, err)
		}
	}
	if timeline2.fetches != 1 || timeline2.throttle != 3 {
		t.Fatalf("hot room: %d page reads and %d limiter calls, want 1 and 3", timeline2.fetches, timeline2.throttle)
	}

	// Expired, or not whole: read again.
	p := NewRecentPages(10*time.Millisecond, tally)
	now := time.Now()
	p.Put("r", 0, 10, page, now)
	if _, ok := p.Get("r", 0, 10, now.Add(5*time.Millisecond)); !ok {
		t.Fatal("a page 5 ms old was not kept for 10 ms")
	}
	if _, ok := p.Get("r", 0, 10, now.Add(10*time.Millisecond)); ok {
		t.Fatal("a page was served at its TTL")
	}
	partial := page
	partial.Complete = false
	p.Put("partial", 0, 10, partial, now)
	if _, ok := p.Get("partial", 0, 10, now); ok {
		t.Fatal("a page Redis does not hold whole (no data marker) was kept")
	}
	if NewRecentPages(0, tally) != nil {
		t.Fatal("a TTL of 0 kept pages")
	}
}

// The tally adds its counts to Redis, per room; a count Redis did not take
// is added at the next flush, not lost.
func TestFetchTallyKeepsWhatRedisDidNotTake(t *testing.T) {
	ctx := context.Background()
	counts := &countsLog{fail: true}
	tally := NewFetchTally(counts, nil)
	for range 3 {
		tally.Add("a")
	}
	tally.flush(ctx, time.Now()) // refused
	tally.Add("a")
	tally.Add("b")
	tally.flush(ctx, time.Now())
	if counts.counts["a"] != 4 || counts.counts["b"] != 1 || len(counts.counts) != 2 {
		t.Fatalf("counted %v, want a:4 b:1", counts.counts)
	}
	tally.flush(ctx, time.Now())
	if counts.counts["a"] != 4 {
		t.Fatalf("counted twice: %v", counts.counts)
	}
	var none *FetchTally
	none.Add("a") // no tally: nothing, and no panic
}
