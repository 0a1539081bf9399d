package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

// couponIDSpace makes coupon ids deterministic: the same user in the same
// campaign always gets the same id, so a redelivered command cannot mint a
// second coupon even in theory.
var couponIDSpace = uuid.MustParse("6f1c1f0e-5d5b-4c36-9a51-2a8f0b7c3e11")

// IssueCouponHandler issues the coupon of a user the gate admitted. The
// coupon is a stream of its own appended at expected version 0, so a
// redelivered command finds it issued and records nothing.
type IssueCouponHandler struct {
	Campaigns CampaignRepository
	Coupons   CouponRepository
	Now       func() time.Time
}

func (h IssueCouponHandler) HandlerName() string { return "IssueCouponHandler" }

func (h IssueCouponHandler) NewCommand() any { return &coupon.IssueCoupon{} }

func (h IssueCouponHandler) Handle(ctx context.Context, c any) error {
	cmd := c.(*coupon.IssueCoupon)
	if err := cmd.Validate(); err != nil {
		return err
	}
	campaign, err := h.Campaigns.LoadCampaign(ctx, cmd.CampaignID)
	if err != nil {
		return err
	}
	couponID := uuid.NewSHA1(couponIDSpace, []byte(coupon.CouponStreamID(cmd.CampaignID, cmd.UserID))).String()
	for attempt := 0; ; attempt++ {
		cp, err := h.Coupons.LoadCoupon(ctx, cmd.CampaignID, cmd.UserID)
		if err != nil {
			return err
		}
		now := time.Now()
		if h.Now != nil {
			now = h.Now()
		}
		if err := cp.Issue(campaign, *cmd, couponID, now); err != nil {
			return err
		}
		err = h.Coupons.SaveCoupon(ctx, cp)
		if errors.Is(err, domain.ErrConcurrentModification) && attempt == 0 {
			continue // a concurrent delivery won; reload and find it issued
		}
		return err
	}
}
