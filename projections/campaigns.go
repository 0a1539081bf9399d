// Package projections turns events into read models: Redis for what the
// API reads, memory for a replay's report. Every projection has one
// On<Event> method per event it applies, is idempotent under at-least-once
// delivery, and can be rebuilt by replaying the event store through those
// same methods (internal/flow.Dispatcher).
package projections

import (
	"context"

	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignStore is the campaign read model in Redis.
type CampaignStore interface {
	// SaveTerms records a campaign's terms; it never opens the gate (only
	// the API, for a new campaign, and a gate repair do).
	SaveTerms(ctx context.Context, campaignID, name string, limit int) error
	MarkIssued(ctx context.Context, campaignID, userID, couponID string) error
	MarkRejected(ctx context.Context, campaignID, userID, reason string) error
}

// CampaignProjection keeps campaign terms and per-user coupon status.
// Every write is set-if-absent, so applying an event twice changes nothing;
// events of different streams may arrive in any order.
type CampaignProjection struct{ Store CampaignStore }

// Name is the projection's consumer group. Never rename it.
func (CampaignProjection) Name() string { return "CampaignProjection" }

func (p CampaignProjection) OnCampaignOpened(ctx context.Context, e *coupon.CampaignOpened) error {
	return p.Store.SaveTerms(ctx, e.CampaignID, e.Name, e.Limit)
}

func (p CampaignProjection) OnCouponIssued(ctx context.Context, e *coupon.CouponIssued) error {
	return p.Store.MarkIssued(ctx, e.CampaignID, e.UserID, e.CouponID)
}

func (p CampaignProjection) OnCouponRejected(ctx context.Context, e *coupon.CouponRejected) error {
	return p.Store.MarkRejected(ctx, e.CampaignID, e.UserID, e.Reason)
}

// CampaignView is the read model of a campaign: Accepted is how many the
// gate admitted, Issued and Rejected how many have that outcome.
type CampaignView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Limit    int    `json:"limit"`
	Accepted int    `json:"accepted"`
	Issued   int    `json:"issued"`
	Rejected int    `json:"rejected"`
	Status   string `json:"status"` // open | sold_out
}

// CouponView is one user's coupon status: pending (admitted), issued (with
// the coupon id) or rejected (with the reason).
type CouponView struct {
	Status   string `json:"status"`
	CouponID string `json:"couponId,omitempty"`
	Reason   string `json:"reason,omitempty"`
}
