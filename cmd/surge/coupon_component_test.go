package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

func openCampaign(t *testing.T, app *testApp, id string, limit int) {
	t.Helper()
	res := app.do(t, "POST", "/v1/campaigns", map[string]any{"id": id, "name": "Rush " + id, "limit": limit})
	if res.Status != http.StatusCreated {
		t.Fatalf("open campaign: %d %s", res.Status, res.Body)
	}
}

type campaignView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Limit    int    `json:"limit"`
	Accepted int    `json:"accepted"`
	Issued   int    `json:"issued"`
	Status   string `json:"status"`
}

func getCampaign(t *testing.T, app *testApp, id string) campaignView {
	t.Helper()
	res := app.do(t, "GET", "/v1/campaigns/"+id, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("get campaign: %d %s", res.Status, res.Body)
	}
	var v campaignView
	res.JSON(t, &v)
	return v
}

// counts reads what the database holds for a campaign: CouponIssued events,
// issued_coupons rows, and distinct users among the rows.
func counts(t *testing.T, db *sql.DB, campaign string) (events, rows, users int) {
	t.Helper()
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events WHERE event_type = 'coupon.issued.v1' AND payload->>'campaignId' = $1`, campaign).Scan(&events), "count events")
	testenv.Must(t, db.QueryRow(`SELECT count(*), count(DISTINCT user_id) FROM issued_coupons WHERE campaign_id = $1`, campaign).Scan(&rows, &users), "count rows")
	return
}

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	testenv.Must(t, err, "open db")
	t.Cleanup(func() { db.Close() })
	return db
}

// rush sends one application per (user, copy) concurrently and returns the
// status codes per user.
func rush(t *testing.T, app *testApp, campaign string, users, copies int) map[string][]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[string][]int{}
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for u := 0; u < users; u++ {
		user := fmt.Sprintf("user-%04d", u)
		for c := 0; c < copies; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := app.try("POST", "/v1/campaigns/"+campaign+"/applications", map[string]string{"userId": user})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				statuses[user] = append(statuses[user], res.Status)
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d applications failed at the transport, first: %v", len(errs), errs[0])
	}
	return statuses
}

func tally(statuses map[string][]int) map[int]int {
	n := map[int]int{}
	for _, ss := range statuses {
		for _, s := range ss {
			n[s]++
		}
	}
	return n
}

// waitIssued waits until the campaign read model shows want issued coupons.
func waitIssued(t *testing.T, app *testApp, campaign string, want int, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, fmt.Sprintf("%d coupons issued in %s", want, campaign), func() bool {
		return getCampaign(t, app, campaign).Issued >= want
	})
}

func TestRushIssuesExactlyTheLimit(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openCampaign(t, app, "rush", 100)

	statuses := rush(t, app, "rush", 1000, 1)
	got := tally(statuses)
	if got[http.StatusAccepted] != 100 || got[http.StatusGone] != 900 || len(got) != 2 {
		t.Fatalf("statuses = %v, want 100x202 and 900x410", got)
	}
	waitIssued(t, app, "rush", 100, 30*time.Second)

	events, rows, users := counts(t, db, "rush")
	if events != 100 || rows != 100 || users != 100 {
		t.Fatalf("events=%d rows=%d distinct users=%d, want 100 each", events, rows, users)
	}
	issuedUsers := 0
	for user, ss := range statuses {
		res := app.do(t, "GET", "/v1/campaigns/rush/coupons/"+user, nil)
		if ss[0] == http.StatusAccepted {
			var v struct{ Status, CouponID string }
			res.JSON(t, &v)
			if res.Status != 200 || v.Status != "issued" || v.CouponID == "" {
				t.Fatalf("accepted user %s reads %d %s", user, res.Status, res.Body)
			}
			issuedUsers++
		} else if res.Status != http.StatusNotFound || res.ErrorCode() != "coupon_not_found" {
			t.Fatalf("rejected user %s reads %d %s", user, res.Status, res.Body)
		}
	}
	if issuedUsers != 100 {
		t.Fatalf("%d users read issued, want 100", issuedUsers)
	}
	v := getCampaign(t, app, "rush")
	if v != (campaignView{ID: "rush", Name: "Rush rush", Limit: 100, Accepted: 100, Issued: 100, Status: "sold_out"}) {
		t.Fatalf("campaign view = %+v", v)
	}
	// Nothing more arrives later: once everything is handled, the counts
	// are still exact.
	waitQuiet(t, app)
	if events, rows, _ := counts(t, db, "rush"); events != 100 || rows != 100 {
		t.Fatalf("after settling: events=%d rows=%d", events, rows)
	}
}

func TestRushWithDuplicateApplicationsIssuesOnePerUser(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openCampaign(t, app, "dupes", 100)

	statuses := rush(t, app, "dupes", 1000, 2)
	got := tally(statuses)
	if got[http.StatusAccepted] != 100 || got[http.StatusAccepted]+got[http.StatusGone]+got[http.StatusConflict] != 2000 {
		t.Fatalf("statuses = %v, want exactly 100x202, the rest 409/410", got)
	}
	for user, ss := range statuses {
		accepted := 0
		for _, s := range ss {
			if s == http.StatusAccepted {
				accepted++
			}
		}
		if accepted > 1 {
			t.Fatalf("user %s was accepted %d times", user, accepted)
		}
	}
	waitIssued(t, app, "dupes", 100, 30*time.Second)
	waitQuiet(t, app)
	events, rows, users := counts(t, db, "dupes")
	if events != 100 || rows != 100 || users != 100 {
		t.Fatalf("events=%d rows=%d distinct users=%d, want 100 each", events, rows, users)
	}
}
