package handlers_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/internal/testenv"
)

type priceFixture struct {
	db      *sql.DB
	store   *postgres.EventStore
	handler handlers.RequestPriceComparisonHandler
	calls   map[string]*atomic.Int32
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newPriceFixture runs the handler on a real event store against real HTTP
// vendors on 127.0.0.1, each answering body (404 when body is "").
func newPriceFixture(t *testing.T, answers map[string]string) priceFixture {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, testenv.Database(t), 8)
	testenv.Must(t, err, "open")
	t.Cleanup(func() { db.Close() })
	testenv.Must(t, postgres.Migrate(ctx, db), "migrate")
	outbox, err := postgres.NewOutbox(postgres.OutboxConfig{Shards: 2}, watermill.NopLogger{})
	testenv.Must(t, err, "outbox")
	testenv.Must(t, outbox.InitTables(ctx, db), "outbox tables")
	store := testenv.EventStore(t, db, outbox, "prices.events", price.EventTypes()...)

	f := priceFixture{db: db, store: store, calls: map[string]*atomic.Int32{}}
	var vs []vendors.Vendor
	for name, body := range answers {
		n := &atomic.Int32{}
		f.calls[name] = n
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if body == "" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body)) //nolint:errcheck
		}))
		t.Cleanup(srv.Close)
		vs = append(vs, vendors.Vendor{Name: name, URL: srv.URL + "/{productId}"})
	}
	client, err := vendors.New(vs, time.Second, nil)
	testenv.Must(t, err, "vendors")
	f.handler = handlers.RequestPriceComparisonHandler{
		Comparisons: postgres.NewPriceComparisonRepository(store),
		Vendors:     client,
		TTL:         5 * time.Minute,
		Clock:       func() time.Time { return now },
		Logger:      slog.New(slog.DiscardHandler),
	}
	return f
}

func (f priceFixture) events(t *testing.T) []string {
	t.Helper()
	rows, err := f.db.Query(`SELECT stream_id || ' ' || event_type FROM events ORDER BY position`)
	testenv.Must(t, err, "query")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s), "scan")
		out = append(out, s)
	}
	return out
}

func TestComparisonIsRecordedOnceAndARedeliveryAsksNobody(t *testing.T) {
	f := newPriceFixture(t, map[string]string{
		"a": `{"price":120,"currency":"USD"}`,
		"b": `{"price":99.5,"currency":"USD"}`,
		"c": "", // no offer
		"d": `{"price":-1,"currency":"USD"}`,
	})
	ctx := context.Background()
	cmd := &price.RequestPriceComparison{ProductID: "sku-1", ComparisonID: "c1"}
	testenv.Must(t, f.handler.Handle(ctx, cmd), "handle")
	testenv.Must(t, f.handler.Handle(ctx, cmd), "redelivered")

	if got := f.events(t); len(got) != 1 || got[0] != "pricecomparison/sku-1/c1 price.comparison_completed.v1" {
		t.Fatalf("events = %v", got)
	}
	for name, n := range f.calls {
		if n.Load() != 1 {
			t.Fatalf("vendor %s called %d times, want 1 (a redelivery asks nobody)", name, n.Load())
		}
	}
	history, err := f.store.Load(ctx, "pricecomparison/sku-1/c1")
	testenv.Must(t, err, "load")
	e := history[0].(price.PriceComparisonCompleted)
	if len(e.Offers) != 2 || e.Offers[0] != (price.Offer{Vendor: "b", Price: 99.5, Currency: "USD"}) || e.Offers[1] != (price.Offer{Vendor: "a", Price: 120, Currency: "USD"}) {
		t.Fatalf("offers = %+v", e.Offers)
	}
	if len(e.FailedVendors) != 1 || e.FailedVendors[0] != "d" || !e.ComparedAt.Equal(now) || !e.ExpiresAt.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("event = %+v", e)
	}
}

func TestConcurrentDeliveriesRecordOneOutcome(t *testing.T) {
	f := newPriceFixture(t, map[string]string{"a": `{"price":1,"currency":"EUR"}`})
	cmd := &price.RequestPriceComparison{ProductID: "p", ComparisonID: "c1"}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.handler.Handle(context.Background(), cmd)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		testenv.Must(t, err, "a delivery failed")
	}
	if got := f.events(t); len(got) != 1 {
		t.Fatalf("events = %v, want one outcome", got)
	}
}

func TestNoVendorAnsweringRecordsFailed(t *testing.T) {
	f := newPriceFixture(t, map[string]string{"a": `garbage`, "b": `{"price":5}`})
	testenv.Must(t, f.handler.Handle(context.Background(), &price.RequestPriceComparison{ProductID: "p", ComparisonID: "c1"}), "handle")
	if got := f.events(t); len(got) != 1 || got[0] != "pricecomparison/p/c1 price.comparison_failed.v1" {
		t.Fatalf("events = %v", got)
	}
}

func TestShutdownMidComparisonRecordsNothing(t *testing.T) {
	f := newPriceFixture(t, map[string]string{"a": `{"price":1,"currency":"EUR"}`})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.handler.Handle(ctx, &price.RequestPriceComparison{ProductID: "p", ComparisonID: "c1"}); err == nil {
		t.Fatal("a cancelled comparison reported success")
	}
	if got := f.events(t); len(got) != 0 {
		t.Fatalf("events = %v, want none (the command is redelivered, not failed)", got)
	}
}

func TestInvalidCommandIsPermanent(t *testing.T) {
	f := newPriceFixture(t, map[string]string{"a": `{"price":1,"currency":"EUR"}`})
	err := f.handler.Handle(context.Background(), &price.RequestPriceComparison{ProductID: "bad id", ComparisonID: "c1"})
	if domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("err = %v, want KindInvalid (poisoned at once)", err)
	}
	if f.calls["a"].Load() != 0 || len(f.events(t)) != 0 {
		t.Fatal("an invalid command asked a vendor or recorded something")
	}
}
