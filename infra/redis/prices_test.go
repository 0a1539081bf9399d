package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

// priceWaiters are a process's held price requests: the relay from the
// outcomes channel publishes into a push hub, and each waiter waits there.
type priceWaiters struct{ hub *push.Hub }

func (w priceWaiters) Watch(productID string) (<-chan struct{}, func()) {
	s := w.hub.Wait(productID)
	return s.Done(), s.Close
}

func (w priceWaiters) Waiting() int { return w.hub.Subscribers() }

func newPrices(t *testing.T) (*redis.Prices, priceWaiters) {
	t.Helper()
	rdb := testenv.Redis(t)
	p := redis.NewPrices(rdb, testenv.RedisPrefix(t))
	hub, err := push.NewHub(nil)
	testenv.Must(t, err, "hub")
	relay, err := redis.NewRelay(context.Background(), rdb, p.ReadyChannel(), hub, func(productID string) push.Message {
		return push.Message{Key: productID}
	})
	testenv.Must(t, err, "relay")
	t.Cleanup(func() { relay.Close() })
	return p, priceWaiters{hub}
}

func at(sec, ms int) string {
	return projections.FormatTime(time.Date(2026, 3, 1, 12, 0, sec, ms*int(time.Millisecond), time.UTC))
}

func summary(comparedAt string) []byte {
	return []byte(`{"productId":"p","lowest":null,"offers":[],"failedVendors":[],"comparedAt":"` + comparedAt + `","expiresAt":"x"}`)
}

