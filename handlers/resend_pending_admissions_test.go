package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
)

type fakeAdmissions struct {
	pending []coupon.IssueCoupon
	before  time.Time
	asked   [][]string // the campaign ids of each call
	retried map[string]time.Time
}

func (f *fakeAdmissions) PendingAdmissions(_ context.Context, campaignIDs []string, before time.Time, limit int) ([]coupon.IssueCoupon, error) {
	f.before = before
	f.asked = append(f.asked, campaignIDs)
	var out []coupon.IssueCoupon
	for _, p := range f.pending {
		if slices.Contains(campaignIDs, p.CampaignID) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

// fakeIndex is the database's list of campaigns.
type fakeIndex []string

func (f fakeIndex) CampaignIDs(_ context.Context, after string, limit int) ([]string, error) {
	var out []string
	for _, id := range f {
		if id > after && len(out) < limit {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fakeAdmissions) AdmissionRetried(_ context.Context, campaignID, userID string, at time.Time) error {
	f.retried[campaignID+"/"+userID] = at
	return nil
}

type fakeSender struct {
	sent   []any
	failAt int // the (1-based) send that fails; 0: none
}

func (f *fakeSender) Send(_ context.Context, cmd any) error {
	if len(f.sent)+1 == f.failAt {
		return errors.New("kafka is down")
	}
	f.sent = append(f.sent, cmd)
	return nil
}

func TestResendPendingAdmissionsSendsEachOnceAndRestartsItsWait(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	admissions := &fakeAdmissions{retried: map[string]time.Time{}, pending: []coupon.IssueCoupon{
		{CampaignID: "c", UserID: "u1"}, {CampaignID: "c", UserID: "u2"}, {CampaignID: "d", UserID: "u3"},
	}}
	sender := &fakeSender{}
	r := handlers.ResendPendingAdmissions{Campaigns: fakeIndex{"c", "d"}, Admissions: admissions, Commands: sender, Grace: time.Minute, Batch: 2, Clock: func() time.Time { return now }}

	n, err := r.Once(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Once = %d, %v; want 2 (the batch)", n, err)
	}
	if !admissions.before.Equal(now.Add(-time.Minute)) {
		t.Fatalf("asked for admissions before %s, want %s", admissions.before, now.Add(-time.Minute))
	}
	if len(sender.sent) != 2 || sender.sent[0] != (coupon.IssueCoupon{CampaignID: "c", UserID: "u1"}) || sender.sent[1] != (coupon.IssueCoupon{CampaignID: "c", UserID: "u2"}) {
		t.Fatalf("sent %v", sender.sent)
	}
	if len(admissions.retried) != 2 || !admissions.retried["c/u1"].Equal(now) || !admissions.retried["c/u2"].Equal(now) {
		t.Fatalf("retried %v", admissions.retried)
	}
}

func TestResendPendingAdmissionsStopsAtAFailedSendWithoutMarkingIt(t *testing.T) {
	admissions := &fakeAdmissions{retried: map[string]time.Time{}, pending: []coupon.IssueCoupon{
		{CampaignID: "c", UserID: "u1"}, {CampaignID: "c", UserID: "u2"}, {CampaignID: "c", UserID: "u3"},
	}}
	sender := &fakeSender{failAt: 2}
	n, err := handlers.ResendPendingAdmissions{Campaigns: fakeIndex{"c"}, Admissions: admissions, Commands: sender, Grace: time.Minute}.Once(context.Background())
	if err == nil || n != 1 {
		t.Fatalf("Once = %d, %v; want 1 and the send error", n, err)
	}
	// u2 keeps its old admission time, so the next pass tries it again.
	if _, ok := admissions.retried["c/u1"]; !ok || len(admissions.retried) != 1 {
		t.Fatalf("retried %v, want only c/u1", admissions.retried)
	}
}

// The resender walks the campaigns the database knows, page by page (never
// the Redis keyspace), until it has a batch or runs out of campaigns.
func TestResendPendingAdmissionsWalksTheCampaignIndex(t *testing.T) {
	var index fakeIndex
	for i := range 1200 {
		index = append(index, fmt.Sprintf("c%04d", i))
	}
	admissions := &fakeAdmissions{retried: map[string]time.Time{}, pending: []coupon.IssueCoupon{
		{CampaignID: "c0003", UserID: "u1"}, {CampaignID: "c1150", UserID: "u2"},
	}}
	sender := &fakeSender{}
	n, err := handlers.ResendPendingAdmissions{Campaigns: index, Admissions: admissions, Commands: sender, Grace: time.Minute}.Once(context.Background())
	if err != nil || n != 2 || len(sender.sent) != 2 {
		t.Fatalf("Once = %d, %v; sent %v", n, err, sender.sent)
	}
	if len(admissions.asked) != 3 || len(admissions.asked[0]) != 500 || len(admissions.asked[2]) != 200 || admissions.asked[1][0] != "c0500" {
		t.Fatalf("asked %d pages of sizes %d/%d/%d", len(admissions.asked), len(admissions.asked[0]), len(admissions.asked[1]), len(admissions.asked[2]))
	}
}
