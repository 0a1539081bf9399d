package vendors_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/infra/vendors/vendorsim"
)

// vendorServer is a real HTTP vendor on 127.0.0.1 answering with fn.
func vendorServer(t *testing.T, fn http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	return srv.URL + "/products/{productId}"
}

func answer(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		} else {
			w.Header()["Content-Type"] = nil // no header at all (net/http would sniff one)
		}
		w.WriteHeader(status)
		w.Write([]byte(body)) //nolint:errcheck
	}
}

func TestGarbageCountsAsThatVendorFailingNeverAsAPrice(t *testing.T) {
	cases := []struct {
		name   string
		fn     http.HandlerFunc
		status price.QuoteStatus
		price  float64
		reason string
	}{
		{"offer", answer(200, "application/json", `{"price": 12.5, "currency": "USD"}`), price.QuoteOffered, 12.5, ""},
		{"offer with extra fields", answer(200, "application/json; charset=utf-8", `{"price":3,"currency":"EUR","stock":4}`), price.QuoteOffered, 3, ""},
		{"offer without content type", answer(200, "", `{"price":3,"currency":"EUR"}`), price.QuoteOffered, 3, ""},
		{"no offer", answer(404, "text/plain", "not here"), price.QuoteNoOffer, 0, ""},
		{"server error", answer(500, "application/json", `{"price":1,"currency":"USD"}`), price.QuoteFailed, 0, "status 500"},
		{"unavailable", answer(503, "", ""), price.QuoteFailed, 0, "status 503"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, price.QuoteFailed, 0, "status 302"},
		{"not json", answer(200, "application/json", `<html>price: 5</html>`), price.QuoteFailed, 0, "not a JSON offer"},
		{"html content type", answer(200, "text/html", `{"price":1,"currency":"USD"}`), price.QuoteFailed, 0, "not JSON"},
		{"empty body", answer(200, "application/json", ``), price.QuoteFailed, 0, "not a JSON offer"},
		{"array", answer(200, "application/json", `[{"price":1,"currency":"USD"}]`), price.QuoteFailed, 0, "not a JSON offer"},
		{"null", answer(200, "application/json", `null`), price.QuoteFailed, 0, "no price"},
		{"two objects", answer(200, "application/json", `{"price":1,"currency":"USD"}{}`), price.QuoteFailed, 0, "data after"},
		{"truncated", answer(200, "application/json", `{"price":1,"curr`), price.QuoteFailed, 0, "not a JSON offer"},
		{"negative price", answer(200, "application/json", `{"price":-5,"currency":"USD"}`), price.QuoteFailed, 0, "invalid_price"},
		{"zero price", answer(200, "application/json", `{"price":0,"currency":"USD"}`), price.QuoteFailed, 0, "invalid_price"},
		{"price as string", answer(200, "application/json", `{"price":"5","currency":"USD"}`), price.QuoteFailed, 0, "not a number"},
		{"price null", answer(200, "application/json", `{"price":null,"currency":"USD"}`), price.QuoteFailed, 0, "no price"},
		{"price overflow", answer(200, "application/json", `{"price":1e400,"currency":"USD"}`), price.QuoteFailed, 0, "finite"},
		{"missing price", answer(200, "application/json", `{"currency":"USD"}`), price.QuoteFailed, 0, "no price"},
		{"missing currency", answer(200, "application/json", `{"price":5}`), price.QuoteFailed, 0, "no currency"},
		{"lowercase currency", answer(200, "application/json", `{"price":5,"currency":"usd"}`), price.QuoteFailed, 0, "invalid_currency"},
		{"numeric currency", answer(200, "application/json", `{"price":5,"currency":840}`), price.QuoteFailed, 0, "not a JSON offer"},
		{"duplicate price", answer(200, "application/json", `{"price":500,"currency":"USD","price":5}`), price.QuoteFailed, 0, `"price" twice`},
		{"duplicate currency", answer(200, "application/json", `{"price":5,"currency":"USD","currency":"KRW"}`), price.QuoteFailed, 0, `"currency" twice`},
		{"huge headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Pad", strings.Repeat("x", vendors.MaxHeaderBytes+1))
			answer(200, "application/json", `{"price":5,"currency":"USD"}`)(w, r)
		}, price.QuoteFailed, 0, "request failed"},
		{"huge body", answer(200, "application/json", `{"price":5,"currency":"USD","pad":"`+strings.Repeat("x", vendors.MaxBodyBytes)+`"}`), price.QuoteFailed, 0, "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := vendors.New([]vendors.Vendor{{Name: "v", URL: vendorServer(t, tc.fn)}}, time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			q := c.Quote(context.Background(), "sku-1")
			if len(q) != 1 || q[0].Vendor != "v" || q[0].Status != tc.status || q[0].Price != tc.price || !strings.Contains(q[0].Reason, tc.reason) {
				t.Fatalf("quote = %+v, want status %d price %v reason ~%q", q, tc.status, tc.price, tc.reason)
			}
			if tc.status == price.QuoteOffered && !price.ValidCurrency(q[0].Currency) {
				t.Fatalf("currency %q", q[0].Currency)
			}
		})
	}
}

