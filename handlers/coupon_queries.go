package handlers

import (
	"context"
	"errors"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/projections"
)

// CouponReadModel reads the coupon flow's read models (Redis).
type CouponReadModel interface {
	Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error)
	CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error)
	GateState(ctx context.Context, campaignID string) (known, ready bool, err error)
}

// CouponQueries answers from the read models, and never says "not found"
// for what the event store holds: when Redis lost a campaign, the answer is
// coupon.ErrGateRepairing (503, retry shortly) while its gate is rebuilt.
type CouponQueries struct {
	ReadModel CouponReadModel
	Repairs   GateRepairer
}

// Campaign is a campaign's view.
func (q CouponQueries) Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error) {
	v, err := q.ReadModel.Campaign(ctx, campaignID)
	switch {
	case errors.Is(err, coupon.ErrCampaignNotFound):
		return v, q.Repairs.Missing(ctx, campaignID)
	case errors.Is(err, coupon.ErrGateRepairing):
		q.Repairs.Start(campaignID)
	}
	return v, err
}

// CouponStatus is one user's coupon status.
func (q CouponQueries) CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error) {
	userID, err := coupon.NormalizeUserID(userID)
	if err != nil {
		return projections.CouponView{}, err
	}
	v, err := q.ReadModel.CouponStatus(ctx, campaignID, userID)
	if !errors.Is(err, coupon.ErrCouponNotFound) {
		return v, err
	}
	known, ready, gateErr := q.ReadModel.GateState(ctx, campaignID)
	switch {
	case gateErr != nil:
		return v, gateErr
	case ready:
		return v, err // the gate is whole: this user has no application
	case !known:
		if missing := q.Repairs.Missing(ctx, campaignID); !errors.Is(missing, coupon.ErrCampaignNotFound) {
			return v, missing
		}
		return v, err
	}
	q.Repairs.Start(campaignID)
	return v, coupon.ErrGateRepairing
}
