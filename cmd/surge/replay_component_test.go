package main

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

// A lost Redis is rebuilt from the event store, and the analytics replay
// reads the same history without touching the live consumers.
func TestReadModelsAreRebuiltByReplayAndReplayCountsHistory(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	openCampaign(t, app, "replay", 20)
	statuses := rush(t, app, "replay", 30, 1)
	if got := tally(statuses); got[http.StatusAccepted] != 20 || got[http.StatusGone] != 10 {
		t.Fatalf("statuses = %v", got)
	}
	waitIssued(t, app, "replay", 20, 30*time.Second)
	before := getCampaign(t, app, "replay")
	coupons := map[string]string{}
	for user := range statuses {
		coupons[user] = string(app.do(t, "GET", "/v1/campaigns/replay/coupons/"+user, nil).Body)
	}

	// Lose Redis. The service notices (its data marker is gone), rebuilds
	// the read models from the event store by itself, and rebuilds the gate
	// of the campaign asked for; meanwhile it answers 503 with Retry-After,
	// never 404 for a campaign that exists.
	ctx := context.Background()
	keys, err := app.Redis().Keys(ctx, cfg.RedisPrefix+"*").Result()
	testenv.Must(t, err, "keys")
	testenv.Must(t, app.Redis().Del(ctx, keys...).Err(), "delete")
	repairing := 0
	testenv.Eventually(t, 30*time.Second, "the campaign answers again", func() bool {
		res := app.do(t, "GET", "/v1/campaigns/replay", nil)
		if res.Status == http.StatusServiceUnavailable && res.ErrorCode() == "gate_repairing" && res.Header.Get("Retry-After") == "1" {
			repairing++
			return false
		}
		if res.Status != http.StatusOK {
			t.Fatalf("after losing Redis: %d %s", res.Status, res.Body)
		}
		return true
	})
	if after := getCampaign(t, app, "replay"); after != before {
		t.Fatalf("rebuilt view %+v, want %+v (after %d answers of gate_repairing)", after, before, repairing)
	}
	for user, want := range coupons {
		if got := string(app.do(t, "GET", "/v1/campaigns/replay/coupons/"+user, nil).Body); got != want {
			t.Fatalf("user %s: rebuilt %s, want %s", user, got, want)
		}
	}

	// Replaying the history again changes nothing (idempotent).
	store := app.EventStore()
	n, err := app.Rebuild(ctx)
	testenv.Must(t, err, "replay into the read models")
	if n != 21 {
		t.Fatalf("replay applied %d events, want 21 (1 opened + 20 issued)", n)
	}
	if again := getCampaign(t, app, "replay"); again != before {
		t.Fatalf("after a second rebuild: %+v", again)
	}

	stats, err := Replay(ctx, store, 0)
	testenv.Must(t, err, "replay")
	if stats.Events != 21 || stats.ByType["coupon.issued.v1"] != 20 || stats.ByType["coupon.campaign_opened.v1"] != 1 || len(stats.Streams) != 2 {
		t.Fatalf("replay stats = %+v", stats)
	}
	// The coupon flow's report: `surge replay coupons`.
	var out strings.Builder
	testenv.Must(t, replayReport(ctx, app.App, "coupons", nil, &out), "replay coupons")
	var report struct {
		Campaigns []projections.CampaignStats `json:"campaigns"`
	}
	testenv.Must(t, json.Unmarshal([]byte(out.String()), &report), "report %s", out.String())
	if want := []projections.CampaignStats{{ID: "replay", Limit: 20, Issued: 20}}; !reflect.DeepEqual(report.Campaigns, want) {
		t.Fatalf("replay coupons = %s, want %+v", out.String(), want)
	}
}
