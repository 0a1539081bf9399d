package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

func newAlerts(t *testing.T) *redis.Alerts {
	t.Helper()
	return redis.NewAlerts(testenv.Redis(t), testenv.RedisPrefix(t))
}

var raisedA1 = alert.AlertRaised{AlertID: "a1", ComplexID: "A", House: "101-1", Text: "smoke", RaisedAt: t0, Position: 1}

// Redis lost the alert, then the projection applied its acceptance (a
// hash with the outcome and no raise). The alert is restored from the
// stream around what the hash holds: acceptors are told who won, never
// 503 until a full rebuild.
func TestRestoreFillsAHashThatHoldsOnlyTheOutcome(t *testing.T) {
	a := newAlerts(t)
	ctx := context.Background()
	testenv.Must(t, a.SaveAccepted(ctx, alert.AlertAccepted{AlertID: "a1", ComplexID: "A", AcceptedBy: "202-1", Raiser: "101-1", AcceptedAt: t0.Add(time.Second)}), "accepted")
	if _, err := a.Complex(ctx, "a1"); !errors.Is(err, domain.ErrNotInFastPath) {
		t.Fatalf("complex of a hash without its raise: %v, want ErrNotInFastPath", err)
	}
	// The stream as the API loaded it a moment before the acceptance.
	testenv.Must(t, a.Restore(ctx, alert.Load([]domain.Event{raisedA1})), "restore")
	if c, err := a.Complex(ctx, "a1"); err != nil || c != "A" {
		t.Fatalf("complex after restore: %q %v", c, err)
	}
	_, winner, err := a.ClaimAccept(ctx, "a1", "303-1")
	if err == nil || winner != "202-1" {
		t.Fatalf("a later acceptor: winner %q, err %v; want already accepted by 202-1", winner, err)
	}
	v, err := a.Alert(ctx, "a1")
	testenv.Must(t, err, "view")
	if v.Status != "accepted" || v.AcceptedBy != "202-1" || v.House != "101-1" || v.Text != "smoke" {
		t.Fatalf("view %+v", v)
	}
	// A whole hash is left alone.
	testenv.Must(t, a.Restore(ctx, alert.Load([]domain.Event{raisedA1})), "restore again")
	if v2, _ := a.Alert(ctx, "a1"); v2 != v {
		t.Fatalf("restoring a whole hash changed it: %+v, was %+v", v2, v)
	}
}

// The claims ledger holds a claim from when it is taken until the stream
// decided it or it was given back.
func TestClaimsLedgerHoldsUndecidedClaimsOnly(t *testing.T) {
	a := newAlerts(t)
	ctx := context.Background()
	for _, id := range []string{"a1", "a2", "a3"} {
		e := raisedA1
		e.AlertID = id
		testenv.Must(t, a.SaveRaised(ctx, e), "raise %s", id)
	}
	stale := func() []string {
		ids, err := a.StaleClaims(ctx, time.Now().Add(time.Minute), 10)
		testenv.Must(t, err, "stale")
		return ids
	}
	_, _, err := a.ClaimAccept(ctx, "a1", "202-1")
	testenv.Must(t, err, "claim a1")
	_, _, err = a.ClaimAccept(ctx, "a2", "202-1")
	testenv.Must(t, err, "claim a2")
	_, err = a.ClaimCancel(ctx, "a3", "101-1")
	testenv.Must(t, err, "cancel a3")
	if got := stale(); len(got) != 3 {
		t.Fatalf("ledger %v, want a1 a2 a3", got)
	}
	if ids, _ := a.StaleClaims(ctx, time.Now().Add(-time.Minute), 10); len(ids) != 0 {
		t.Fatalf("claims taken now are stale a minute ago: %v", ids)
	}
	if acc, cancelling, err := a.Claim(ctx, "a3"); err != nil || acc != "" || !cancelling {
		t.Fatalf("claim of a3: %q %v %v", acc, cancelling, err)
	}
	testenv.Must(t, a.SaveAccepted(ctx, alert.AlertAccepted{AlertID: "a1", ComplexID: "A", AcceptedBy: "202-1", AcceptedAt: t0}), "a1 decided")
	testenv.Must(t, a.ReleaseAccept(ctx, "a2", "202-1"), "a2 given back")
	if got := stale(); len(got) != 1 || got[0] != "a3" {
		t.Fatalf("ledger %v, want [a3]", got)
	}
	if acc, cancelling, _ := a.Claim(ctx, "a1"); acc != "" || cancelling {
		t.Fatalf("a decided alert still shows a claim: %q %v", acc, cancelling)
	}
	testenv.Must(t, a.ClaimResent(ctx, "a3", time.Now().Add(time.Hour)), "resent")
	if ids, _ := a.StaleClaims(ctx, time.Now().Add(time.Minute), 10); len(ids) != 0 {
		t.Fatalf("a claim re-sent just now is stale: %v", ids)
	}
	testenv.Must(t, a.SaveCancelled(ctx, alert.AlertCancelled{AlertID: "a3", ComplexID: "A", House: "101-1", CancelledAt: t0}), "a3 decided")
	if got, _ := a.StaleClaims(ctx, time.Now().Add(2*time.Hour), 10); len(got) != 0 {
		t.Fatalf("ledger %v after every claim was decided", got)
	}
}

