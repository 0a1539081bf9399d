package coupon

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Coupon is one user's coupon in one campaign. It ends issued or rejected,
// once: whichever is recorded first is final.
type Coupon struct {
	ID           string
	CampaignID   string
	UserID       string
	Issued       bool
	Rejected     bool
	RejectReason string
	domain.Root
}

// LoadCoupon rebuilds a coupon from its history.
func LoadCoupon(history []domain.Event) *Coupon {
	c := &Coupon{}
	c.Replay(history, c.apply)
	return c
}

// Final says whether the coupon has its outcome (issued or rejected).
func (c *Coupon) Final() bool { return c.Issued || c.Rejected }

// Issue records CouponIssued for an admitted user. The campaign must exist;
// a coupon that already has its outcome records nothing (a redelivered
// command).
func (c *Coupon) Issue(campaign *Campaign, cmd IssueCoupon, couponID string, now time.Time) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	if !campaign.Exists() || campaign.ID != cmd.CampaignID {
		return domain.Invalid("campaign_not_found", "campaign %q was never opened", cmd.CampaignID)
	}
	if c.Final() {
		return nil
	}
	c.Record(CouponIssued{CouponID: couponID, CampaignID: cmd.CampaignID, UserID: cmd.UserID, IssuedAt: now.UTC()}, c.apply)
	return nil
}

// Reject records CouponRejected for an admitted user who cannot have a
// coupon (reason: ReasonSoldOut). A coupon that already has its outcome
// records nothing.
func (c *Coupon) Reject(cmd IssueCoupon, reason string, now time.Time) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	if c.Final() {
		return nil
	}
	c.Record(CouponRejected{CampaignID: cmd.CampaignID, UserID: cmd.UserID, Reason: reason, RejectedAt: now.UTC()}, c.apply)
	return nil
}

func (c *Coupon) apply(e domain.Event) {
	switch e := e.(type) {
	case CouponIssued:
		c.ID, c.CampaignID, c.UserID, c.Issued = e.CouponID, e.CampaignID, e.UserID, true
	case CouponRejected:
		c.CampaignID, c.UserID, c.Rejected, c.RejectReason = e.CampaignID, e.UserID, true, e.Reason
	}
}
