package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// PostgreSQL refuses connections for several seconds during a rush: the gate
// keeps accepting, handlers retry and then poison what they cannot finish,
// and after recovery (plus a requeue of the poisoned commands) exactly the
// accepted number of coupons is issued.
func TestDatabaseOutageDuringRushLosesAndDoublesNothing(t *testing.T) {
	cfg := testenv.Config(t)
	direct, err := url.Parse(cfg.DatabaseURL)
	testenv.Must(t, err, "parse url")
	proxy := testenv.NewProxy(t, direct.Host)
	viaProxy := *direct
	viaProxy.Host = proxy.Addr()
	cfg.DatabaseURL = viaProxy.String()
	cfg.PoisonDatabaseURL = direct.String() // the poison queue lives elsewhere, so it stays writable
	cfg.RetryMax = 3
	cfg.RetryInitial = 50 * time.Millisecond
	cfg.RetryMaxInterval = 200 * time.Millisecond
	app := startApp(t, cfg, allRoles)
	db := openDB(t, direct.String())
	openCampaign(t, app, "outage", 300)

	var accepted, rejected, unavailable atomic.Int32
	apply := func(from, to int) {
		var wg sync.WaitGroup
		failures := make(chan string, to-from)
		for i := from; i < to; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := app.try("POST", "/v1/campaigns/outage/applications", map[string]string{"userId": fmt.Sprintf("u%04d", i)})
				switch {
				case err != nil:
					unavailable.Add(1)
					failures <- fmt.Sprintf("application %d: %v", i, err)
				case res.Status == http.StatusAccepted:
					accepted.Add(1)
				case res.Status == http.StatusGone:
					rejected.Add(1)
				default:
					unavailable.Add(1)
					failures <- fmt.Sprintf("application %d: %d %s", i, res.Status, res.Body)
				}
			}()
		}
		wg.Wait()
		close(failures)
		for f := range failures {
			t.Error(f)
		}
	}

	apply(0, 100) // before the outage
	proxy.Cut()
	cutAt := time.Now()
	apply(100, 250) // during: the gate is Redis, so these are accepted too
	duringOutage := accepted.Load() - 100
	time.Sleep(4*time.Second - time.Since(cutAt))
	proxy.Restore()
	apply(250, 400) // after: 50 more fit, 100 are sold out

	if accepted.Load() != 300 || rejected.Load() != 100 || unavailable.Load() != 0 {
		t.Fatalf("accepted=%d rejected=%d unavailable=%d, want 300/100/0", accepted.Load(), rejected.Load(), unavailable.Load())
	}
	if duringOutage != 150 {
		t.Fatalf("%d applications accepted during the outage, want 150", duringOutage)
	}

	// Drain: wait until every accepted user is issued or has a poisoned
	// command, then requeue the poisoned ones. A command can be both: when
	// the connection drops after PostgreSQL committed the append but before
	// the handler heard so, the handler sees an error, and if the database
	// stays away its retries run out. Requeueing it is then a no-op (the
	// coupon stream is at version 1), which the final counts check.
	var poisoned []poisonEntry
	var issued, both int
	testenv.Eventually(t, 60*time.Second, "every accepted user issued or poisoned", func() bool {
		covered := map[string]bool{}
		rows, err := db.Query(`SELECT user_id FROM issued_coupons WHERE campaign_id = 'outage'`)
		testenv.Must(t, err, "issued users")
		for rows.Next() {
			var u string
			testenv.Must(t, rows.Scan(&u), "scan")
			covered[u] = true
		}
		rows.Close()
		issued, both = len(covered), 0
		poisoned = listPoison(t, app, cfg.AdminToken)
		for _, e := range poisoned {
			var cmd struct{ UserID string }
			testenv.Must(t, json.Unmarshal([]byte(e.Payload), &cmd), "poisoned payload %q", e.Payload)
			if covered[cmd.UserID] {
				both++
			}
			covered[cmd.UserID] = true
		}
		return len(covered) == 300
	})
	t.Logf("after recovery: %d issued, %d poisoned (%d of them issued too)", issued, len(poisoned), both)
	for _, e := range poisoned {
		if e.Handler != "IssueCouponHandler" || e.Attempts != cfg.RetryMax+1 {
			t.Fatalf("poison entry %+v: want IssueCouponHandler after %d attempts", e, cfg.RetryMax+1)
		}
		res := app.do(t, "POST", fmt.Sprintf("/v1/admin/poison/%d/requeue", e.ID), nil, "Authorization", "Bearer "+cfg.AdminToken)
		if res.Status != http.StatusOK {
			t.Fatalf("requeue %d: %d %s", e.ID, res.Status, res.Body)
		}
	}
	waitIssued(t, app, "outage", 300, 60*time.Second)
	waitQuiet(t, app)
	events, rows, users := counts(t, db, "outage")
	if events != 300 || rows != 300 || users != 300 {
		t.Fatalf("events=%d rows=%d users=%d, want exactly 300 each", events, rows, users)
	}
	if left := listPoison(t, app, cfg.AdminToken); len(left) != 0 {
		t.Fatalf("poison entries left: %d", len(left))
	}
	v := getCampaign(t, app, "outage")
	if v.Accepted != 300 || v.Issued != 300 {
		t.Fatalf("campaign view = %+v", v)
	}
}
