package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/internal/flows"
	"github.com/surge-platform/surge/internal/testenv"
)

type poisonEntry struct {
	ID        int64  `json:"id"`
	MessageID string `json:"messageId"`
	Topic     string `json:"topic"`
	Handler   string `json:"handler"`
	Reason    string `json:"reason"`
	Attempts  int    `json:"attempts"`
	Payload   string `json:"payload"`
}

func listPoison(t *testing.T, app *testApp, token string) []poisonEntry {
	t.Helper()
	res := app.do(t, "GET", "/v1/admin/poison", nil, "Authorization", "Bearer "+token)
	if res.Status != http.StatusOK {
		t.Fatalf("list poison: %d %s", res.Status, res.Body)
	}
	var entries []poisonEntry
	res.JSON(t, &entries)
	return entries
}

// A malformed command lands in the poison queue at once, the commands behind
// it on the same partition are still processed, and an operator can requeue
// (it is handled again) or discard entries over the admin API.
func TestPoisonQueueThroughTheRunningService(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.RetryMax = 5
	cfg.RetryInitial = 200 * time.Millisecond // a retried message would take >= 6s
	app := startApp(t, cfg, allRoles)
	openCampaign(t, app, "spring", 100)
	pub, err := kafka.NewPublisher(app.Brokers(), watermill.NopLogger{})
	testenv.Must(t, err, "publisher")
	defer pub.Close()

	// 1. Garbage keyed like user "victim"'s coupon stream, then victim applies
	//    normally: same key, same partition, behind the garbage.
	garbage := message.NewMessage(watermill.NewUUID(), []byte("\x00not json at all"))
	garbage.Metadata.Set(messaging.NameKey, (coupon.IssueCoupon{}).WireName())
	garbage.Metadata.Set(kafka.PartitionKeyMetadata, coupon.CouponStreamID("spring", "victim"))
	sentAt := time.Now()
	testenv.Must(t, pub.Publish(flows.CouponCommands, garbage), "publish garbage")
	if res := app.do(t, "POST", "/v1/campaigns/spring/applications", map[string]string{"userId": "victim"}); res.Status != http.StatusAccepted {
		t.Fatalf("apply: %d %s", res.Status, res.Body)
	}
	// 2. A well-formed command for a campaign that does not exist yet: a
	//    violated invariant, poisoned at once, fixable later.
	bus, err := messaging.NewCommandBus(pub, app.Topology().TopicFor)
	testenv.Must(t, err, "bus")
	testenv.Must(t, bus.Send(context.Background(), coupon.IssueCoupon{CampaignID: "later", UserID: "early-bird"}), "send")

	var entries []poisonEntry
	testenv.Eventually(t, 20*time.Second, "two poison entries and victim's coupon", func() bool {
		entries = listPoison(t, app, cfg.AdminToken)
		res := app.do(t, "GET", "/v1/campaigns/spring/coupons/victim", nil)
		return len(entries) == 2 && strings.Contains(string(res.Body), `"issued"`)
	})
	if elapsed := time.Since(sentAt); elapsed > 5*time.Second {
		t.Fatalf("poisoning took %s: permanent errors must skip the retries", elapsed)
	}
	byMessage := map[string]poisonEntry{}
	for _, e := range entries {
		byMessage[e.MessageID] = e
		if e.Topic != flows.CouponCommands || e.Handler != "IssueCouponHandler" || e.Attempts != 1 {
			t.Fatalf("entry = %+v, want coupons.commands / IssueCouponHandler / 1 attempt", e)
		}
	}
	g, ok := byMessage[garbage.UUID]
	if !ok || !strings.Contains(g.Reason, "undecodable") {
		t.Fatalf("garbage entry = %+v (entries %+v)", g, entries)
	}
	var early poisonEntry
	for _, e := range entries {
		if e.MessageID != garbage.UUID {
			early = e
		}
	}
	if !strings.Contains(early.Reason, "campaign_not_found") || !strings.Contains(early.Payload, "early-bird") {
		t.Fatalf("early-bird entry = %+v", early)
	}

	// Show one entry.
	res := app.do(t, "GET", fmt.Sprintf("/v1/admin/poison/%d", g.ID), nil, "Authorization", "Bearer "+cfg.AdminToken)
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), garbage.UUID) {
		t.Fatalf("show: %d %s", res.Status, res.Body)
	}
	// Fix the cause, then requeue: the coupon is issued.
	openCampaign(t, app, "later", 10)
	res = app.do(t, "POST", fmt.Sprintf("/v1/admin/poison/%d/requeue", early.ID), nil, "Authorization", "Bearer "+cfg.AdminToken)
	if res.Status != http.StatusOK {
		t.Fatalf("requeue: %d %s", res.Status, res.Body)
	}
	testenv.Eventually(t, 20*time.Second, "requeued command issues the coupon", func() bool {
		return app.do(t, "GET", "/v1/campaigns/later/coupons/early-bird", nil).Status == http.StatusOK
	})
	// Discard the garbage.
	res = app.do(t, "DELETE", fmt.Sprintf("/v1/admin/poison/%d", g.ID), nil, "Authorization", "Bearer "+cfg.AdminToken)
	if res.Status != http.StatusNoContent {
		t.Fatalf("discard: %d %s", res.Status, res.Body)
	}
	if left := listPoison(t, app, cfg.AdminToken); len(left) != 0 {
		t.Fatalf("entries left: %+v", left)
	}
	db := openDB(t, cfg.DatabaseURL)
	if events, rows, _ := counts(t, db, "later"); events != 1 || rows != 1 {
		t.Fatalf("later: events=%d rows=%d, want 1 and 1", events, rows)
	}
}