// One slow vendor neither holds the others up beyond the timeout nor spoils
// their answers; every vendor is asked once, in parallel.
func TestVendorsAreAskedInParallelAndASlowOneTimesOut(t *testing.T) {
	var slowCalls, fastCalls atomic.Int32
	var gotPath atomic.Value
	slow := vendorServer(t, func(w http.ResponseWriter, r *http.Request) {
		slowCalls.Add(1)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return
		}
		answer(200, "application/json", `{"price":1,"currency":"USD"}`)(w, r)
	})
	fast := func(p string) string {
		return vendorServer(t, func(w http.ResponseWriter, r *http.Request) {
			fastCalls.Add(1)
			gotPath.Store(r.URL.EscapedPath())
			time.Sleep(150 * time.Millisecond)
			answer(200, "application/json", `{"price":`+p+`,"currency":"KRW"}`)(w, r)
		})
	}
	reg := prometheus.NewRegistry()
	c, err := vendors.New([]vendors.Vendor{
		{Name: "slow", URL: slow}, {Name: "a", URL: fast("1500")}, {Name: "b", URL: fast("1200")},
	}, 400*time.Millisecond, reg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	quotes := c.Quote(context.Background(), "sku.1_A-b")
	took := time.Since(start)
	if took < 400*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("took %s, want about the 400ms timeout (parallel, bounded)", took)
	}
	want := []price.Quote{price.FailedQuote("slow", ""), price.Offered("a", 1500, "KRW"), price.Offered("b", 1200, "KRW")}
	for i, q := range quotes {
		if q.Vendor != want[i].Vendor || q.Status != want[i].Status || q.Price != want[i].Price || q.Currency != want[i].Currency {
			t.Fatalf("quote %d = %+v, want %+v", i, q, want[i])
		}
	}
	if !strings.Contains(quotes[0].Reason, "no answer within 400ms") {
		t.Fatalf("slow reason = %q", quotes[0].Reason)
	}
	if slowCalls.Load() != 1 || fastCalls.Load() != 2 {
		t.Fatalf("calls slow=%d fast=%d, want 1 and 2", slowCalls.Load(), fastCalls.Load())
	}
	if p := gotPath.Load(); p != "/products/sku.1_A-b" {
		t.Fatalf("path = %v", p)
	}
	if n := callsMetric(t, reg, "slow", "failed"); n != 1 {
		t.Fatalf("failed calls metric = %v", n)
	}
	if n := callsMetric(t, reg, "a", "offered"); n != 1 {
		t.Fatalf("offered calls metric = %v", n)
	}
}

