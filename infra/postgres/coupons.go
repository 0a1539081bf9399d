package postgres

import (
	"context"
	"database/sql"
	"errors"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/fault"
)

// CouponRepository stores campaigns and coupons as event streams. The
// database is the authority over the limit: each CouponIssued adds one to
// its campaign's campaign_quotas row in the same transaction, whose CHECK
// fails the transaction that would exceed the limit (coupon.ErrSoldOut),
// whatever the Redis gate admitted. A coupon's issued_coupons or
// rejected_coupons row is written in the same transaction as its event.
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
	var rows []Statement
	for _, e := range c.Changes() {
		if opened, ok := e.(coupon.CampaignOpened); ok {
			rows = append(rows, Statement{
				SQL:  `INSERT INTO campaign_quotas (campaign_id, coupon_limit) VALUES ($1, $2)`,
				Args: []any{opened.CampaignID, opened.Limit},
			})
		}
	}
	_, err := r.store.Append(ctx, coupon.CampaignStreamID(c.ID), c.Version(), c.Changes(), rows...)
	return err
}

func (r *CouponRepository) LoadCoupon(ctx context.Context, campaignID, userID string) (*coupon.Coupon, error) {
	history, err := r.store.Load(ctx, coupon.CouponStreamID(campaignID, userID))
	if err != nil {
		return nil, err
	}
	return coupon.LoadCoupon(history), nil
}

// SaveCoupon appends the coupon's new events. If issuing it would exceed its
// campaign's limit, nothing is written and the error is coupon.ErrSoldOut.
func (r *CouponRepository) SaveCoupon(ctx context.Context, c *coupon.Coupon) error {
	var rows []Statement
	for _, e := range c.Changes() {
		switch e := e.(type) {
		case coupon.CouponIssued:
			rows = append(rows,
				Statement{
					SQL:  `INSERT INTO issued_coupons (coupon_id, campaign_id, user_id, issued_at) VALUES ($1, $2, $3, $4)`,
					Args: []any{e.CouponID, e.CampaignID, e.UserID, e.IssuedAt},
				},
				// Last in the batch, so the campaign's row is locked for as
				// short a time as the commit takes.
				Statement{
					SQL:  `UPDATE campaign_quotas SET issued = issued + 1 WHERE campaign_id = $1`,
					Args: []any{e.CampaignID},
				})
		case coupon.CouponRejected:
			rows = append(rows, Statement{
				SQL:  `INSERT INTO rejected_coupons (campaign_id, user_id, reason, rejected_at) VALUES ($1, $2, $3, $4)`,
				Args: []any{e.CampaignID, e.UserID, e.Reason, e.RejectedAt},
			})
		}
	}
	_, err := r.store.Append(ctx, coupon.CouponStreamID(c.CampaignID, c.UserID), c.Version(), c.Changes(), rows...)
	if fault.Constraint(err) == "campaign_quotas_within_limit" {
		return coupon.ErrSoldOut
	}
	return err
}

// Quota is what the database holds of a campaign's limit.
type Quota struct {
	CampaignID string
	Limit      int
	Issued     int
}

// Quota reads a campaign's limit and issued count; ok is false for a
// campaign that was never opened.
func (r *CouponRepository) Quota(ctx context.Context, campaignID string) (q Quota, ok bool, err error) {
	q.CampaignID = campaignID
	err = r.store.db.QueryRowContext(ctx, `SELECT coupon_limit, issued FROM campaign_quotas WHERE campaign_id = $1`, campaignID).Scan(&q.Limit, &q.Issued)
	if errors.Is(err, sql.ErrNoRows) {
		return q, false, nil
	}
	return q, err == nil, err
}

// CampaignIDs returns up to limit campaign ids after the given one, in
// order: the index that jobs walk instead of scanning Redis.
func (r *CouponRepository) CampaignIDs(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := r.store.db.QueryContext(ctx, `SELECT campaign_id FROM campaign_quotas WHERE campaign_id > $1 ORDER BY campaign_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Outcomes returns up to limit final outcomes of a campaign, for users
// after afterUser in order: what a repair of the campaign's gate restores.
func (r *CouponRepository) Outcomes(ctx context.Context, campaignID, afterUser string, limit int) ([]coupon.Outcome, error) {
	rows, err := r.store.db.QueryContext(ctx, `
		SELECT user_id, coupon_id::text, '' FROM issued_coupons WHERE campaign_id = $1 AND user_id > $2
		UNION ALL
		SELECT user_id, '', reason FROM rejected_coupons WHERE campaign_id = $1 AND user_id > $2
		ORDER BY 1 LIMIT $3`, campaignID, afterUser, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []coupon.Outcome
	for rows.Next() {
		var o coupon.Outcome
		if err := rows.Scan(&o.UserID, &o.CouponID, &o.Reason); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// CountIssued counts the rows of issued_coupons of a campaign.
func (r *CouponRepository) CountIssued(ctx context.Context, campaignID string) (int, error) {
	var n int
	err := r.store.db.QueryRowContext(ctx, `SELECT count(*) FROM issued_coupons WHERE campaign_id = $1`, campaignID).Scan(&n)
	return n, err
}
