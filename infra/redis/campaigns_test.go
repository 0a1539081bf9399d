package redis_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

func newCampaigns(t *testing.T) *redis.Campaigns {
	return redis.NewCampaigns(testenv.Redis(t), testenv.RedisPrefix(t))
}

func TestGateAdmitsExactlyTheLimitUnderConcurrency(t *testing.T) {
	c := newCampaigns(t)
	ctx := context.Background()
	testenv.Must(t, c.Open(ctx, "spring", "Spring", 50), "open")
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Admit(ctx, "spring", fmt.Sprintf("u%d", i%200)) // 100 users apply twice
			key := "ok"
			switch {
			case errors.Is(err, coupon.ErrSoldOut):
				key = "sold_out"
			case errors.Is(err, coupon.ErrAlreadyApplied):
				key = "already"
			case err != nil:
				key = err.Error()
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if outcomes["ok"] != 50 || outcomes["ok"]+outcomes["sold_out"]+outcomes["already"] != 300 {
		t.Fatalf("outcomes = %v, want exactly 50 admitted", outcomes)
	}
	v, err := c.Campaign(ctx, "spring")
	testenv.Must(t, err, "campaign")
	if v != (projections.CampaignView{ID: "spring", Name: "Spring", Limit: 50, Accepted: 50, Issued: 0, Status: "sold_out"}) {
		t.Fatalf("view = %+v", v)
	}
}

func TestGateOutcomesAndRelease(t *testing.T) {
	c := newCampaigns(t)
	ctx := context.Background()
	if _, err := c.Admit(ctx, "nope", "u1"); !errors.Is(err, coupon.ErrCampaignNotFound) {
		t.Fatalf("unknown campaign: %v", err)
	}
	testenv.Must(t, c.Open(ctx, "spring", "Spring", 1), "open")
	testenv.Must(t, c.Open(ctx, "spring", "Other", 9), "reopen is a no-op")
	token, err := c.Admit(ctx, "spring", "u1")
	testenv.Must(t, err, "admit u1")
	if _, err := c.Admit(ctx, "spring", "u1"); !errors.Is(err, coupon.ErrAlreadyApplied) {
		t.Fatalf("second application: %v", err)
	}
	if _, err := c.Admit(ctx, "spring", "u2"); !errors.Is(err, coupon.ErrSoldOut) {
		t.Fatalf("over the limit: %v", err)
	}
	if v, _ := c.CouponStatus(ctx, "spring", "u1"); v.Status != "pending" {
		t.Fatalf("u1 status = %+v", v)
	}
	// Another admission's token releases nothing.
	if released, err := c.Release(ctx, "spring", "u1", "not-the-token"); err != nil || released {
		t.Fatalf("release with a foreign token: released=%v err=%v", released, err)
	}
	// The command could not be sent: the slot goes back, once.
	if released, err := c.Release(ctx, "spring", "u1", token); err != nil || !released {
		t.Fatalf("release: released=%v err=%v", released, err)
	}
	if released, err := c.Release(ctx, "spring", "u1", token); err != nil || released {
		t.Fatalf("release twice: released=%v err=%v", released, err)
	}
	if _, err := c.CouponStatus(ctx, "spring", "u1"); !errors.Is(err, coupon.ErrCouponNotFound) {
		t.Fatalf("released user status err = %v", err)
	}
	_, err = c.Admit(ctx, "spring", "u2")
	testenv.Must(t, err, "u2 takes the freed slot")
	v, _ := c.Campaign(ctx, "spring")
	if v.Name != "Spring" || v.Limit != 1 || v.Accepted != 1 {
		t.Fatalf("view = %+v", v)
	}
}

func TestMarkIssuedIsIdempotentAndRebuildsAdmissions(t *testing.T) {
	c := newCampaigns(t)
	ctx := context.Background()
	// Replay order across streams is arbitrary: a coupon may come first.
	testenv.Must(t, c.MarkIssued(ctx, "spring", "u1", "coupon-1"), "mark")
	testenv.Must(t, c.MarkIssued(ctx, "spring", "u1", "coupon-1"), "mark again")
	testenv.Must(t, c.SaveTerms(ctx, "spring", "Spring", 2), "terms")
	if _, err := c.Campaign(ctx, "spring"); !errors.Is(err, coupon.ErrGateRepairing) {
		t.Fatalf("a campaign rebuilt by the projection but not repaired: %v, want ErrGateRepairing", err)
	}
	if _, err := c.Admit(ctx, "spring", "u9"); !errors.Is(err, coupon.ErrGateRepairing) {
		t.Fatalf("the gate admitted before its repair: %v", err)
	}
	testenv.Must(t, c.Open(ctx, "spring", "Spring", 2), "open")
	v, err := c.Campaign(ctx, "spring")
	testenv.Must(t, err, "campaign")
	if v.Accepted != 1 || v.Issued != 1 || v.Limit != 2 || v.Status != "open" {
		t.Fatalf("view = %+v, want accepted 1 issued 1", v)
	}
	if s, _ := c.CouponStatus(ctx, "spring", "u1"); s != (projections.CouponView{Status: "issued", CouponID: "coupon-1"}) {
		t.Fatalf("status = %+v", s)
	}
	if _, err := c.Admit(ctx, "spring", "u1"); !errors.Is(err, coupon.ErrAlreadyApplied) {
		t.Fatalf("issued user re-applies: %v", err)
	}
	// A release after issue must not free the slot.
	if released, _ := c.Release(ctx, "spring", "u1", "issued"); released {
		t.Fatal("released an issued coupon's slot")
	}
	if v, _ := c.Campaign(ctx, "spring"); v.Accepted != 1 {
		t.Fatalf("release after issue changed accepted to %d", v.Accepted)
	}
}

func TestPendingAdmissionsAreTheAdmittedUsersWithoutAnOutcome(t *testing.T) {
	c := newCampaigns(t)
	ctx := context.Background()
	testenv.Must(t, c.Open(ctx, "spring", "Spring", 10), "open spring")
	testenv.Must(t, c.Open(ctx, "autumn", "Autumn", 10), "open autumn")
	tokens := map[string]string{}
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		token, err := c.Admit(ctx, "spring", u)
		testenv.Must(t, err, "admit %s", u)
		tokens[u] = token
	}
	_, err := c.Admit(ctx, "autumn", "a1")
	testenv.Must(t, err, "admit a1")
	testenv.Must(t, c.MarkIssued(ctx, "spring", "u2", "coupon-2"), "u2 issued")
	testenv.Must(t, c.MarkRejected(ctx, "spring", "u4", "sold_out"), "u4 rejected")
	_, err = c.Release(ctx, "spring", "u3", tokens["u3"])
	testenv.Must(t, err, "u3 released")

	campaigns := []string{"autumn", "spring", "winter"}
	before := time.Now().Add(time.Second)
	pending, err := c.PendingAdmissions(ctx, campaigns, before, 100)
	testenv.Must(t, err, "pending")
	got := map[coupon.IssueCoupon]bool{}
	for _, p := range pending {
		got[p] = true
	}
	want := map[coupon.IssueCoupon]bool{{CampaignID: "spring", UserID: "u1"}: true, {CampaignID: "autumn", UserID: "a1"}: true}
	if len(pending) != len(want) || !maps.Equal(got, want) {
		t.Fatalf("pending = %v, want %v", pending, want)
	}
	if only, _ := c.PendingAdmissions(ctx, []string{"spring"}, before, 100); len(only) != 1 || only[0].UserID != "u1" {
		t.Fatalf("pending in spring only = %v", only)
	}
	if none, _ := c.PendingAdmissions(ctx, campaigns, time.Now().Add(-time.Minute), 100); len(none) != 0 {
		t.Fatalf("admissions younger than the cut-off were returned: %v", none)
	}
	if one, _ := c.PendingAdmissions(ctx, campaigns, before, 1); len(one) != 1 {
		t.Fatalf("limit 1 returned %d", len(one))
	}

	// A retry restarts the wait; a decided coupon is never brought back.
	testenv.Must(t, c.AdmissionRetried(ctx, "spring", "u1", before.Add(time.Minute)), "retried u1")
	testenv.Must(t, c.AdmissionRetried(ctx, "spring", "u2", before.Add(-time.Hour)), "retried issued u2")
	pending, _ = c.PendingAdmissions(ctx, campaigns, before, 100)
	if len(pending) != 1 || pending[0] != (coupon.IssueCoupon{CampaignID: "autumn", UserID: "a1"}) {
		t.Fatalf("after the retry mark: pending = %v, want only autumn/a1", pending)
	}
	testenv.Must(t, c.MarkIssued(ctx, "autumn", "a1", "coupon-a1"), "a1 issued")
	if pending, _ = c.PendingAdmissions(ctx, campaigns, before.Add(time.Hour), 100); len(pending) != 1 || pending[0].UserID != "u1" {
		t.Fatalf("after a1 was issued: pending = %v, want only spring/u1", pending)
	}
	v, err := c.Campaign(ctx, "spring")
	testenv.Must(t, err, "campaign")
	if v.Accepted != 3 || v.Issued != 1 || v.Rejected != 1 {
		t.Fatalf("spring = %+v, want accepted 3 (u1, u2, u4) issued 1 rejected 1", v)
	}
	if s, _ := c.CouponStatus(ctx, "spring", "u4"); s != (projections.CouponView{Status: "rejected", Reason: "sold_out"}) {
		t.Fatalf("u4 = %+v", s)
	}
}

