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

// EventTypes lists the events of this package, for decoding stored history.
func EventTypes() []domain.Event { return []domain.Event{CampaignOpened{}, CouponIssued{}} }
