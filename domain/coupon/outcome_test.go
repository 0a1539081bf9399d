package coupon_test

import (
	"reflect"
	"testing"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

func TestRejectRecordsCouponRejectedOnceAndIsFinal(t *testing.T) {
	campaign := coupon.LoadCampaign([]domain.Event{opened("spring", 1)})
	cmd := coupon.IssueCoupon{CampaignID: "spring", UserID: "u2"}
	c := coupon.LoadCoupon(nil)
	if err := c.Reject(cmd, coupon.ReasonSoldOut, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{coupon.CouponRejected{CampaignID: "spring", UserID: "u2", Reason: "sold_out", RejectedAt: now}}
	if !reflect.DeepEqual(c.Changes(), want) {
		t.Fatalf("changes = %#v, want %#v", c.Changes(), want)
	}
	// Rejected is final: a redelivered command issues nothing, rejects nothing.
	again := coupon.LoadCoupon(c.Changes())
	if err := again.Issue(campaign, cmd, "id-u2", now); err != nil {
		t.Fatal(err)
	}
	if err := again.Reject(cmd, coupon.ReasonSoldOut, now); err != nil {
		t.Fatal(err)
	}
	if len(again.Changes()) != 0 || !again.Rejected || again.Issued || again.RejectReason != "sold_out" {
		t.Fatalf("after rejection: %+v", again)
	}
}

func TestIssuedCouponIsNeverRejected(t *testing.T) {
	cmd := coupon.IssueCoupon{CampaignID: "spring", UserID: "u1"}
	c := coupon.LoadCoupon([]domain.Event{coupon.CouponIssued{CouponID: "id-u1", CampaignID: "spring", UserID: "u1", IssuedAt: now}})
	if err := c.Reject(cmd, coupon.ReasonSoldOut, now); err != nil {
		t.Fatal(err)
	}
	if len(c.Changes()) != 0 || !c.Issued || c.Rejected {
		t.Fatalf("an issued coupon was rejected: %+v", c)
	}
}
