package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

func completed(comparedAt time.Time, ttl time.Duration, offers ...price.Offer) price.PriceComparisonCompleted {
	return price.PriceComparisonCompleted{
		ComparisonID: "c-" + comparedAt.Format("150405.000"), ProductID: "sku-1",
		Offers: offers, FailedVendors: []string{"z"},
		ComparedAt: comparedAt, ExpiresAt: comparedAt.Add(ttl),
	}
}

func TestProjectionCachesTheViewForItsLifetimeAndIsIdempotent(t *testing.T) {
	rdb := testenv.Redis(t)
	store := redis.NewPrices(rdb, testenv.RedisPrefix(t))
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := projections.PriceComparisonProjection{Store: store, RetryBackoff: 5 * time.Second, Clock: func() time.Time { return clock }}
	ctx := context.Background()

	first := completed(clock.Add(-time.Second), time.Minute,
		price.Offer{Vendor: "b", Price: 9.5, Currency: "USD"}, price.Offer{Vendor: "a", Price: 12, Currency: "USD"})
	testenv.Must(t, p.OnPriceComparisonCompleted(ctx, &first), "apply")
	want := `{"productId":"sku-1","lowest":{"vendor":"b","price":9.5,"currency":"USD"},` +
		`"offers":[{"vendor":"b","price":9.5,"currency":"USD"},{"vendor":"a","price":12,"currency":"USD"}],` +
		`"failedVendors":["z"],"comparedAt":"2026-03-01T11:59:59.000Z","expiresAt":"2026-03-01T12:00:59.000Z"}`
	got, err := store.Summary(ctx, "sku-1")
	testenv.Must(t, err, "summary")
	if string(got) != want {
		t.Fatalf("view =\n%s\nwant\n%s", got, want)
	}
	// The lifetime is what is left of the vendors' guarantee, not a fresh TTL.
	if ttl := rdb.PTTL(ctx, store.SummaryKey("sku-1")).Val(); ttl > 59*time.Second || ttl < 58*time.Second {
		t.Fatalf("PTTL = %s, want expiresAt - now = 59s", ttl)
	}
	// Applied twice, and an older comparison applied late: nothing changes.
	testenv.Must(t, p.OnPriceComparisonCompleted(ctx, &first), "again")
	older := completed(clock.Add(-2*time.Second), time.Minute, price.Offer{Vendor: "a", Price: 1, Currency: "USD"})
	testenv.Must(t, p.OnPriceComparisonCompleted(ctx, &older), "older")
	if got, _ := store.Summary(ctx, "sku-1"); string(got) != want {
		t.Fatalf("view changed to %s", got)
	}
	// No offers at all: cached, lowest null.
	none := completed(clock, time.Minute)
	none.ProductID, none.FailedVendors = "rare", nil
	testenv.Must(t, apply(ctx, p, none), "none")
	if got, _ := store.Summary(ctx, "rare"); string(got) != `{"productId":"rare","lowest":null,"offers":[],"failedVendors":[],"comparedAt":"2026-03-01T12:00:00.000Z","expiresAt":"2026-03-01T12:01:00.000Z"}` {
		t.Fatalf("rare view = %s", got)
	}
	// A replayed comparison that has expired restores nothing.
	expired := completed(clock.Add(-10*time.Minute), 5*time.Minute, price.Offer{Vendor: "a", Price: 1, Currency: "USD"})
	expired.ProductID = "old"
	testenv.Must(t, apply(ctx, p, expired), "expired")
	if got, _ := store.Summary(ctx, "old"); got != nil {
		t.Fatalf("expired comparison cached: %s", got)
	}
}

func TestProjectionRemembersAFailureForTheBackOffOnly(t *testing.T) {
	rdb := testenv.Redis(t)
	store := redis.NewPrices(rdb, testenv.RedisPrefix(t))
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := projections.PriceComparisonProjection{Store: store, RetryBackoff: 5 * time.Second, Clock: func() time.Time { return clock }}
	ctx := context.Background()
	failed := price.PriceComparisonFailed{ComparisonID: "c1", ProductID: "p", FailedVendors: []string{"a"}, FailedAt: clock.Add(-time.Second)}
	testenv.Must(t, apply(ctx, p, failed), "apply")
	if got, _ := store.Summary(ctx, "p"); got != nil {
		t.Fatalf("a failure was cached as a price: %s", got)
	}
	claim, err := store.Peek(ctx, "p")
	testenv.Must(t, err, "peek")
	if !claim.BackingOff || claim.RetryAfter > 4*time.Second || claim.RetryAfter < 3*time.Second {
		t.Fatalf("claim = %+v, want a back-off of about 4s left", claim)
	}
	old := price.PriceComparisonFailed{ComparisonID: "c0", ProductID: "q", FailedAt: clock.Add(-time.Minute)}
	testenv.Must(t, apply(ctx, p, old), "old failure")
	if claim, _ := store.Peek(ctx, "q"); claim.BackingOff {
		t.Fatal("a failure older than the back-off was marked")
	}
}

// apply hands a stored event to the projection's method for it.
func apply(ctx context.Context, p projections.PriceComparisonProjection, e any) error {
	switch e := e.(type) {
	case price.PriceComparisonCompleted:
		return p.OnPriceComparisonCompleted(ctx, &e)
	case price.PriceComparisonFailed:
		return p.OnPriceComparisonFailed(ctx, &e)
	}
	panic(fmt.Sprintf("unexpected event %T", e))
}
