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
	Index     CampaignIndex
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

// Campaigns lists up to limit campaigns after the given id, in id order,
// and the cursor of the next page ("" on the last). A campaign whose read
// model is being repaired is listed with status "repairing".
func (q CouponQueries) Campaigns(ctx context.Context, after string, limit int) ([]projections.CampaignView, string, error) {
	ids, err := q.Index.CampaignIDs(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ids) > limit {
		ids, next = ids[:limit], ids[limit-1]
	}
	views := make([]projections.CampaignView, 0, len(ids))
	for _, id := range ids {
		v, err := q.Campaign(ctx, id)
		switch {
		case err == nil:
		case errors.Is(err, coupon.ErrGateRepairing), errors.Is(err, coupon.ErrCampaignNotFound):
			v = projections.CampaignView{ID: id, Status: "repairing"}
		default:
			return nil, "", err
		}
		views = append(views, v)
	}
	return views, next, nil
}
