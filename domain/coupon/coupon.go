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
	version      int
	changes      []domain.Event
}

// LoadCoupon rebuilds a coupon from its history.
func LoadCoupon(history []domain.Event) *Coupon {
	c := &Coupon{}
	for _, e := range history {
		c.apply(e)
		c.version++
	}
	return c
}

// Version is the number of events the coupon was rebuilt from.
func (c *Coupon) Version() int { return c.version }

// Changes are the events recorded since the coupon was loaded.
func (c *Coupon) Changes() []domain.Event { return c.changes }

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
	c.record(CouponIssued{CouponID: couponID, CampaignID: cmd.CampaignID, UserID: cmd.UserID, IssuedAt: now.UTC()})
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
	c.record(CouponRejected{CampaignID: cmd.CampaignID, UserID: cmd.UserID, Reason: reason, RejectedAt: now.UTC()})
	return nil
}

func (c *Coupon) record(e domain.Event) {
	c.apply(e)
	c.changes = append(c.changes, e)
}

func (c *Coupon) apply(e domain.Event) {
	switch e := e.(type) {
	case CouponIssued:
		c.ID, c.CampaignID, c.UserID, c.Issued = e.CouponID, e.CampaignID, e.UserID, true
	case CouponRejected:
		c.CampaignID, c.UserID, c.Rejected, c.RejectReason = e.CampaignID, e.UserID, true, e.Reason
	}
}
