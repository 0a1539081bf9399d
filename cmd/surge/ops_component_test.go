package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	cfg := testenv.Config(t)
	redisProxy := testenv.NewProxy(t, "127.0.0.1:6379")
	cfg.RedisURL = "redis://" + redisProxy.Addr() + "/0"
	app := startApp(t, cfg, allRoles)

	if res := app.do(t, "GET", "/healthz", nil); res.Status != http.StatusOK || string(res.Body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", res.Status, res.Body)
	}
	// A first start finds no read models in Redis and builds them from the
	// event store: "repairing" (still ready) until that is done.
	const allOK = `{"checks":{"kafka":"ok","postgres":"ok","redis":"ok"},"status":"ready"}`
	var res response
	testenv.Eventually(t, 10*time.Second, "readyz all ok", func() bool {
		res = app.do(t, "GET", "/readyz", nil)
		return res.Status == http.StatusOK && string(res.Body) == allOK
	})
	// Traffic through the API and the router shows up in the metrics.
	openCampaign(t, app, "metrics", 5)
	res = app.do(t, "POST", "/v1/campaigns/metrics/applications", `{"userId":"u1"}`, "X-Correlation-ID", "corr-from-client")
	if res.Status != http.StatusAccepted || res.Header.Get("X-Correlation-ID") != "corr-from-client" {
		t.Fatalf("apply: %d, correlation header %q", res.Status, res.Header.Get("X-Correlation-ID"))
	}
	waitIssued(t, app, "metrics", 1, 20*time.Second)
	// The correlation id travelled on the command into the stored event; the
	// causation id is the command's message id.
	var correlation, causation string
	testenv.Must(t, app.DB().QueryRow(`SELECT correlation_id, causation_id FROM events WHERE stream_id = 'coupon/metrics/u1'`).Scan(&correlation, &causation), "event metadata")
	if correlation != "corr-from-client" || len(causation) != 36 {
		t.Fatalf("event correlation %q causation %q", correlation, causation)
	}
	if generated := app.do(t, "GET", "/healthz", nil).Header.Get("X-Correlation-ID"); len(generated) != 16 {
		t.Fatalf("generated correlation id %q", generated)
	}
	res = app.do(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`surge_http_requests_total{method="POST",route="/v1/campaigns/:id/applications",status="202"} 1`,
		`surge_http_request_duration_seconds_bucket{method="POST",route="/v1/campaigns/:id/applications"`,
		`surge_watermill_handler_execution_time_seconds_count{handler_name="IssueCouponHandler",success="true"} 1`,
		`surge_watermill_handler_execution_time_seconds_count{handler_name="CampaignProjection",success="true"}`,
		`surge_watermill_publish_time_seconds_count`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(res.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Redis goes away: not ready, and says which dependency.
	redisProxy.Cut()
	res = app.do(t, "GET", "/readyz", nil)
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	res.JSON(t, &body)
	if res.Status != http.StatusServiceUnavailable || body.Status != "not_ready" || body.Checks["redis"] != "failed" ||
		body.Checks["postgres"] != "ok" || body.Checks["kafka"] != "ok" {
		t.Fatalf("readyz with Redis cut: %d %s", res.Status, res.Body)
	}
	// Why is for operators only: the admin token shows the detail.
	if strings.Contains(string(res.Body), "detail") || strings.Contains(string(res.Body), redisProxy.Addr()) {
		t.Fatalf("readyz without the admin token shows detail: %s", res.Body)
	}
	if res := app.do(t, "GET", "/readyz", nil, "Authorization", "Bearer "+cfg.AdminToken); !strings.Contains(string(res.Body), `"detail":{"redis":`) {
		t.Fatalf("readyz with the admin token: %d %s", res.Status, res.Body)
	}
	// An application now cannot pass the gate: 503, not a guess.
	if res := app.do(t, "POST", "/v1/campaigns/metrics/applications", `{"userId":"u2"}`); res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "unavailable" {
		t.Fatalf("apply with Redis cut: %d %s", res.Status, res.Body)
	}
	redisProxy.Restore()
	testenv.Eventually(t, 10*time.Second, "ready again", func() bool { return app.do(t, "GET", "/readyz", nil).Status == http.StatusOK })
}
