package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/testenv"
)

// snapshot is everything a request could write: events, Redis keys under the
// test's prefix with their values (leases aside), and Kafka's end offsets.
func snapshot(t *testing.T, app *testApp, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	var events int
	testenv.Must(t, app.DB().QueryRow(`SELECT count(*) FROM events`).Scan(&events), "count events")
	fmt.Fprintf(&b, "events=%d\n", events)
	var keys []string
	iter := app.Redis().Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		// Leases come and go with the background jobs (the catch-up takes
		// one every pass); they are coordination, not data.
		if !strings.HasPrefix(iter.Val(), prefix+"lease:") {
			keys = append(keys, iter.Val())
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		dump, _ := app.Redis().Dump(ctx, k).Result()
		fmt.Fprintf(&b, "%s=%x\n", k, dump)
	}
	client, err := sarama.NewClient(app.Brokers(), kafka.SaramaConfig())
	testenv.Must(t, err, "kafka client")
	defer client.Close()
	for _, topic := range app.Topology().Names() {
		parts, err := client.Partitions(topic)
		testenv.Must(t, err, "partitions")
		for _, p := range parts {
			off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			testenv.Must(t, err, "offset")
			fmt.Fprintf(&b, "%s/%d=%d\n", topic, p, off)
		}
	}
	return b.String()
}

