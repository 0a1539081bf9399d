//go:build chaos

// A message that can never be handled must leave its partition at once: a
// Kafka partition is a queue, and every message behind the poisoned one
// waits for it. See harness_test.go for how to run one case.
package chaos

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/internal/flows"
	"github.com/surge-platform/surge/internal/poison"
)

// An IssueCoupon whose correlation id is invalid UTF-8 can never be stored
// (PostgreSQL rejects the bytes on every attempt: a data error, permanent).
// It must go to the poison queue on its first attempt, and the valid
// IssueCoupon queued behind it on the same partition must be issued with no
// more delay than the usual pipeline latency.
//
// How it is made deterministic: the API, forwarder and projections run in
// one process and the command handlers in a second one that starts only
// after both commands are in Kafka. So the partition holds, in this order,
//
//  1. the bad command, published straight to coupons.commands with the
//     partition key of the good user's coupon stream, then
//  2. the good user's command, sent by the API when it admitted the user
//     (the gate must admit the user for the read model to show the coupon),
//
// and the handler meets them in that order, with no race against the
// publishing. The clock starts when the commands process is ready (its
// first chance to see either message): the bad one must be in the poison
// queue within 1 s and the good one issued within 1.5 s.
//
// Both processes run the production retry policy (SURGE_RETRY_* defaults:
// 5 retries from 100 ms, up to 2 s), so treating the data error as
// transient stalls the partition for about 3 s and fails the case.
func TestPoisonedCommandNeverStallsItsPartition(t *testing.T) {
	const campaign, goodUser, badUser = "poisoned-partition", "good", "bad"
	productionRetries := map[string]string{
		"SURGE_RETRY_MAX":              "5",
		"SURGE_RETRY_INITIAL_INTERVAL": "100ms",
		"SURGE_RETRY_MAX_INTERVAL":     "2s",
		"SURGE_RETRY_MAX_ELAPSED":      "30s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{})
	front := st.startSurge(t, productionRetries, "api,forwarder,projections")

	status, body, _, err := front.Do(http.MethodPost, "/v1/campaigns", map[string]any{"id": campaign, "name": "Poisoned partition", "limit": 10})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("open campaign: %d %s %v", status, body, err)
	}

	key := coupon.CouponStreamID(campaign, goodUser)
	badID := watermill.NewUUID()
	payload, _ := json.Marshal(coupon.IssueCoupon{CampaignID: campaign, UserID: badUser})
	err = st.Publish(flows.CouponCommands, badID, payload, map[string]string{
		messaging.NameKey:                   coupon.IssueCoupon{}.WireName(),
		messaging.SchemaVersionKey:          "1",
		kafka.PartitionKeyMetadata:          key, // the good command's partition
		middleware.CorrelationIDMetadataKey: badCorrelationID,
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body, header, err := front.Do(http.MethodPost, "/v1/campaigns/"+campaign+"/applications", map[string]string{"userId": goodUser})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("apply %s: %d %s %v", goodUser, status, body, err)
	}
	goodCorrelation := header.Get("X-Correlation-ID")

	cmds := st.startSurge(t, productionRetries, "commands")
	ready := time.Now()
	var poisonedAfter, issuedAfter time.Duration
	var entries []poison.Entry
	_, err = eventually(ctx, 20*time.Second, "the bad command poisoned and the good one issued", func() (bool, error) {
		if poisonedAfter == 0 {
			var err error
			if entries, err = front.Poison(); err != nil {
				return false, err
			}
			if len(entries) > 0 {
				poisonedAfter = time.Since(ready)
			}
		}
		if issuedAfter == 0 {
			state, err := front.CouponStatus(campaign, goodUser)
			if err != nil {
				return false, err
			}
			if state == "issued" {
				issuedAfter = time.Since(ready)
			}
		}
		return poisonedAfter > 0 && issuedAfter > 0, nil
	})
	t.Logf("after the commands process was ready: poisoned in %s, good coupon issued in %s", poisonedAfter.Round(time.Millisecond), issuedAfter.Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if poisonedAfter > time.Second {
		t.Errorf("the bad command reached the poison queue %s after the handlers were ready, want within 1s", poisonedAfter)
	}
	if issuedAfter > 1500*time.Millisecond {
		t.Errorf("the good command behind it was issued %s after the handlers were ready, want within 1.5s", issuedAfter)
	}

	// The poison queue holds exactly the bad command, tried once.
	if entries, err = front.Poison(); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("poison queue holds %d entries, want 1: %s", len(entries), poisonSummary(entries))
	}
	e := entries[0]
	t.Logf("poison entry: handler %s, topic %s, attempts %d, reason %q", e.Handler, e.Topic, e.Attempts, e.Reason)
	if e.MessageID != badID || e.Topic != flows.CouponCommands || e.Handler != "IssueCouponHandler" || !strings.Contains(e.Payload, badUser) {
		t.Errorf("poison entry is not the bad command %s: %s", badID, poisonSummary(entries))
	}
	if e.Attempts != 1 {
		t.Errorf("the bad command was tried %d times, want 1 (a data error is permanent)", e.Attempts)
	}

	// Never silent: one WARN line where it was poisoned, and the queue's
	// size in the metrics.
	warned := cmds.LogLines(`"msg":"message moved to the poison queue"`)
	if len(warned) != 1 || !strings.Contains(warned[0], `"level":"WARN"`) || !strings.Contains(warned[0], `"handler":"IssueCouponHandler"`) ||
		!strings.Contains(warned[0], `"topic":"coupons.commands"`) || !strings.Contains(warned[0], badID) {
		t.Errorf("poison log lines: %q, want one WARN naming the handler, topic and message", warned)
	}
	if text, err := front.Metrics(); err != nil || metricValue(text, "surge_poison_queue_size") != 1 {
		t.Errorf("surge_poison_queue_size = %v (%v), want 1", metricValue(text, "surge_poison_queue_size"), err)
	}
	if text, err := cmds.MetricsAt(); err != nil || metricValue(text, "surge_poisoned_total", "topic", "coupons.commands", "handler", "IssueCouponHandler") != 1 {
		t.Errorf("surge_poisoned_total{coupons.commands,IssueCouponHandler} = %v (%v), want 1",
			metricValue(text, "surge_poisoned_total", "topic", "coupons.commands", "handler", "IssueCouponHandler"), err)
	}

	// Only the good coupon was stored, with the API's correlation id.
	db, err := st.DB()
	if err != nil {
		t.Fatal(err)
	}
	var issued int
	var storedCorrelation string
	err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(correlation_id), '') FROM events WHERE stream_id = $1`, key).Scan(&issued, &storedCorrelation)
	if err != nil {
		t.Fatal(err)
	}
	if issued != 1 || storedCorrelation != goodCorrelation {
		t.Errorf("good coupon stream: %d events with correlation id %q, want 1 with %q", issued, storedCorrelation, goodCorrelation)
	}
	var bad int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE stream_id = $1`, coupon.CouponStreamID(campaign, badUser)).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("the bad command's stream has %d events, want none", bad)
	}
	if n, err := st.CountEvents("coupon.issued.v1"); err != nil || n != 1 {
		t.Errorf("coupon.issued.v1 events: %d (%v), want 1", n, err)
	}
}
