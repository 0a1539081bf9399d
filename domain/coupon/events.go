package coupon

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// CampaignOpened: a campaign accepts applications up to Limit.
type CampaignOpened struct {
	CampaignID string    `json:"campaignId"`
	Name       string    `json:"name"`
	Limit      int       `json:"limit"`
	OpenedAt   time.Time `json:"openedAt"`
}

func (CampaignOpened) WireName() string { return "coupon.campaign_opened.v1" }

// CouponIssued: a user holds a coupon of a campaign.
type CouponIssued struct {
	CouponID   string    `json:"couponId"`
	CampaignID string    `json:"campaignId"`
	UserID     string    `json:"userId"`
	IssuedAt   time.Time `json:"issuedAt"`
}

func (CouponIssued) WireName() string { return "coupon.issued.v1" }

// CouponRejected: a user the gate admitted gets no coupon, because the
// campaign had none left when the coupon was to be written. The gate in
// Redis only answers fast; the database counts the coupons, so this happens
// only when Redis lost track of admissions (flushed, failed over empty).
// It is the user's final status, never silence.
type CouponRejected struct {
	CampaignID string    `json:"campaignId"`
	UserID     string    `json:"userId"`
	Reason     string    `json:"reason"`
	RejectedAt time.Time `json:"rejectedAt"`
}

func (CouponRejected) WireName() string { return "coupon.rejected.v1" }

// ReasonSoldOut: every coupon of the campaign was issued to someone else.
const ReasonSoldOut = "sold_out"

// EventTypes lists the events of this package, for decoding stored history.
func EventTypes() []domain.Event {
	return []domain.Event{CampaignOpened{}, CouponIssued{}, CouponRejected{}}
}

// Outcome is a user's final outcome in a campaign, as the event store
// records it: issued (CouponID set) or rejected (Reason set).
type Outcome struct {
	UserID   string
	CouponID string
	Reason   string
}
