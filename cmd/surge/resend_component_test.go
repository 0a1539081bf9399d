package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

// resentTotal reads surge_coupon_commands_resent_total from /metrics.
func resentTotal(t *testing.T, app *testApp) int {
	return metric(t, app, "surge_coupon_commands_resent_total")
}

// metric is the value of an unlabelled counter in /metrics.
func metric(t *testing.T, app *testApp, name string) int {
	t.Helper()
	res := app.do(t, "GET", "/metrics", nil)
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(string(res.Body))
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The API admits a user at the gate, then sends IssueCoupon. If it dies in
// between, the slot is taken and no command exists. The resender finds such
// admissions after the grace period and issues them, once.
func TestAdmissionsWhoseCommandWasLostAreIssuedOnceByTheResender(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Set("SURGE_RESEND_GRACE", "2s")
	cfg.Set("SURGE_RESEND_INTERVAL", "100ms")
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openCampaign(t, app, "window", 10)

	for _, u := range []string{"u1", "u2", "u3"} {
		if res := app.do(t, "POST", "/v1/campaigns/window/applications", map[string]any{"userId": u}); res.Status != http.StatusAccepted {
			t.Fatalf("apply %s: %d %s", u, res.Status, res.Body)
		}
	}
	// What a crash between the gate and Kafka leaves behind: admitted, no command.
	gate := redis.NewCampaigns(testenv.Redis(t), cfg.RedisPrefix)
	for _, u := range []string{"lost1", "lost2"} {
		_, err := gate.Admit(context.Background(), "window", u)
		testenv.Must(t, err, "admit %s", u)
	}
	if res := app.do(t, "GET", "/v1/campaigns/window/coupons/lost1", nil); res.Status != http.StatusOK || string(res.Body) != `{"status":"pending"}` {
		t.Fatalf("lost1 before the grace period: %d %s", res.Status, res.Body)
	}
	if res := app.do(t, "POST", "/v1/campaigns/window/applications", map[string]any{"userId": "lost1"}); res.ErrorCode() != "already_applied" {
		t.Fatalf("lost1 applying again: %d %s", res.Status, res.Body)
	}

	waitIssued(t, app, "window", 5, 30*time.Second)
	for _, u := range []string{"u1", "u2", "u3", "lost1", "lost2"} {
		var v struct{ Status, CouponID string }
		app.do(t, "GET", "/v1/campaigns/window/coupons/"+u, nil).JSON(t, &v)
		if v.Status != "issued" || v.CouponID == "" {
			t.Errorf("%s: %+v, want issued", u, v)
		}
	}
	// Only the two lost admissions were re-sent; the three that went through
	// were issued well inside the grace period.
	if n := resentTotal(t, app); n != 2 {
		t.Fatalf("resent = %d, want 2", n)
	}
	// Nothing is pending any more (an outcome ends an admission's wait):
	// the next passes re-send nothing.
	passes := metric(t, app, "surge_coupon_resend_passes_total")
	testenv.Eventually(t, 10*time.Second, "3 more resender passes", func() bool {
		return metric(t, app, "surge_coupon_resend_passes_total") >= passes+3
	})
	if n := resentTotal(t, app); n != 2 {
		t.Fatalf("resent = %d after the coupons were issued, want still 2", n)
	}
	if events, rows, users := counts(t, db, "window"); events != 5 || rows != 5 || users != 5 {
		t.Fatalf("events=%d rows=%d users=%d, want 5 each", events, rows, users)
	}
	if v := getCampaign(t, app, "window"); v.Accepted != 5 || v.Issued != 5 {
		t.Fatalf("campaign = %+v, want accepted 5 issued 5", v)
	}
}
