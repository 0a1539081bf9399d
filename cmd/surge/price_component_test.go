package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/infra/vendors/vendorsim"
	surgeapp "github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/flows"
	"github.com/surge-platform/surge/internal/testenv"
)

// ---- helpers ----

type priceOffer struct {
	Vendor   string  `json:"vendor"`
	Price    float64 `json:"price"`
	Currency string  `json:"currency"`
}

type priceView struct {
	ProductID     string       `json:"productId"`
	Lowest        *priceOffer  `json:"lowest"`
	Offers        []priceOffer `json:"offers"`
	FailedVendors []string     `json:"failedVendors"`
	ComparedAt    time.Time    `json:"comparedAt"`
	ExpiresAt     time.Time    `json:"expiresAt"`
}

// view decodes a 200 body strictly: exactly the documented fields.
func (r response) view(t testing.TB) priceView {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("want 200, got %d %s", r.Status, r.Body)
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	var v priceView
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	var keys map[string]json.RawMessage
	json.Unmarshal(r.Body, &keys) //nolint:errcheck
	if len(keys) != 6 {
		t.Fatalf("body has fields %v, want productId lowest offers failedVendors comparedAt expiresAt", keys)
	}
	return v
}

func priceURL(product, query string) string {
	u := "/v1/products/" + product + "/price-comparison"
	if query != "" {
		u += "?" + query
	}
	return u
}

// priceCfg is a test configuration with the price flow's settings as
// fields, written into the settings by app().
type priceCfg struct {
	config.Config
	PriceVendors       []vendors.Vendor
	PriceVendorTimeout time.Duration
	PriceTTL           time.Duration
	PriceRetryBackoff  time.Duration
}

func (c priceCfg) app() config.Config {
	cfg := c.Config
	cfg.Source = c.Source.Clone()
	var vs []string
	for _, v := range c.PriceVendors {
		vs = append(vs, v.Name+"="+v.URL)
	}
	cfg.Set("SURGE_PRICE_VENDORS", strings.Join(vs, ","))
	cfg.Set("SURGE_PRICE_VENDOR_TIMEOUT", c.PriceVendorTimeout.String())
	cfg.Set("SURGE_PRICE_TTL", c.PriceTTL.String())
	cfg.Set("SURGE_PRICE_RETRY_BACKOFF", c.PriceRetryBackoff.String())
	return cfg
}

// priceConfig is a test configuration with vendors and short timings.
func priceConfig(t *testing.T, vs []vendors.Vendor) priceCfg {
	return priceCfg{Config: testenv.Config(t), PriceVendors: vs, PriceVendorTimeout: 700 * time.Millisecond, PriceTTL: 5 * time.Minute, PriceRetryBackoff: time.Second}
}

// startSim serves simulated vendors on 127.0.0.1 and returns their config.
func startSim(t *testing.T, cfg vendorsim.Config) (*vendorsim.Sim, []vendors.Vendor) {
	t.Helper()
	sim, err := vendorsim.New(cfg)
	testenv.Must(t, err, "sim")
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	var vs []vendors.Vendor
	for _, v := range sim.Vendors() {
		vs = append(vs, vendors.Vendor{Name: v, URL: srv.URL + "/vendors/" + v + "/products/{productId}"})
	}
	return sim, vs
}

// vendor is one scripted vendor: a real HTTP server on 127.0.0.1 whose
// answer can be changed while the test runs; it counts calls per product.
type vendor struct {
	name   string
	url    string
	mu     sync.Mutex
	answer http.HandlerFunc
	calls  map[string]int
}

func newVendor(t *testing.T, name string, answer http.HandlerFunc) *vendor {
	t.Helper()
	v := &vendor{name: name, answer: answer, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /p/{productId}", func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.calls[r.PathValue("productId")]++
		fn := v.answer
		v.mu.Unlock()
		fn(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	v.url = srv.URL + "/p/{productId}"
	return v
}

func (v *vendor) set(answer http.HandlerFunc) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.answer = answer
}

func (v *vendor) callsFor(product string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls[product]
}

func configOf(vs ...*vendor) []vendors.Vendor {
	var out []vendors.Vendor
	for _, v := range vs {
		out = append(out, vendors.Vendor{Name: v.name, URL: v.url})
	}
	return out
}

func offerAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body)) //nolint:errcheck
	}
}

