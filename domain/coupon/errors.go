package coupon

import "github.com/surge-platform/surge/domain"

// Outcomes of the admission gate.
var (
	ErrCampaignNotFound = domain.NotFound("campaign_not_found", "no campaign with that id")
	ErrAlreadyApplied   = domain.Conflict("already_applied", "this user already applied to this campaign")
	ErrSoldOut          = domain.Gone("sold_out", "all coupons of this campaign are taken")
	ErrCouponNotFound   = domain.NotFound("coupon_not_found", "this user has no application in this campaign")
)

// ErrGateRepairing: the gate lost its state (Redis lost data) and is being
// rebuilt from the event store; applying again in a moment works. Nothing
// was taken.
var ErrGateRepairing = domain.Unavailable("gate_repairing", "this campaign's admission gate is being rebuilt from the event store; try again in a moment")
