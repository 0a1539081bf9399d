package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
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

	// Lose Redis.
	ctx := context.Background()
	keys, err := app.Redis().Keys(ctx, cfg.RedisPrefix+"*").Result()
	testenv.Must(t, err, "keys")
	testenv.Must(t, app.Redis().Del(ctx, keys...).Err(), "delete")
	if res := app.do(t, "GET", "/v1/campaigns/replay", nil); res.Status != http.StatusNotFound {
		t.Fatalf("after losing Redis: %d %s", res.Status, res.Body)
	}

	store := app.EventStore()
	n, err := Rebuild(ctx, store, readModels(cfg, app.Redis())...)
	testenv.Must(t, err, "rebuild")
	if n != 21 {
		t.Fatalf("rebuild applied %d events, want 21 (1 opened + 20 issued)", n)
	}
	if after := getCampaign(t, app, "replay"); after != before {
		t.Fatalf("rebuilt view %+v, want %+v", after, before)
	}
	for user, want := range coupons {
		if got := string(app.do(t, "GET", "/v1/campaigns/replay/coupons/"+user, nil).Body); got != want {
			t.Fatalf("user %s: rebuilt %s, want %s", user, got, want)
		}
	}
	// Rebuilding again changes nothing (idempotent).
	_, err = Rebuild(ctx, store, readModels(cfg, app.Redis())...)
	testenv.Must(t, err, "rebuild again")
	if again := getCampaign(t, app, "replay"); again != before {
		t.Fatalf("second rebuild: %+v", again)
	}

	stats, err := Replay(ctx, store, 0)
	testenv.Must(t, err, "replay")
	if stats.Events != 21 || stats.ByType["coupon.issued.v1"] != 20 || stats.ByType["coupon.campaign_opened.v1"] != 1 ||
		stats.CouponsPerCampaign["replay"] != 20 || len(stats.Streams) != 2 {
		t.Fatalf("replay stats = %+v", stats)
	}
}
