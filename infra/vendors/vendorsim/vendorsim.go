// Package vendorsim simulates price vendors for local runs, tests and
// benchmarks (`surge vendor-sim`). It serves
//
//	GET  /vendors/{name}/products/{productId}   200 {"price","currency"} | 404 no offer | 503 simulated failure
//	GET  /stats                                  calls per vendor and product
//	POST /reset                                  zero the counts
//
// Prices are deterministic per (vendor, product), so a test knows what every
// vendor answers; latency, jitter and the failure rate are knobs. Every call
// is counted when it arrives, before the simulated latency, so a call the
// client gave up on still counts.
package vendorsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/surge-platform/surge/domain/price"
)

// Config are the simulator's knobs.
type Config struct {
	Vendors     []string      // vendor names served
	Latency     time.Duration // base latency of every answer
	Jitter      time.Duration // latency varies uniformly by ±Jitter
	FailureRate float64       // probability (0..1) that a call answers 503
	NoOfferRate float64       // share (0..1) of (vendor, product) pairs without an offer (404), deterministic
	Currency    string        // ISO 4217 code of every offer
}

// Sim is a running simulator's state.
type Sim struct {
	cfg     Config
	vendors map[string]bool
	mu      sync.Mutex
	calls   map[string]map[string]int // vendor -> product -> calls
	total   int
}

// New validates cfg.
func New(cfg Config) (*Sim, error) {
	if len(cfg.Vendors) == 0 {
		return nil, errors.New("at least one vendor is required")
	}
	if cfg.Latency < 0 || cfg.Jitter < 0 {
		return nil, errors.New("latency and jitter must not be negative")
	}
	if cfg.FailureRate < 0 || cfg.FailureRate > 1 || cfg.NoOfferRate < 0 || cfg.NoOfferRate > 1 {
		return nil, errors.New("failure and no-offer rates must be in 0..1")
	}
	if cfg.Currency == "" {
		cfg.Currency = "KRW"
	}
	if !price.ValidCurrency(cfg.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO 4217 code", cfg.Currency)
	}
	s := &Sim{cfg: cfg, vendors: map[string]bool{}, calls: map[string]map[string]int{}}
	for _, v := range cfg.Vendors {
		if !price.ValidVendorName(v) {
			return nil, fmt.Errorf("vendor name %q must be 1-64 characters of [A-Za-z0-9._-]", v)
		}
		s.vendors[v] = true
		s.calls[v] = map[string]int{}
	}
	return s, nil
}

func hash(vendor, product string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(vendor))  //nolint:errcheck
	h.Write([]byte{0})       //nolint:errcheck
	h.Write([]byte(product)) //nolint:errcheck
	return h.Sum64()
}

// Price is what vendor asks for product: a whole number in 1000..99990.
func Price(vendor, product string) float64 {
	return float64(1000 + (hash(vendor, product)%9900)*10)
}

// HasOffer says whether vendor carries product, given the no-offer rate.
func HasOffer(vendor, product string, noOfferRate float64) bool {
	return float64((hash(product, vendor)>>11)%10000)/10000 >= noOfferRate
}

// Handler serves the simulator's routes.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /vendors/{name}/products/{productId}", s.offer)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (s *Sim) offer(w http.ResponseWriter, r *http.Request) {
	vendor, product := r.PathValue("name"), r.PathValue("productId")
	if !s.vendors[vendor] {
		// Not 404: that would read as "no offer" and hide a misconfiguration.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown vendor " + vendor})
		return
	}
	s.mu.Lock()
	s.calls[vendor][product]++
	s.total++
	s.mu.Unlock()

	delay := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		delay += time.Duration(rand.Int64N(int64(2*s.cfg.Jitter)+1)) - s.cfg.Jitter
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case s.cfg.FailureRate > 0 && rand.Float64() < s.cfg.FailureRate:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "simulated failure"})
	case !HasOffer(vendor, product, s.cfg.NoOfferRate):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no offer for this product"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"price": Price(vendor, product), "currency": s.cfg.Currency})
	}
}

// Stats are the calls counted since the start or the last reset.
type Stats struct {
	Total   int                    `json:"total"`
	Vendors map[string]VendorStats `json:"vendors"`
}

// VendorStats are one vendor's calls.
type VendorStats struct {
	Calls    int            `json:"calls"`
	Products map[string]int `json:"products"`
}

// Stats returns a copy of the counts.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Total: s.total, Vendors: map[string]VendorStats{}}
	for v, products := range s.calls {
		vs := VendorStats{Products: map[string]int{}}
		for p, n := range products {
			vs.Products[p] = n
			vs.Calls += n
		}
		st.Vendors[v] = vs
	}
	return st
}

// Calls is how often vendor was asked about product.
func (s *Sim) Calls(vendor, product string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[vendor][product]
}

// Reset zeroes the counts.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.calls {
		s.calls[v] = map[string]int{}
	}
	s.total = 0
}

// Vendors lists the simulated vendors, sorted.
func (s *Sim) Vendors() []string {
	out := make([]string, 0, len(s.vendors))
	for v := range s.vendors {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// VendorsConfig renders SURGE_PRICE_VENDORS for a simulator at baseURL
// (http://host:port).
func (s *Sim) VendorsConfig(baseURL string) string {
	var out string
	for i, v := range s.Vendors() {
		if i > 0 {
			out += ","
		}
		out += v + "=" + baseURL + "/vendors/" + v + "/products/{productId}"
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}
