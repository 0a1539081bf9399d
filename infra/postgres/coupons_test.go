package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/fault"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/correlation"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

var at = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func openCampaign(t *testing.T, repo *postgres.CouponRepository, id string, limit int) {
	t.Helper()
	c := coupon.LoadCampaign(nil)
	testenv.Must(t, c.Open(coupon.OpenCampaign{CampaignID: id, Name: "Campaign " + id, Limit: limit}, at), "open %s", id)
	testenv.Must(t, repo.SaveCampaign(context.Background(), c), "save %s", id)
}

func issue(repo *postgres.CouponRepository, campaign *coupon.Campaign, user string) error {
	cp := coupon.LoadCoupon(nil)
	cmd := coupon.IssueCoupon{CampaignID: campaign.ID, UserID: user}
	if err := cp.Issue(campaign, cmd, uuid.NewString(), at); err != nil {
		return err
	}
	return repo.SaveCoupon(context.Background(), cp)
}

// The database counts the coupons: however many writers race for the last
// ones, exactly the limit is issued, and a write past it fails with
// ErrSoldOut and writes nothing (no event, no row, no outbox message).
func TestQuotaIssuesExactlyTheLimitWhateverTheGateAdmitted(t *testing.T) {
	f := newFixture(t, 2)
	repo := postgres.NewCouponRepository(f.store)
	ctx := context.Background()
	openCampaign(t, repo, "spring", 10)
	campaign, err := repo.LoadCampaign(ctx, "spring")
	testenv.Must(t, err, "load")
	outboxBefore := f.outboxRows(t)

	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp := coupon.LoadCoupon(nil)
			user := fmt.Sprintf("u%02d", i)
			testenv.Must(t, cp.Issue(campaign, coupon.IssueCoupon{CampaignID: "spring", UserID: user}, fmt.Sprintf("00000000-0000-0000-0000-0000000000%02d", i), at), "issue")
			err := repo.SaveCoupon(ctx, cp)
			key := "issued"
			switch {
			case errors.Is(err, coupon.ErrSoldOut):
				key = "sold_out"
			case err != nil:
				key = err.Error()
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if outcomes["issued"] != 10 || outcomes["sold_out"] != 30 || len(outcomes) != 2 {
		t.Fatalf("outcomes = %v, want 10 issued and 30 sold_out", outcomes)
	}
	var events, rows, quota int
	testenv.Must(t, f.db.QueryRow(`SELECT count(*) FROM events WHERE event_type = 'coupon.issued.v1'`).Scan(&events), "events")
	testenv.Must(t, f.db.QueryRow(`SELECT count(*) FROM issued_coupons`).Scan(&rows), "rows")
	testenv.Must(t, f.db.QueryRow(`SELECT issued FROM campaign_quotas WHERE campaign_id = 'spring'`).Scan(&quota), "quota")
	if events != 10 || rows != 10 || quota != 10 || f.outboxRows(t)-outboxBefore != 10 {
		t.Fatalf("events=%d rows=%d quota=%d outbox=+%d, want 10 each", events, rows, quota, f.outboxRows(t)-outboxBefore)
	}
	q, ok, err := repo.Quota(ctx, "spring")
	if err != nil || !ok || q != (postgres.Quota{CampaignID: "spring", Limit: 10, Issued: 10}) {
		t.Fatalf("quota = %+v %v %v", q, ok, err)
	}
	if _, ok, _ := repo.Quota(ctx, "nope"); ok {
		t.Fatal("a campaign never opened has a quota")
	}
}

// A rejection is recorded with its row; the outcomes of a campaign are its
// issued and rejected users, in user order, a page at a time.
func TestRejectionsAndOutcomes(t *testing.T) {
	f := newFixture(t, 2)
	repo := postgres.NewCouponRepository(f.store)
	ctx := context.Background()
	openCampaign(t, repo, "spring", 2)
	openCampaign(t, repo, "autumn", 1)
	spring, _ := repo.LoadCampaign(ctx, "spring")
	autumn, _ := repo.LoadCampaign(ctx, "autumn")
	testenv.Must(t, issue(repo, spring, "b"), "issue b")
	testenv.Must(t, issue(repo, spring, "d"), "issue d")
	testenv.Must(t, issue(repo, autumn, "x"), "issue x")
	if err := issue(repo, spring, "a"); !errors.Is(err, coupon.ErrSoldOut) {
		t.Fatalf("third coupon of two: %v", err)
	}
	rejected := coupon.LoadCoupon(nil)
	testenv.Must(t, rejected.Reject(coupon.IssueCoupon{CampaignID: "spring", UserID: "a"}, coupon.ReasonSoldOut, at), "reject")
	testenv.Must(t, repo.SaveCoupon(ctx, rejected), "save rejection")
	loaded, err := repo.LoadCoupon(ctx, "spring", "a")
	testenv.Must(t, err, "load a")
	if !loaded.Rejected || loaded.Issued || loaded.Version() != 1 {
		t.Fatalf("a = %+v", loaded)
	}

	page1, err := repo.Outcomes(ctx, "spring", "", 2)
	testenv.Must(t, err, "page 1")
	page2, err := repo.Outcomes(ctx, "spring", page1[len(page1)-1].UserID, 2)
	testenv.Must(t, err, "page 2")
	all := append(page1, page2...)
	if len(all) != 3 || all[0] != (coupon.Outcome{UserID: "a", Reason: "sold_out"}) || all[1].UserID != "b" || all[1].CouponID == "" || all[2].UserID != "d" {
		t.Fatalf("outcomes = %+v", all)
	}
	ids, err := repo.CampaignIDs(ctx, "", 10)
	testenv.Must(t, err, "campaign ids")
	if fmt.Sprint(ids) != "[autumn spring]" {
		t.Fatalf("campaign ids = %v", ids)
	}
	if ids, _ := repo.CampaignIDs(ctx, "autumn", 10); fmt.Sprint(ids) != "[spring]" {
		t.Fatalf("campaign ids after autumn = %v", ids)
	}
}

// Data PostgreSQL refuses (invalid UTF-8 in the correlation id) is a
// permanent failure: no retry can fix it.
func TestRefusedDataIsPermanent(t *testing.T) {
	f := newFixture(t, 2)
	ctx := correlation.With(context.Background(), "bad\xff\xfe")
	_, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
	if err == nil || !fault.IsPermanent(err) || fault.SQLState(err) != "22021" {
		t.Fatalf("err = %v (state %q), want a permanent 22021", err, fault.SQLState(err))
	}
	// A version conflict is not permanent: the handler reloads and decides again.
	_, err = f.store.Append(context.Background(), "coupon/spring/u2", 0, []domain.Event{issued("u2")})
	testenv.Must(t, err, "append")
	_, err = f.store.Append(context.Background(), "coupon/spring/u2", 0, []domain.Event{issued("u2")})
	if !errors.Is(err, domain.ErrConcurrentModification) || fault.IsPermanent(err) {
		t.Fatalf("conflict err = %v", err)
	}
}

// ReadCommitted never steps over an event whose transaction is still
// running: a later event committed meanwhile waits until it is done.
func TestReadCommittedWaitsForTransactionsStillRunning(t *testing.T) {
	f := newFixture(t, 2)
	ctx := context.Background()
	_, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
	testenv.Must(t, err, "append u1")

	slow, err := f.db.BeginTx(ctx, nil)
	testenv.Must(t, err, "begin")
	defer slow.Rollback() //nolint:errcheck
	_, err = slow.ExecContext(ctx, `INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, occurred_at)
		VALUES (gen_random_uuid(), 'coupon/spring/slow', 1, 'coupon.issued.v1', 1, '{"couponId":"s","campaignId":"spring","userId":"slow"}', now())`)
	testenv.Must(t, err, "insert in the slow transaction")
	_, err = f.store.Append(ctx, "coupon/spring/u2", 0, []domain.Event{issued("u2")})
	testenv.Must(t, err, "append u2 after the slow transaction began")

	// Transaction ids are the whole server's: a transaction still running
	// in another test's database holds the horizon back as well, so wait
	// for u1 to become readable; u2 must not come with it.
	var got []projections.StoredEvent
	var cp projections.Checkpoint
	testenv.Eventually(t, 20*time.Second, "u1 readable", func() bool {
		got, cp, err = f.store.ReadCommitted(ctx, projections.Checkpoint{}, 100)
		testenv.Must(t, err, "read")
		return len(got) > 0
	})
	if len(got) != 1 || got[0].StreamID != "coupon/spring/u1" {
		t.Fatalf("while the slow transaction runs: %v, want only u1", streams(got))
	}
	testenv.Must(t, slow.Commit(), "commit the slow one")
	var rest []projections.StoredEvent
	var cp2 projections.Checkpoint
	testenv.Eventually(t, 20*time.Second, "slow and u2 readable", func() bool {
		rest, cp2, err = f.store.ReadCommitted(ctx, cp, 100)
		testenv.Must(t, err, "read the rest")
		return len(rest) >= 2
	})
	if fmt.Sprint(streams(rest)) != "[coupon/spring/slow coupon/spring/u2]" {
		t.Fatalf("after it committed: %v, want slow then u2", streams(rest))
	}
	if e := rest[0].Event.(coupon.CouponIssued); e.UserID != "slow" {
		t.Fatalf("decoded %+v", e)
	}
	if again, _, _ := f.store.ReadCommitted(ctx, cp2, 100); len(again) != 0 {
		t.Fatalf("read past the end: %v", streams(again))
	}
	testenv.Must(t, f.store.SaveCheckpoint(ctx, "test", cp2), "save checkpoint")
	if loaded, err := f.store.LoadCheckpoint(ctx, "test"); err != nil || loaded != cp2 {
		t.Fatalf("checkpoint = %+v %v, want %+v", loaded, err, cp2)
	}
	if none, _ := f.store.LoadCheckpoint(ctx, "other"); none != (projections.Checkpoint{}) {
		t.Fatalf("a checkpoint never saved = %+v", none)
	}
}

func streams(events []projections.StoredEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.StreamID)
	}
	return out
}
