//go:build chaos

// A correlation id is copied onto every command and event a request causes
// and stored with each event in PostgreSQL, whose TEXT columns take UTF-8
// only. An id a client made up out of invalid bytes must be replaced at the
// edge, not carried into the pipeline where every write of it fails. See
// harness_test.go for how to run one case.
package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/poison"
)

// badCorrelationID is not UTF-8: 0xff and 0xfe never occur in it.
const badCorrelationID = "\xff\xfe"

var freshCorrelationID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// An X-Correlation-ID of invalid UTF-8 is answered with a fresh 16-hex id,
// and that fresh id is what travels: the coupon is issued and its event
// stores it, and a price comparison asks its vendor exactly once and answers
// 200 (a stored bad id would fail the append and retry the vendor call).
func TestBadCorrelationIDIsReplacedNotStored(t *testing.T) {
	var vendorCalls atomic.Int64
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vendorCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"price": 1000, "currency": "KRW"}`)
	}))
	defer vendor.Close()
	s := startSurge(t, map[string]string{"SURGE_PRICE_VENDORS": "v1=" + vendor.URL + "/{productId}"}, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The price endpoint: one request, one vendor call, 200.
	status, body, header, err := s.Do(http.MethodGet, "/v1/products/p1/price-comparison?wait=5s", nil, "X-Correlation-ID", badCorrelationID)
	if err != nil {
		t.Fatal(err)
	}
	priceID := header.Get("X-Correlation-ID")
	t.Logf("price comparison: %d %s, X-Correlation-ID %q, vendor calls %d", status, body, priceID, vendorCalls.Load())
	if status != http.StatusOK {
		t.Errorf("price comparison with a bad correlation id: %d %s, want 200", status, body)
	}
	if !freshCorrelationID.MatchString(priceID) {
		t.Errorf("price comparison answered X-Correlation-ID %q, want a fresh 16-hex id", priceID)
	}

	// A coupon application.
	const campaign, user = "bad-correlation", "u1"
	status, body, _, err = s.Do(http.MethodPost, "/v1/campaigns", map[string]any{"id": campaign, "name": "Bad correlation", "limit": 10})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("open campaign: %d %s %v", status, body, err)
	}
	status, body, header, err = s.Do(http.MethodPost, "/v1/campaigns/"+campaign+"/applications", map[string]string{"userId": user},
		"X-Correlation-ID", badCorrelationID)
	if err != nil {
		t.Fatal(err)
	}
	id := header.Get("X-Correlation-ID")
	t.Logf("application: %d %s, X-Correlation-ID %q", status, body, id)
	if status != http.StatusAccepted {
		t.Fatalf("application with a bad correlation id: %d %s, want 202", status, body)
	}
	if !freshCorrelationID.MatchString(id) {
		t.Errorf("application answered X-Correlation-ID %q, want a fresh 16-hex id", id)
	}
	took, err := eventually(ctx, 15*time.Second, "the coupon issued", func() (bool, error) {
		st, err := s.CouponStatus(campaign, user)
		return st == "issued", err
	})
	if err != nil {
		poison, _ := s.Poison()
		t.Fatalf("%v; poison queue: %s", err, poisonSummary(poison))
	}
	t.Logf("issued %s after the 202", took.Round(time.Millisecond))

	db, err := s.Stack.DB()
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	rows, err := db.QueryContext(ctx, `SELECT correlation_id FROM events WHERE stream_id = $1 ORDER BY stream_version`, "coupon/"+campaign+"/"+user)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, c)
	}
	rows.Close()
	if len(stored) != 1 || stored[0] != id {
		t.Errorf("coupon stream's correlation ids %q, want exactly [%q] (the id the API answered)", stored, id)
	}

	// By now the comparison's command is long done: still one vendor call,
	// and nothing was poisoned.
	if n := vendorCalls.Load(); n != 1 {
		t.Errorf("vendor called %d times for one price request, want 1", n)
	}
	poison, err := s.Poison()
	if err != nil {
		t.Fatal(err)
	}
	if len(poison) != 0 {
		t.Errorf("poison queue holds %d entries, want none: %s", len(poison), poisonSummary(poison))
	}
}

// poisonSummary is poison entries as JSON, cut at 2,000 characters.
func poisonSummary(entries []poison.Entry) string {
	b, _ := json.Marshal(entries)
	s := string(b)
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return strings.TrimSpace(s)
}
