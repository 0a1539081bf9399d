package handlers

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/coupon"
)

// couponIDSpace makes coupon ids deterministic: the same user in the same
// campaign always gets the same id, so a redelivered command cannot mint a
// second coupon even in theory.
var couponIDSpace = uuid.MustParse("6f1c1f0e-5d5b-4c36-9a51-2a8f0b7c3e11")

// IssueCouponHandler issues the coupon of a user the gate admitted. The
// coupon is a stream of its own appended at expected version 0, so a
// redelivered command finds it issued (or rejected) and records nothing.
//
// The gate in Redis only answers fast; the database counts the coupons. If
// the campaign has none left when this coupon is written (the gate admitted
// more than the limit because Redis lost data), the user's coupon is
// rejected instead: a final status, never a coupon over the limit.
type IssueCouponHandler struct {
	Campaigns CampaignRepository
	Coupons   CouponRepository
	Clock     Clock
}

func (h IssueCouponHandler) HandlerName() string { return "IssueCouponHandler" }

func (h IssueCouponHandler) Handle(ctx context.Context, cmd *coupon.IssueCoupon) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	campaign, err := h.Campaigns.LoadCampaign(ctx, cmd.CampaignID)
	if err != nil {
		return err
	}
	couponID := uuid.NewSHA1(couponIDSpace, []byte(coupon.CouponStreamID(cmd.CampaignID, cmd.UserID))).String()
	return retryOnConflict(func() error {
		cp, err := h.Coupons.LoadCoupon(ctx, cmd.CampaignID, cmd.UserID)
		if err != nil {
			return err
		}
		if err := cp.Issue(campaign, *cmd, couponID, h.Clock.Now()); err != nil {
			return err
		}
		err = h.Coupons.SaveCoupon(ctx, cp)
		if !errors.Is(err, coupon.ErrSoldOut) {
			return err
		}
		// Nothing was written, and only a coupon without an outcome (a new
		// stream) tries to issue: reject it at the same version.
		rejected := coupon.LoadCoupon(nil)
		if err := rejected.Reject(*cmd, coupon.ReasonSoldOut, h.Clock.Now()); err != nil {
			return err
		}
		return h.Coupons.SaveCoupon(ctx, rejected)
	})
}