func statusAnswer(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func slowAnswer(d time.Duration, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		offerAnswer(body)(w, r)
	}
}

// priceEvents counts stored price events by type for a product.
func priceEvents(t *testing.T, app *testApp, product string) map[string]int {
	t.Helper()
	rows, err := app.DB().Query(`SELECT event_type, count(*) FROM events WHERE stream_id LIKE $1 GROUP BY event_type`, price.ProductKey(product)+"/%")
	testenv.Must(t, err, "count price events")
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var typ string
		var n int
		testenv.Must(t, rows.Scan(&typ, &n), "scan")
		out[typ] = n
	}
	return out
}

const (
	completedV1 = "price.comparison_completed.v1"
	failedV1    = "price.comparison_failed.v1"
)

// ---- acceptance ----

// Stampede: 3,000 concurrent requests over 50 products, spread over two API
// instances (the second runs the API role only), 3 vendors answering in
// 300 ms. Every request gets 200 or 202, every product is cached within a
// few seconds, each vendor is called exactly once per product, and a second
// burst is answered from the cache alone.
func TestPriceStampedeAsksEachVendorOncePerProduct(t *testing.T) {
	sim, vendors := startSim(t, vendorsim.Config{Vendors: []string{"a", "b", "c"}, Latency: 300 * time.Millisecond, Currency: "KRW"})
	cfg := priceConfig(t, vendors)
	cfg.PriceVendorTimeout = 2 * time.Second
	app := startApp(t, cfg.app(), allRoles)
	apiOnly := startApp(t, cfg.app(), apiRole)
	instances := []*testApp{app, apiOnly}

	const requests, products = 3000, 50
	product := func(i int) string { return fmt.Sprintf("sku-%02d", i%products) }
	type result struct {
		status  int
		waited  bool
		product string
		body    []byte
		retry   string
		took    time.Duration
	}
	results := make([]result, requests)
	start := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			query := ""
			if i%2 == 1 {
				query = "wait=10s" // half of them hold until the result is ready
			}
			t0 := time.Now()
			res, err := instances[i%3%2].try("GET", priceURL(product(i), query), nil)
			if err != nil {
				res = response{Status: -1, Body: []byte(err.Error())} // reported by the test goroutine below
			}
			results[i] = result{status: res.Status, waited: query != "", product: product(i), body: res.Body, retry: res.Header.Get("Retry-After"), took: time.Since(t0)}
		}()
	}
	close(start)
	wg.Wait()
	burst := time.Since(began)

	tally := map[string]int{}
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			tally["200"]++
		case r.status == http.StatusAccepted && !r.waited && string(r.body) == `{"status":"pending"}` && r.retry == "2":
			tally["202"]++
		default:
			t.Fatalf("request for %s (wait=%v): %d %s Retry-After=%q", r.product, r.waited, r.status, r.body, r.retry)
		}
	}
	if tally["200"]+tally["202"] != requests || tally["200"] < requests/2 {
		t.Fatalf("tally = %v: every waiting request must get 200, the rest 200 or 202", tally)
	}

	// Every product is cached within a few seconds.
	testenv.Eventually(t, 10*time.Second, "all 50 products cached", func() bool {
		for p := 0; p < products; p++ {
			if n, _ := app.Redis().Exists(context.Background(), redis.NewPrices(app.Redis(), cfg.RedisPrefix).SummaryKey(product(p))).Result(); n != 1 {
				return false
			}
		}
		return true
	})
	cachedAfter := time.Since(began)
	var firstCompared, lastCompared time.Time
	testenv.Must(t, app.DB().QueryRow(`SELECT min((payload->>'comparedAt')::timestamptz), max((payload->>'comparedAt')::timestamptz) FROM events WHERE event_type = $1`, completedV1).Scan(&firstCompared, &lastCompared), "compared at")
	var slowest202 time.Duration
	for _, r := range results {
		if r.status == http.StatusAccepted {
			slowest202 = max(slowest202, r.took)
		}
	}
	t.Logf("comparisons recorded %s..%s after the first request; slowest 202 took %s",
		firstCompared.Sub(began).Round(time.Millisecond), lastCompared.Sub(began).Round(time.Millisecond), slowest202.Round(time.Millisecond))
	t.Logf("burst of %d answered in %s (%v); all %d products cached %s after the first request", requests, burst.Round(time.Millisecond), tally, products, cachedAfter.Round(time.Millisecond))
	if cachedAfter > 10*time.Second {
		t.Fatalf("cached after %s", cachedAfter)
	}

	// Each vendor exactly once per product, and one outcome per product.
	stats := sim.Stats()
	if stats.Total != 3*products {
		t.Fatalf("vendor calls = %d, want %d", stats.Total, 3*products)
	}
	for _, v := range []string{"a", "b", "c"} {
		for p := 0; p < products; p++ {
			if n := stats.Vendors[v].Products[product(p)]; n != 1 {
				t.Fatalf("vendor %s was called %d times for %s, want 1", v, n, product(p))
			}
		}
	}
	var completedEvents, allPriceEvents int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FILTER (WHERE event_type = $1), count(*) FROM events WHERE stream_id LIKE 'pricecomparison/%'`, completedV1).Scan(&completedEvents, &allPriceEvents), "count")
	if completedEvents != products || allPriceEvents != products {
		t.Fatalf("completed=%d all=%d events, want %d comparisons", completedEvents, allPriceEvents, products)
	}

	// The answers are right: lowest of the three simulated prices.
	for _, r := range results {
		if r.status != http.StatusOK {
			continue
		}
		v := response{Status: r.status, Body: r.body}.view(t)
		checkSimView(t, v, r.product)
	}

	// A second burst is all hits: 200 everywhere, not one vendor call more.
	var hits atomic.Int32
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := instances[i%2].try("GET", priceURL(product(i), ""), nil); err == nil && res.Status == http.StatusOK {
				hits.Add(1)
			}
		}()
	}
	wg.Wait()
	if hits.Load() != 500 || sim.Stats().Total != 3*products {
		t.Fatalf("second burst: %d hits of 500, vendor calls %d", hits.Load(), sim.Stats().Total)
	}
	// No waiter is left behind on either instance.
	for _, inst := range instances {
		if n := inst.Subscribers(); n != 0 {
			t.Fatalf("%d waiters left registered", n)
		}
	}
}

func checkSimView(t *testing.T, v priceView, product string) {
	t.Helper()
	var want []priceOffer
	for _, vendor := range []string{"a", "b", "c"} {
		want = append(want, priceOffer{Vendor: vendor, Price: vendorsim.Price(vendor, product), Currency: "KRW"})
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].Price != want[j].Price {
			return want[i].Price < want[j].Price
		}
		return want[i].Vendor < want[j].Vendor
	})
	if v.ProductID != product || !reflect.DeepEqual(v.Offers, want) || v.Lowest == nil || *v.Lowest != want[0] || len(v.FailedVendors) != 0 {
		t.Fatalf("%s: view %+v, want offers %+v", product, v, want)
	}
}

// Correctness: the lowest offer and the offers list are what the vendors
// answered; a vendor without an offer (404) is neither an offer nor failed.
// The cached result lives exactly the configured TTL past comparedAt.
func TestPriceComparisonMatchesWhatVendorsAnswered(t *testing.T) {
	cheap := newVendor(t, "cheap", offerAnswer(`{"price": 99.99, "currency": "USD"}`))
	pricey := newVendor(t, "pricey", offerAnswer(`{"price": 120.5, "currency": "USD", "shipping": 3}`))
	none := newVendor(t, "none", statusAnswer(http.StatusNotFound))
	cfg := priceConfig(t, configOf(pricey, none, cheap))
	app := startApp(t, cfg.app(), allRoles)

	res := app.do(t, "GET", priceURL("SKU.1_x-y", "wait=5s"), nil)
	v := res.view(t)
	wantOffers := []priceOffer{{"cheap", 99.99, "USD"}, {"pricey", 120.5, "USD"}}
	if v.ProductID != "SKU.1_x-y" || *v.Lowest != wantOffers[0] || !reflect.DeepEqual(v.Offers, wantOffers) || len(v.FailedVendors) != 0 || v.FailedVendors == nil {
		t.Fatalf("view = %+v (%s)", v, res.Body)
	}
	if got := v.ExpiresAt.Sub(v.ComparedAt); got != cfg.PriceTTL {
		t.Fatalf("expiresAt - comparedAt = %s, want SURGE_PRICE_TTL %s", got, cfg.PriceTTL)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	// A hit is the same body, and asks nobody.
	again := app.do(t, "GET", priceURL("SKU.1_x-y", ""), nil)
	if again.Status != http.StatusOK || string(again.Body) != string(res.Body) {
		t.Fatalf("hit = %d %s", again.Status, again.Body)
	}
	for _, vd := range []*vendor{cheap, pricey, none} {
		if n := vd.callsFor("SKU.1_x-y"); n != 1 {
			t.Fatalf("vendor %s called %d times", vd.name, n)
		}
	}
	if ev := priceEvents(t, app, "SKU.1_x-y"); !reflect.DeepEqual(ev, map[string]int{completedV1: 1}) {
		t.Fatalf("events = %v", ev)
	}
	// Nobody offers it: a completed comparison, cached, lowest null.
	cheap.set(statusAnswer(http.StatusNotFound))
	pricey.set(statusAnswer(http.StatusNotFound))
	rare := app.do(t, "GET", priceURL("rare", "wait=5s"), nil).view(t)
	if rare.Lowest != nil || len(rare.Offers) != 0 || rare.Offers == nil || len(rare.FailedVendors) != 0 {
		t.Fatalf("rare = %+v", rare)
	}

	// A lost Redis is rebuilt from the event store, with what is left of the lifetime.
	ctx := context.Background()
	keys, err := app.Redis().Keys(ctx, cfg.RedisPrefix+"price:*").Result()
	testenv.Must(t, err, "keys")
	testenv.Must(t, app.Redis().Del(ctx, keys...).Err(), "lose redis")
	_, err = app.Rebuild(ctx)
	testenv.Must(t, err, "rebuild")
	if rebuilt := app.do(t, "GET", priceURL("SKU.1_x-y", ""), nil); rebuilt.Status != http.StatusOK || string(rebuilt.Body) != string(res.Body) {
		t.Fatalf("after rebuild: %d %s", rebuilt.Status, rebuilt.Body)
	}
	ttl := app.Redis().PTTL(ctx, redis.NewPrices(app.Redis(), cfg.RedisPrefix).SummaryKey("SKU.1_x-y")).Val()
	if left := time.Until(v.ExpiresAt); ttl > left+time.Second || ttl < left-5*time.Second {
		t.Fatalf("rebuilt PTTL %s, want about %s (what is left of the guarantee)", ttl, left)
	}
}

// Partial failure: a failing vendor (500), a slow one (no answer within the
// timeout) and garbage answers are named as failed; the others' offers
// stand, and the slow one does not hold the comparison up past the timeout.
func TestPricePartialFailureNamesTheFailedVendors(t *testing.T) {
	ok := newVendor(t, "ok", offerAnswer(`{"price": 5000, "currency": "KRW"}`))
	broken := newVendor(t, "broken", statusAnswer(http.StatusInternalServerError))
	slow := newVendor(t, "slow", slowAnswer(5*time.Second, `{"price": 1, "currency": "KRW"}`))
	notJSON := newVendor(t, "notjson", offerAnswer(`<html>price: 1</html>`))
	negative := newVendor(t, "negative", offerAnswer(`{"price": -100, "currency": "KRW"}`))
	noCurrency := newVendor(t, "nocurrency", offerAnswer(`{"price": 100}`))
	cfg := priceConfig(t, configOf(ok, broken, slow, notJSON, negative, noCurrency))
	app := startApp(t, cfg.app(), allRoles)

	began := time.Now()
	v := app.do(t, "GET", priceURL("sku-1", "wait=8s"), nil).view(t)
	took := time.Since(began)
	want := []priceOffer{{"ok", 5000, "KRW"}}
	if !reflect.DeepEqual(v.Offers, want) || *v.Lowest != want[0] ||
		!reflect.DeepEqual(v.FailedVendors, []string{"broken", "negative", "nocurrency", "notjson", "slow"}) {
		t.Fatalf("view = %+v", v)
	}
	if took > cfg.PriceVendorTimeout+3*time.Second {
		t.Fatalf("comparison took %s: the slow vendor held it up (timeout %s)", took, cfg.PriceVendorTimeout)
	}
	for _, vd := range []*vendor{ok, broken, slow, notJSON, negative, noCurrency} {
		if n := vd.callsFor("sku-1"); n != 1 {
			t.Fatalf("vendor %s called %d times, want 1", vd.name, n)
		}
	}
	if ev := priceEvents(t, app, "sku-1"); !reflect.DeepEqual(ev, map[string]int{completedV1: 1}) {
		t.Fatalf("events = %v", ev)
	}
	t.Logf("comparison with a 5s vendor and a %s timeout answered in %s", cfg.PriceVendorTimeout, took.Round(time.Millisecond))
}

// All failing: no cached price, PriceComparisonFailed recorded, a waiting
// request learns it at once, requests during the back-off send nothing, and
// the first request after it asks the vendors again.
func TestPriceAllVendorsFailingBacksOffThenRetries(t *testing.T) {
	a := newVendor(t, "a", statusAnswer(http.StatusInternalServerError))
	b := newVendor(t, "b", slowAnswer(5*time.Second, `{"price":1,"currency":"EUR"}`))
	cfg := priceConfig(t, configOf(a, b))
	cfg.PriceRetryBackoff = 1500 * time.Millisecond
	app := startApp(t, cfg.app(), allRoles)
	ctx := context.Background()
	prices := redis.NewPrices(app.Redis(), cfg.RedisPrefix)

	began := time.Now()
	res := app.do(t, "GET", priceURL("p1", "wait=8s"), nil)
	if res.Status != http.StatusAccepted || string(res.Body) != `{"lastComparison":"failed","status":"pending"}` || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("all failing: %d %s Retry-After=%q", res.Status, res.Body, res.Header.Get("Retry-After"))
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("the waiting request was answered after %s, not when the failure was recorded", took)
	}
	if ev := priceEvents(t, app, "p1"); !reflect.DeepEqual(ev, map[string]int{failedV1: 1}) {
		t.Fatalf("events = %v", ev)
	}
	var failedVendors string
	testenv.Must(t, app.DB().QueryRow(`SELECT payload->>'failedVendors' FROM events WHERE event_type = $1`, failedV1).Scan(&failedVendors), "payload")
	if failedVendors != `["a", "b"]` {
		t.Fatalf("failedVendors = %s", failedVendors)
	}
	if n := app.Redis().Exists(ctx, prices.SummaryKey("p1")).Val(); n != 0 {
		t.Fatal("a failed comparison was cached as a price")
	}
	// During the back-off: 202 at once, nothing sent.
	for i := 0; i < 5; i++ {
		res := app.do(t, "GET", priceURL("p1", "wait=2s"), nil)
		if res.Status != http.StatusAccepted || !strings.Contains(string(res.Body), `"lastComparison":"failed"`) {
			t.Fatalf("during back-off: %d %s", res.Status, res.Body)
		}
	}
	if a.callsFor("p1") != 1 || b.callsFor("p1") != 1 {
		t.Fatalf("vendors asked again during the back-off: a=%d b=%d", a.callsFor("p1"), b.callsFor("p1"))
	}
	// The vendors recover; after the back-off the next request asks again.
	a.set(offerAnswer(`{"price": 12.5, "currency": "EUR"}`))
	b.set(statusAnswer(http.StatusNotFound))
	testenv.Eventually(t, 5*time.Second, "back-off over", func() bool {
		c, err := prices.Peek(ctx, "p1")
		return err == nil && !c.BackingOff
	})
	v := app.do(t, "GET", priceURL("p1", "wait=5s"), nil).view(t)
	if !reflect.DeepEqual(v.Offers, []priceOffer{{"a", 12.5, "EUR"}}) || len(v.FailedVendors) != 0 {
		t.Fatalf("after recovery: %+v", v)
	}
	if a.callsFor("p1") != 2 || b.callsFor("p1") != 2 {
		t.Fatalf("calls a=%d b=%d, want 2 each", a.callsFor("p1"), b.callsFor("p1"))
	}
	if ev := priceEvents(t, app, "p1"); !reflect.DeepEqual(ev, map[string]int{failedV1: 1, completedV1: 1}) {
		t.Fatalf("events = %v", ev)
	}
}

// Lifetime: after SURGE_PRICE_TTL the entry is gone, the next request is a
// miss and the vendors are asked again.
func TestPriceEntryExpiresAfterTheTTL(t *testing.T) {
	a := newVendor(t, "a", offerAnswer(`{"price": 10, "currency": "USD"}`))
	cfg := priceConfig(t, configOf(a))
	cfg.PriceTTL = 1500 * time.Millisecond
	app := startApp(t, cfg.app(), allRoles)
	ctx := context.Background()
	key := redis.NewPrices(app.Redis(), cfg.RedisPrefix).SummaryKey("p")

	first := app.do(t, "GET", priceURL("p", "wait=5s"), nil).view(t)
	if ttl := app.Redis().PTTL(ctx, key).Val(); ttl <= 0 || ttl > cfg.PriceTTL {
		t.Fatalf("PTTL = %s, want within SURGE_PRICE_TTL %s", ttl, cfg.PriceTTL)
	}
	time.Sleep(time.Until(first.ExpiresAt) + 100*time.Millisecond)
	if n := app.Redis().Exists(ctx, key).Val(); n != 0 {
		t.Fatal("entry still cached after its lifetime")
	}
	if res := app.do(t, "GET", priceURL("p", ""), nil); res.Status != http.StatusAccepted {
		t.Fatalf("after expiry: %d %s, want a miss", res.Status, res.Body)
	}
	second := app.do(t, "GET", priceURL("p", "wait=5s"), nil).view(t)
	if !second.ComparedAt.After(first.ComparedAt) || a.callsFor("p") != 2 {
		t.Fatalf("second comparison at %s (first %s), vendor calls %d, want 2", second.ComparedAt, first.ComparedAt, a.callsFor("p"))
	}
	if ev := priceEvents(t, app, "p"); ev[completedV1] != 2 {
		t.Fatalf("events = %v", ev)
	}
}

// Bad product ids and bad waits get 400 JSON errors and write nothing:
// no event, no Redis key, no Kafka message.
func TestPriceBadInputGetsAClearErrorAndWritesNothing(t *testing.T) {
	a := newVendor(t, "a", offerAnswer(`{"price": 10, "currency": "USD"}`))
	cfg := priceConfig(t, configOf(a))
	app := startApp(t, cfg.app(), allRoles)
	before := snapshot(t, app, cfg.RedisPrefix)

	cases := []struct {
		name, path string
		status     int
		code       string
	}{
		{"id too long", priceURL(strings.Repeat("x", 65), ""), 400, "invalid_product_id"},
		{"id with a space", priceURL("a%20b", ""), 400, "invalid_product_id"},
		{"id with a non-ASCII letter", priceURL("%C3%BC", ""), 400, "invalid_product_id"},
		{"id with a colon", priceURL("a:b", ""), 400, "invalid_product_id"},
		{"id with braces", priceURL("%7Bx%7D", ""), 400, "invalid_product_id"},
		{"id with a NUL", priceURL("a%00", ""), 400, "invalid_product_id"},
		{"bad id beats bad wait", priceURL("a%20b", "wait=nope"), 400, "invalid_product_id"},
		{"id with a slash", priceURL("a%2Fb", ""), 404, "route_not_found"},
		{"empty id", priceURL("", ""), 400, "invalid_product_id"},
		{"wait not a duration", priceURL("p", "wait=soon"), 400, "invalid_wait"},
		{"wait without a unit", priceURL("p", "wait=5"), 400, "invalid_wait"},
		{"wait negative", priceURL("p", "wait=-1s"), 400, "invalid_wait"},
		{"wait too long", priceURL("p", "wait=10s1ms"), 400, "invalid_wait"},
		{"wait an hour", priceURL("p", "wait=1h"), 400, "invalid_wait"},
		{"wait empty", priceURL("p", "wait="), 400, "invalid_wait"},
		{"wait twice", priceURL("p", "wait=1s&wait=2s"), 400, "invalid_wait"},
		{"unknown parameter", priceURL("p", "wait=1s&fresh=true"), 400, "unknown_parameter"},
		{"malformed query", priceURL("p", "wait=%zz"), 400, "invalid_query"},
		{"wrong method", priceURL("p", ""), 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.status == 405 {
				method = "POST"
			}
			app.do(t, method, tc.path, nil).requireError(t, tc.status, tc.code)
		})
	}
	if after := snapshot(t, app, cfg.RedisPrefix); after != before {
		t.Fatalf("bad requests wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if a.callsFor("p") != 0 {
		t.Fatal("a bad request reached a vendor")
	}
	// The boundaries are accepted: a 64-character id, wait=10s and wait=0s.
	if res := app.do(t, "GET", priceURL(strings.Repeat("x", 64), "wait=0s"), nil); res.Status != http.StatusAccepted {
		t.Fatalf("64-char id: %d %s", res.Status, res.Body)
	}
	if res := app.do(t, "GET", priceURL("p", "wait=10s"), nil); res.Status != http.StatusOK {
		t.Fatalf("wait=10s: %d %s", res.Status, res.Body)
	}
}

// A command that cannot be stored in Kafka answers 503 and frees the
// product, so the next request tries again instead of waiting for a
// comparison that will never come.
func TestPriceSendFailureAnswers503AndFreesTheProduct(t *testing.T) {
	a := newVendor(t, "a", offerAnswer(`{"price": 10, "currency": "USD"}`))
	cfg := priceConfig(t, configOf(a))
	app := startApp(t, cfg.app(), apiRole)
	testenv.Must(t, app.Publisher().Close(), "close the Kafka publisher")
	res := app.do(t, "GET", priceURL("p", ""), nil)
	if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "unavailable" {
		t.Fatalf("got %d %s, want 503 unavailable", res.Status, res.Body)
	}
	inflight := redis.NewPrices(app.Redis(), cfg.RedisPrefix).SummaryKey("p") + ":inflight"
	if n := app.Redis().Exists(context.Background(), inflight).Val(); n != 0 {
		t.Fatal("the in-flight marker of an unsent command was kept")
	}
}

// Configuration: vendors are name=URL with {productId}; durations are bounded.
func TestPriceConfigurationIsValidated(t *testing.T) {
	for i, bad := range []map[string]string{
		{"SURGE_PRICE_VENDORS": "a"},
		{"SURGE_PRICE_VENDORS": "a=http://127.0.0.1:1/no-placeholder"},
		{"SURGE_PRICE_VENDORS": "a b=http://127.0.0.1:1/{productId}"},
		{"SURGE_PRICE_VENDORS": "a=ftp://127.0.0.1/{productId}"},
		{"SURGE_PRICE_VENDORS": "a=http://127.0.0.1:1/{productId},a=http://127.0.0.1:2/{productId}"},
		{"SURGE_PRICE_VENDORS": ","},
		{"SURGE_PRICE_VENDOR_TIMEOUT": "0s"},
		{"SURGE_PRICE_VENDOR_TIMEOUT": "2m"},
		{"SURGE_PRICE_TTL": "-5m"},
		{"SURGE_PRICE_TTL": "forever"},
		{"SURGE_PRICE_RETRY_BACKOFF": "2h"},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if _, err := surgeapp.LoadConfig(config.Source(bad)); err == nil {
				t.Errorf("%v accepted", bad)
			}
		})
	}
	// Every error of every section at once, each naming its variable.
	_, err := surgeapp.LoadConfig(config.Source{"SURGE_PRICE_TTL": "forever", "SURGE_RESEND_GRACE": "x", "SURGE_OUTBOX_SHARDS": "0"})
	for _, name := range []string{"SURGE_PRICE_TTL", "SURGE_RESEND_GRACE", "SURGE_OUTBOX_SHARDS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("the error %v does not name %s", err, name)
		}
	}
	m := &flows.Prices{}
	r := config.NewReader(config.Source{
		"SURGE_PRICE_VENDORS": " a=http://127.0.0.1:9300/vendors/a/products/{productId} , b=https://b.example/p/{productId}?x=1",
		"SURGE_PRICE_TTL":     "10m",
	})
	m.Configure(r)
	testenv.Must(t, r.Err(), "load")
	want := []vendors.Vendor{{Name: "a", URL: "http://127.0.0.1:9300/vendors/a/products/{productId}"}, {Name: "b", URL: "https://b.example/p/{productId}?x=1"}}
	if !reflect.DeepEqual(m.Vendors, want) || m.TTL != 10*time.Minute || m.VendorTimeout != 2*time.Second || m.RetryBackoff != 5*time.Second {
		t.Fatalf("config = %+v %s %s %s", m.Vendors, m.TTL, m.VendorTimeout, m.RetryBackoff)
	}
}
