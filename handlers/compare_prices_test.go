package handlers_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/projections"
)

// fakePriceCache is the price read model and its single-flight marker.
type fakePriceCache struct {
	mu        sync.Mutex
	summary   []byte
	inflight  string        // the comparison holding the marker
	backoff   time.Duration // the last comparison failed: this much back-off left
	released  []string
	summaries int
}

func (c *fakePriceCache) Summary(context.Context, string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.summaries++
	return c.summary, nil
}

func (c *fakePriceCache) Claim(_ context.Context, _, id string, _ time.Duration) (projections.PriceClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.summary != nil:
		return projections.PriceClaim{Summary: c.summary}, nil
	case c.backoff > 0:
		return projections.PriceClaim{BackingOff: true, RetryAfter: c.backoff}, nil
	case c.inflight != "":
		return projections.PriceClaim{RetryAfter: time.Second}, nil
	}
	c.inflight = id
	return projections.PriceClaim{Claimed: true}, nil
}

func (c *fakePriceCache) Peek(context.Context, string) (projections.PriceClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.summary != nil {
		return projections.PriceClaim{Summary: c.summary}, nil
	}
	return projections.PriceClaim{BackingOff: c.backoff > 0, RetryAfter: c.backoff}, nil
}

func (c *fakePriceCache) Release(_ context.Context, _, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = append(c.released, id)
	if c.inflight == id {
		c.inflight = ""
	}
	return nil
}

// fakeWatcher wakes the held request when told.
type fakeWatcher struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func (w *fakeWatcher) Wait(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	w.waiting[id] = ch
	return ch, func() {}
}

func (w *fakeWatcher) announce(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.waiting[id])
}

func newCompare() (handlers.ComparePricesHandler, *fakePriceCache, *fakeBus, *fakeWatcher) {
	cache, bus, watcher := &fakePriceCache{}, &fakeBus{}, &fakeWatcher{waiting: map[string]chan struct{}{}}
	return handlers.ComparePricesHandler{Cache: cache, Watcher: watcher, Commands: bus, Hold: time.Minute, RetryAfter: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}, cache, bus, watcher
}

func TestCompareHitIsOneReadAndSendsNothing(t *testing.T) {
	h, cache, bus, _ := newCompare()
	cache.summary = []byte(`{"productId":"p1"}`)
	a, err := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1"})
	if err != nil || string(a.Summary) != `{"productId":"p1"}` || len(bus.sent) != 0 || cache.summaries != 1 {
		t.Fatalf("answer %+v err %v sent %v reads %d", a, err, bus.sent, cache.summaries)
	}
}

// A miss claims the product and sends one command; the next miss, while
// the first is in flight, sends nothing.
func TestCompareMissSendsOneCommandPerProduct(t *testing.T) {
	h, _, bus, _ := newCompare()
	first, err := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1"})
	if err != nil || first.Summary != nil || first.RetryAfter != 2*time.Second || first.LastFailed {
		t.Fatalf("first miss: %+v %v", first, err)
	}
	second, err := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1"})
	if err != nil || second.Summary != nil {
		t.Fatalf("second miss: %+v %v", second, err)
	}
	if len(bus.sent) != 1 {
		t.Fatalf("sent %v, want one RequestPriceComparison", bus.sent)
	}
	cmd := bus.sent[0].(price.RequestPriceComparison)
	if cmd.ProductID != "p1" || cmd.ComparisonID == "" {
		t.Fatalf("command %+v", cmd)
	}
}

// A command that could not be stored frees the product for the next miss.
func TestCompareReleasesTheClaimWhenTheCommandIsNotStored(t *testing.T) {
	h, cache, bus, _ := newCompare()
	bus.err = errors.New("kafka down")
	if _, err := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1"}); err == nil {
		t.Fatal("no error when the command was not stored")
	}
	if len(cache.released) != 1 || cache.inflight != "" {
		t.Fatalf("released %v, in flight %q", cache.released, cache.inflight)
	}
}

// A held request answers the outcome as soon as it is announced.
func TestCompareWaitAnswersTheOutcome(t *testing.T) {
	h, cache, _, watcher := newCompare()
	done := make(chan handlers.PriceAnswer)
	go func() {
		a, _ := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1", Wait: 10 * time.Second})
		done <- a
	}()
	for {
		watcher.mu.Lock()
		_, held := watcher.waiting["p1"]
		watcher.mu.Unlock()
		cache.mu.Lock()
		claimed := cache.inflight != ""
		cache.mu.Unlock()
		if held && claimed {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cache.mu.Lock()
	cache.summary = []byte(`{"productId":"p1","lowest":null}`)
	cache.mu.Unlock()
	t0 := time.Now()
	watcher.announce("p1")
	select {
	case a := <-done:
		if string(a.Summary) != `{"productId":"p1","lowest":null}` || time.Since(t0) > time.Second {
			t.Fatalf("answer %+v after %s", a, time.Since(t0))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held request was not answered when the outcome was announced")
	}
}

// After a failed comparison, misses wait out the back-off: nothing is sent.
func TestCompareBacksOffAfterAFailure(t *testing.T) {
	h, cache, bus, _ := newCompare()
	cache.backoff = 1500 * time.Millisecond
	a, err := h.Handle(context.Background(), handlers.ComparePrices{ProductID: "p1"})
	if err != nil || !a.LastFailed || a.RetryAfter != 1500*time.Millisecond || len(bus.sent) != 0 {
		t.Fatalf("answer %+v err %v sent %v", a, err, bus.sent)
	}
}

// A client that leaves while held gets the context's error, and nothing
// more is asked of the cache.
func TestCompareHeldRequestWhoseClientLeft(t *testing.T) {
	h, _, _, _ := newCompare()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Handle(ctx, handlers.ComparePrices{ProductID: "p1", Wait: 10 * time.Second}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
}