func TestUnreachableVendorFails(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/p/{productId}"
	srv.Close() // nothing listens there any more
	c, err := vendors.New([]vendors.Vendor{{Name: "gone", URL: url}}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quote(context.Background(), "p")
	if q[0].Status != price.QuoteFailed || !strings.Contains(q[0].Reason, "request failed") {
		t.Fatalf("quote = %+v", q[0])
	}
}

// An HTTP_PROXY in the environment does not reroute vendor calls, and the
// product id is one escaped path segment of the vendor's URL.
func TestVendorCallsGoDirectAndEscapeTheProductID(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied.Add(1); w.WriteHeader(502) }))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	var paths []string
	url := vendorServer(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		answer(200, "application/json", `{"price":5,"currency":"USD"}`)(w, r)
	})
	c, err := vendors.New([]vendors.Vendor{{Name: "v", URL: url}}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sku-1", "a.b"} {
		if q := c.Quote(context.Background(), id); q[0].Status != price.QuoteOffered {
			t.Fatalf("%s: %+v", id, q[0])
		}
	}
	if proxied.Load() != 0 || len(paths) != 2 || paths[0] != "/products/sku-1" || paths[1] != "/products/a.b" {
		t.Fatalf("proxied %d, vendor saw %q", proxied.Load(), paths)
	}
	for _, bad := range []string{".", "..", "a/b", "a b", ""} {
		if price.ValidProductID(bad) {
			t.Errorf("product id %q accepted", bad)
		}
	}
}

func TestConfigurationIsValidated(t *testing.T) {
	bad := [][]vendors.Vendor{
		{{Name: "a", URL: "http://127.0.0.1:1/no-placeholder"}},
		{{Name: "a b", URL: "http://127.0.0.1:1/{productId}"}},
		{{Name: "a", URL: "ftp://127.0.0.1/{productId}"}},
		{{Name: "a", URL: "/relative/{productId}"}},
		{{Name: "a", URL: "http://127.0.0.1:1/{productId}"}, {Name: "a", URL: "http://127.0.0.1:2/{productId}"}},
	}
	for _, vs := range bad {
		if _, err := vendors.New(vs, time.Second, nil); err == nil {
			t.Errorf("%+v accepted", vs)
		}
	}
	if _, err := vendors.New(nil, 0, nil); err == nil {
		t.Error("zero timeout accepted")
	}
}

// The simulator answers what its Price function says and counts calls.
func TestSimulatorAnswersDeterministicallyAndCounts(t *testing.T) {
	sim, err := vendorsim.New(vendorsim.Config{Vendors: []string{"a", "b"}, Currency: "KRW", NoOfferRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := vendors.New([]vendors.Vendor{
		{Name: "a", URL: srv.URL + "/vendors/a/products/{productId}"},
		{Name: "b", URL: srv.URL + "/vendors/b/products/{productId}"},
		{Name: "x", URL: srv.URL + "/vendors/x/products/{productId}"}, // not simulated
	}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	offered, noOffer := 0, 0
	for i := 0; i < 40; i++ {
		p := "p" + strings.Repeat("1", i%7) + string(rune('a'+i%26))
		for _, q := range c.Quote(context.Background(), p)[:2] {
			switch {
			case vendorsim.HasOffer(q.Vendor, p, 0.5):
				if q.Status != price.QuoteOffered || q.Price != vendorsim.Price(q.Vendor, p) || q.Currency != "KRW" {
					t.Fatalf("%s/%s: %+v, want %v KRW", q.Vendor, p, q, vendorsim.Price(q.Vendor, p))
				}
				offered++
			default:
				if q.Status != price.QuoteNoOffer {
					t.Fatalf("%s/%s: %+v, want no offer", q.Vendor, p, q)
				}
				noOffer++
			}
		}
	}
	if offered < 10 || noOffer < 10 {
		t.Fatalf("offered=%d noOffer=%d: the no-offer rate is not applied", offered, noOffer)
	}
	st := sim.Stats()
	if st.Total != 80 || st.Vendors["a"].Calls != 40 || st.Vendors["b"].Calls != 40 {
		t.Fatalf("stats = %+v", st)
	}
	if q := c.Quote(context.Background(), "p")[2]; q.Status != price.QuoteFailed || q.Reason != "status 400" {
		t.Fatalf("unknown simulated vendor: %+v", q)
	}
	sim.Reset()
	if st := sim.Stats(); st.Total != 0 || st.Vendors["a"].Calls != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func callsMetric(t *testing.T, reg *prometheus.Registry, vendor, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "surge_price_vendor_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["vendor"] == vendor && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