func TestBadInputGetsAClearErrorAndWritesNothing(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	openCampaign(t, app, "real", 10)
	// Let CampaignOpened reach Kafka first, so the snapshot is at rest.
	testenv.Eventually(t, 10*time.Second, "CampaignOpened forwarded", func() bool {
		return regexp.MustCompile(`coupons\.events/\d+=1\n`).MatchString(snapshot(t, app, cfg.RedisPrefix))
	})
	before := snapshot(t, app, cfg.RedisPrefix)

	huge := `{"name":"` + strings.Repeat("x", 70<<10) + `","limit":1}`
	auth := []string{"Authorization", "Bearer " + cfg.AdminToken}
	cases := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
	}{
		{"malformed json", "POST", "/v1/campaigns", `{"name":`, nil, 400, "invalid_json"},
		{"not an object", "POST", "/v1/campaigns", `[]`, nil, 400, "invalid_json"},
		{"two objects", "POST", "/v1/campaigns", `{"name":"a","limit":1}{}`, nil, 400, "invalid_json"},
		{"empty body", "POST", "/v1/campaigns", ``, nil, 400, "empty_body"},
		{"wrong type", "POST", "/v1/campaigns", `{"name":"a","limit":"ten"}`, nil, 400, "invalid_type"},
		{"float limit", "POST", "/v1/campaigns", `{"name":"a","limit":1.5}`, nil, 400, "invalid_type"},
		{"missing limit", "POST", "/v1/campaigns", `{"name":"a"}`, nil, 400, "missing_field"},
		{"missing name", "POST", "/v1/campaigns", `{"limit":1}`, nil, 400, "missing_field"},
		{"unknown field", "POST", "/v1/campaigns", `{"name":"a","limit":1,"color":"red"}`, nil, 400, "unknown_field"},
		{"oversized body", "POST", "/v1/campaigns", huge, nil, 413, "body_too_large"},
		{"wrong content type", "POST", "/v1/campaigns", `{"name":"a","limit":1}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"limit zero", "POST", "/v1/campaigns", `{"name":"a","limit":0}`, nil, 422, "invalid_limit"},
		{"limit negative", "POST", "/v1/campaigns", `{"name":"a","limit":-5}`, nil, 422, "invalid_limit"},
		{"limit too large", "POST", "/v1/campaigns", `{"name":"a","limit":10000001}`, nil, 422, "invalid_limit"},
		{"blank name", "POST", "/v1/campaigns", `{"name":"  ","limit":3}`, nil, 422, "invalid_name"},
		{"NUL in name", "POST", "/v1/campaigns", `{"name":"a\u0000b","limit":3}`, nil, 422, "invalid_name"},
		{"ANSI escape in name", "POST", "/v1/campaigns", `{"name":"\u001b[31mred","limit":3}`, nil, 422, "invalid_name"},
		{"bad campaign id", "POST", "/v1/campaigns", `{"id":"Bad ID","name":"a","limit":3}`, nil, 422, "invalid_campaign_id"},
		{"reopen with other terms", "POST", "/v1/campaigns", `{"id":"real","name":"Rush real","limit":11}`, nil, 409, "campaign_exists"},
		{"apply unknown campaign", "POST", "/v1/campaigns/nope/applications", `{"userId":"u1"}`, nil, 404, "campaign_not_found"},
		{"apply bad campaign id", "POST", "/v1/campaigns/NO%20PE/applications", `{"userId":"u1"}`, nil, 400, "invalid_campaign_id"},
		{"apply missing user", "POST", "/v1/campaigns/real/applications", `{}`, nil, 400, "missing_field"},
		{"apply numeric user", "POST", "/v1/campaigns/real/applications", `{"userId":42}`, nil, 400, "invalid_type"},
		{"apply long user", "POST", "/v1/campaigns/real/applications", `{"userId":"` + strings.Repeat("u", 65) + `"}`, nil, 422, "invalid_user_id"},
		{"apply empty user", "POST", "/v1/campaigns/real/applications", `{"userId":""}`, nil, 422, "invalid_user_id"},
		{"apply user with slash", "POST", "/v1/campaigns/real/applications", `{"userId":"a/b"}`, nil, 422, "invalid_user_id"},
		{"apply user dot-dot", "POST", "/v1/campaigns/real/applications", `{"userId":".."}`, nil, 422, "invalid_user_id"},
		{"apply user control char", "POST", "/v1/campaigns/real/applications", `{"userId":"u\u0007"}`, nil, 422, "invalid_user_id"},
		{"apply unknown field", "POST", "/v1/campaigns/real/applications", `{"userId":"u1","vip":true}`, nil, 400, "unknown_field"},
		{"apply malformed", "POST", "/v1/campaigns/real/applications", `{"userId":`, nil, 400, "invalid_json"},
		{"price dot-dot", "GET", "/v1/products/../price-comparison", nil, nil, 400, "invalid_product_id"},
		{"price dot-dot escaped", "GET", "/v1/products/%2E%2E/price-comparison", nil, nil, 400, "invalid_product_id"},
		{"price dot", "GET", "/v1/products/%2E/price-comparison", nil, nil, 400, "invalid_product_id"},
		{"get unknown campaign", "GET", "/v1/campaigns/nope", nil, nil, 404, "campaign_not_found"},
		{"get unknown coupon", "GET", "/v1/campaigns/real/coupons/nobody", nil, nil, 404, "coupon_not_found"},
		{"unknown route", "GET", "/v1/nothing", nil, nil, 404, "route_not_found"},
		{"wrong method", "DELETE", "/v1/campaigns", nil, nil, 405, "method_not_allowed"},
		{"admin without token", "GET", "/v1/admin/poison", nil, nil, 401, "unauthorized"},
		{"admin with wrong token", "GET", "/v1/admin/poison", nil, []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"admin bad entry id", "POST", "/v1/admin/poison/x/requeue", nil, auth, 400, "invalid_entry_id"},
		{"admin unknown entry", "DELETE", "/v1/admin/poison/999", nil, auth, 404, "poison_entry_not_found"},
		{"admin bad limit", "GET", "/v1/admin/poison?limit=0", nil, auth, 400, "invalid_limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app.do(t, tc.method, tc.path, tc.body, tc.headers...).requireError(t, tc.status, tc.code)
		})
	}
	if after := snapshot(t, app, cfg.RedisPrefix); after != before {
		t.Fatalf("bad requests wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if res := app.do(t, "GET", "/v1/admin/poison", nil, auth...); res.Status != http.StatusOK || string(res.Body) != "[]" {
		t.Fatalf("poison list = %d %s, want an empty JSON array", res.Status, res.Body)
	}
	// The snapshot does see writes: one valid application changes it.
	if res := app.do(t, "POST", "/v1/campaigns/real/applications", `{"userId":"u1"}`); res.Status != http.StatusAccepted {
		t.Fatalf("valid application: %d %s", res.Status, res.Body)
	}
	if snapshot(t, app, cfg.RedisPrefix) == before {
		t.Fatal("snapshot did not change after a valid application")
	}
}