// Two cancellations race: the first one's send fails after a retry sent
// its own. The first one's give-back must leave the claim (and its ledger
// entry) alone: the retry's command may be the one stored.
func TestACancellationGivenBackAfterARetryKeepsTheClaim(t *testing.T) {
	a := newAlerts(t)
	ctx := context.Background()
	for _, id := range []string{"alone", "raced"} {
		e := raisedA1
		e.AlertID = id
		testenv.Must(t, a.SaveRaised(ctx, e), "raise %s", id)
		first, err := a.ClaimCancel(ctx, id, "101-1")
		testenv.Must(t, err, "claim %s", id)
		if !first {
			t.Fatalf("%s: the first cancellation was not first", id)
		}
	}
	retryFirst, err := a.ClaimCancel(ctx, "raced", "101-1")
	testenv.Must(t, err, "retry")
	if retryFirst {
		t.Fatal("a retry was told it was first")
	}
	testenv.Must(t, a.ReleaseCancel(ctx, "alone"), "give back alone")
	testenv.Must(t, a.ReleaseCancel(ctx, "raced"), "give back raced")
	if _, cancelling, _ := a.Claim(ctx, "alone"); cancelling {
		t.Fatal("a cancellation given back with no retry is still claimed")
	}
	if _, cancelling, _ := a.Claim(ctx, "raced"); !cancelling {
		t.Fatal("the give-back of the first request dropped the claim a retry had sent its own command for")
	}
	if _, _, err := a.ClaimAccept(ctx, "raced", "202-1"); err == nil {
		t.Fatal("an acceptor claimed an alert whose cancellation a retry sent")
	}
	ids, err := a.StaleClaims(ctx, time.Now().Add(time.Minute), 10)
	testenv.Must(t, err, "ledger")
	if len(ids) != 1 || ids[0] != "raced" {
		t.Fatalf("ledger %v, want [raced]", ids)
	}
}

// The settler re-sent a claim's command while the request that took the
// claim was still failing to send its own: that request's give-back must
// leave the claim alone (the settler's command may be the one stored), for
// an acceptance as for a cancellation.
func TestAClaimTheSettlerResentIsNotGivenBack(t *testing.T) {
	a := newAlerts(t)
	ctx := context.Background()
	for _, id := range []string{"accept", "cancel"} {
		e := raisedA1
		e.AlertID = id
		testenv.Must(t, a.SaveRaised(ctx, e), "raise %s", id)
	}
	won, _, err := a.ClaimAccept(ctx, "accept", "202-1")
	testenv.Must(t, err, "claim")
	first, err := a.ClaimCancel(ctx, "cancel", "101-1")
	testenv.Must(t, err, "cancel claim")
	if !won || !first {
		t.Fatalf("claims: accept %v, cancel %v", won, first)
	}
	for _, id := range []string{"accept", "cancel"} {
		testenv.Must(t, a.ClaimResent(ctx, id, time.Now()), "resent %s", id)
	}
	testenv.Must(t, a.ReleaseAccept(ctx, "accept", "202-1"), "give back the acceptance")
	testenv.Must(t, a.ReleaseCancel(ctx, "cancel"), "give back the cancellation")
	if acc, _, _ := a.Claim(ctx, "accept"); acc != "202-1" {
		t.Fatalf("the acceptance claim is held by %q after its give-back, want 202-1 still", acc)
	}
	if _, winner, err := a.ClaimAccept(ctx, "accept", "303-1"); err == nil || winner != "202-1" {
		t.Fatalf("another acceptor: winner %q, %v; want refused, naming 202-1", winner, err)
	}
	if _, cancelling, _ := a.Claim(ctx, "cancel"); !cancelling {
		t.Fatal("the cancellation claim was given back after the settler re-sent it")
	}
	ids, err := a.StaleClaims(ctx, time.Now().Add(time.Minute), 10)
	testenv.Must(t, err, "ledger")
	if len(ids) != 2 {
		t.Fatalf("ledger %v, want both claims still waiting", ids)
	}
	// A hash Redis lost is not made anew by the mark.
	testenv.Must(t, a.ClaimResent(ctx, "never-raised", time.Now()), "resent a lost one")
	if _, err := a.Complex(ctx, "never-raised"); err == nil {
		t.Fatal("marking a claim Redis lost wrote a hash for it")
	}
}
