package postgres

import (
	"context"

	"github.com/surge-platform/surge/domain/coupon"
)

// CouponRepository stores campaigns and coupons as event streams. A coupon's
// row in issued_coupons is written in the same transaction as CouponIssued.
type CouponRepository struct{ store *EventStore }

// NewCouponRepository creates the repository on store.
func NewCouponRepository(store *EventStore) *CouponRepository { return &CouponRepository{store: store} }

func (r *CouponRepository) LoadCampaign(ctx context.Context, campaignID string) (*coupon.Campaign, error) {
	history, err := r.store.Load(ctx, coupon.CampaignStreamID(campaignID))
	if err != nil {
		return nil, err
	}
	return coupon.LoadCampaign(history), nil
}

func (r *CouponRepository) SaveCampaign(ctx context.Context, c *coupon.Campaign) error {
	_, err := r.store.Append(ctx, coupon.CampaignStreamID(c.ID), c.Version(), c.Changes())
	return err
}

func (r *CouponRepository) LoadCoupon(ctx context.Context, campaignID, userID string) (*coupon.Coupon, error) {
	history, err := r.store.Load(ctx, coupon.CouponStreamID(campaignID, userID))
	if err != nil {
		return nil, err
	}
	return coupon.LoadCoupon(history), nil
}

func (r *CouponRepository) SaveCoupon(ctx context.Context, c *coupon.Coupon) error {
	var rows []Statement
	for _, e := range c.Changes() {
		if issued, ok := e.(coupon.CouponIssued); ok {
			rows = append(rows, Statement{
				SQL:  `INSERT INTO issued_coupons (coupon_id, campaign_id, user_id, issued_at) VALUES ($1, $2, $3, $4)`,
				Args: []any{issued.CouponID, issued.CampaignID, issued.UserID, issued.IssuedAt},
			})
		}
	}
	_, err := r.store.Append(ctx, coupon.CouponStreamID(c.CampaignID, c.UserID), c.Version(), c.Changes(), rows...)
	return err
}

// CountIssued counts the rows of issued_coupons of a campaign.
func (r *CouponRepository) CountIssued(ctx context.Context, campaignID string) (int, error) {
	var n int
	err := r.store.db.QueryRowContext(ctx, `SELECT count(*) FROM issued_coupons WHERE campaign_id = $1`, campaignID).Scan(&n)
	return n, err
}