func TestClaimIsSingleFlightUnderConcurrency(t *testing.T) {
	p, _ := newPrices(t)
	ctx := context.Background()
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			product := fmt.Sprintf("p%d", i%8)
			c, err := p.Claim(ctx, product, fmt.Sprintf("c%d", i), 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if c.Claimed {
				mu.Lock()
				claimed[product]++
				mu.Unlock()
			} else if c.BackingOff || c.Summary != nil || c.RetryAfter <= 0 || c.RetryAfter > 5*time.Second {
				t.Errorf("loser got %+v, want in flight with a remaining hold", c)
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 8 {
		t.Fatalf("claimed = %v, want each of 8 products claimed once", claimed)
	}
	for product, n := range claimed {
		if n != 1 {
			t.Fatalf("%s claimed %d times", product, n)
		}
	}
}

func TestPeekReportsWithoutClaiming(t *testing.T) {
	p, _ := newPrices(t)
	ctx := context.Background()
	for range 2 {
		if peek, err := p.Peek(ctx, "p"); err != nil || peek.Summary != nil || peek.Claimed || peek.BackingOff || peek.RetryAfter != 0 {
			t.Fatalf("peek on a miss = %+v, %v; want nothing claimed, nothing in flight", peek, err)
		}
	}
	c, err := p.Claim(ctx, "p", "c1", 5*time.Second)
	if err != nil || !c.Claimed {
		t.Fatalf("claim after peeks = %+v, %v; want it claimed (a peek takes no marker)", c, err)
	}
	peek, err := p.Peek(ctx, "p")
	if err != nil || peek.Claimed || peek.BackingOff || peek.RetryAfter <= 0 || peek.RetryAfter > 5*time.Second {
		t.Fatalf("peek while in flight = %+v, %v; want the remaining hold", peek, err)
	}
}

func TestCompletedComparisonIsCachedReleasesItsClaimAndWakesWaiters(t *testing.T) {
	p, hub := newPrices(t)
	ctx := context.Background()
	rdb := testenv.Redis(t)
	c, err := p.Claim(ctx, "p", "c1", 5*time.Second)
	testenv.Must(t, err, "claim")
	if !c.Claimed {
		t.Fatalf("claim = %+v", c)
	}
	var readies []<-chan struct{}
	for i := 0; i < 50; i++ {
		ready, stop := hub.Watch("p")
		defer stop()
		readies = append(readies, ready)
	}
	other, stopOther := hub.Watch("other")
	defer stopOther()
	if hub.Waiting() != 51 {
		t.Fatalf("waiting = %d", hub.Waiting())
	}

	// An outcome of another comparison does not release c1's claim.
	testenv.Must(t, p.SaveComparison(ctx, "p", "c0", summary(at(0, 0)), at(0, 0), -time.Second), "stale outcome")
	if v, _ := rdb.Get(ctx, p.SummaryKey("p")+":inflight").Result(); v != "c1" {
		t.Fatalf("inflight = %q after another comparison's outcome, want c1", v)
	}
	for _, r := range readies {
		<-r // the announcement wakes them anyway; they look and find no summary
	}
	readies = readies[:0]
	for i := 0; i < 3; i++ {
		ready, stop := hub.Watch("p")
		defer stop()
		readies = append(readies, ready)
	}

	body := summary(at(1, 0))
	testenv.Must(t, p.SaveComparison(ctx, "p", "c1", body, at(1, 0), 3*time.Second), "save")
	for i, r := range readies {
		select {
		case <-r:
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d not woken", i)
		}
	}
	select {
	case <-other:
		t.Fatal("a waiter for another product was woken")
	default:
	}
	if hub.Waiting() != 1 {
		t.Fatalf("waiting = %d, want 1 (the other product)", hub.Waiting())
	}
	got, err := p.Summary(ctx, "p")
	testenv.Must(t, err, "summary")
	if string(got) != string(body) {
		t.Fatalf("summary = %s", got)
	}
	if ttl := rdb.PTTL(ctx, p.SummaryKey("p")).Val(); ttl <= 2*time.Second || ttl > 3*time.Second {
		t.Fatalf("summary PTTL = %s, want about 3s", ttl)
	}
	if n := rdb.Exists(ctx, p.SummaryKey("p")+":inflight").Val(); n != 0 {
		t.Fatal("inflight marker not released")
	}
	// A hit from the claim path too, with nothing claimed.
	c, err = p.Claim(ctx, "p", "c2", 5*time.Second)
	testenv.Must(t, err, "claim")
	if string(c.Summary) != string(body) || c.Claimed {
		t.Fatalf("claim after save = %+v", c)
	}
}

func TestSaveComparisonKeepsTheNewestAndSkipsExpired(t *testing.T) {
	p, _ := newPrices(t)
	ctx := context.Background()
	newer, older := summary(at(5, 1)), summary(at(5, 0))
	testenv.Must(t, p.SaveComparison(ctx, "p", "c2", newer, at(5, 1), time.Minute), "newer")
	testenv.Must(t, p.SaveComparison(ctx, "p", "c1", older, at(5, 0), time.Minute), "older arrives late")
	testenv.Must(t, p.SaveComparison(ctx, "p", "c2", newer, at(5, 1), 2*time.Minute), "duplicate")
	got, _ := p.Summary(ctx, "p")
	if string(got) != string(newer) {
		t.Fatalf("summary = %s, want the newer one", got)
	}
	if ttl := testenv.Redis(t).PTTL(ctx, p.SummaryKey("p")).Val(); ttl > time.Minute {
		t.Fatalf("a duplicate extended the lifetime to %s", ttl)
	}
	// Times of different widths around a second boundary compare correctly.
	testenv.Must(t, p.SaveComparison(ctx, "q", "c1", summary(at(9, 999)), at(9, 999), time.Minute), "q1")
	testenv.Must(t, p.SaveComparison(ctx, "q", "c2", summary(at(10, 0)), at(10, 0), time.Minute), "q2")
	if got, _ := p.Summary(ctx, "q"); string(got) != string(summary(at(10, 0))) {
		t.Fatalf("q summary = %s", got)
	}
	// Already expired: nothing cached.
	testenv.Must(t, p.SaveComparison(ctx, "gone", "c1", summary(at(1, 0)), at(1, 0), 0), "expired")
	if got, _ := p.Summary(ctx, "gone"); got != nil {
		t.Fatalf("expired comparison cached: %s", got)
	}
}

func TestFailureBacksOffThenAllowsANewClaim(t *testing.T) {
	p, _ := newPrices(t)
	ctx := context.Background()
	c, _ := p.Claim(ctx, "p", "c1", 5*time.Second)
	if !c.Claimed {
		t.Fatalf("claim = %+v", c)
	}
	testenv.Must(t, p.SaveFailure(ctx, "p", "c1", at(1, 0), 400*time.Millisecond), "fail")
	c, err := p.Claim(ctx, "p", "c2", 5*time.Second)
	testenv.Must(t, err, "claim")
	if !c.BackingOff || c.Claimed || c.RetryAfter <= 0 || c.RetryAfter > 400*time.Millisecond {
		t.Fatalf("claim during back-off = %+v", c)
	}
	if peek, _ := p.Peek(ctx, "p"); !peek.BackingOff {
		t.Fatalf("peek = %+v", peek)
	}
	time.Sleep(450 * time.Millisecond)
	c, _ = p.Claim(ctx, "p", "c3", 5*time.Second)
	if !c.Claimed {
		t.Fatalf("claim after back-off = %+v", c)
	}
	// A completed comparison newer than a failure lifts the back-off; an
	// older failure never hides a newer price.
	testenv.Must(t, p.SaveFailure(ctx, "p", "c3", at(2, 0), time.Minute), "fail again")
	testenv.Must(t, p.SaveComparison(ctx, "p", "c4", summary(at(3, 0)), at(3, 0), time.Minute), "complete")
	if n := testenv.Redis(t).Exists(ctx, p.SummaryKey("p")+":failed").Val(); n != 0 {
		t.Fatal("failure marker kept after a newer completed comparison")
	}
	testenv.Must(t, p.SaveFailure(ctx, "p", "c0", at(2, 500), time.Minute), "older failure")
	if n := testenv.Redis(t).Exists(ctx, p.SummaryKey("p")+":failed").Val(); n != 0 {
		t.Fatal("an older failure was marked over a newer price")
	}
	testenv.Must(t, p.SaveFailure(ctx, "z", "c0", at(2, 500), 0), "expired failure")
	if n := testenv.Redis(t).Exists(ctx, p.SummaryKey("z")+":failed").Val(); n != 0 {
		t.Fatal("an expired back-off was marked")
	}
}

func TestReleaseDropsOnlyItsOwnClaim(t *testing.T) {
	p, _ := newPrices(t)
	ctx := context.Background()
	p.Claim(ctx, "p", "mine", 5*time.Second) //nolint:errcheck
	testenv.Must(t, p.Release(ctx, "p", "someone-else"), "release other")
	if c, _ := p.Claim(ctx, "p", "x", 5*time.Second); c.Claimed {
		t.Fatal("someone else's release freed my claim")
	}
	testenv.Must(t, p.Release(ctx, "p", "mine"), "release")
	if c, _ := p.Claim(ctx, "p", "x", 5*time.Second); !c.Claimed {
		t.Fatal("claim not free after release")
	}
}