// A repair restores every outcome the event store holds as an admission,
// keeps admissions still pending, counts nobody twice, and only then opens.
func TestRestoreOutcomesThenOpenRebuildsTheCountExactly(t *testing.T) {
	c := newCampaigns(t)
	ctx := context.Background()
	testenv.Must(t, c.SaveTerms(ctx, "spring", "Spring", 5), "terms from the projection")
	testenv.Must(t, c.MarkIssued(ctx, "spring", "u1", "coupon-1"), "u1 issued via Kafka meanwhile")
	if known, ready, err := c.GateState(ctx, "spring"); err != nil || !known || ready {
		t.Fatalf("gate state = %v %v %v, want known, not ready", known, ready, err)
	}
	outcomes := []coupon.Outcome{{UserID: "u1", CouponID: "coupon-1"}, {UserID: "u2", CouponID: "coupon-2"}, {UserID: "u3", Reason: "sold_out"}}
	testenv.Must(t, c.RestoreOutcomes(ctx, "spring", outcomes), "restore")
	testenv.Must(t, c.RestoreOutcomes(ctx, "spring", outcomes), "restore again")
	testenv.Must(t, c.Open(ctx, "spring", "Spring", 5), "open")
	v, err := c.Campaign(ctx, "spring")
	testenv.Must(t, err, "campaign")
	if v != (projections.CampaignView{ID: "spring", Name: "Spring", Limit: 5, Accepted: 3, Issued: 2, Rejected: 1, Status: "open"}) {
		t.Fatalf("view = %+v", v)
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		if _, err := c.Admit(ctx, "spring", u); !errors.Is(err, coupon.ErrAlreadyApplied) {
			t.Fatalf("%s re-applies after the repair: %v", u, err)
		}
	}
	for i, u := range []string{"u4", "u5"} {
		if _, err := c.Admit(ctx, "spring", u); err != nil {
			t.Fatalf("admission %d: %v", i, err)
		}
	}
	if _, err := c.Admit(ctx, "spring", "u6"); !errors.Is(err, coupon.ErrSoldOut) {
		t.Fatalf("over the limit after the repair: %v", err)
	}
}
