package projections

import (
	"context"
	"encoding/json"
	"io"
	"sort"

	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignReport is the coupon flow's analytics over the whole history
// (`surge replay coupons`): per campaign, its limit and how many coupons
// were issued and rejected. It lives in memory for one replay.
type CampaignReport struct {
	campaigns map[string]*CampaignStats
}

// CampaignStats are one campaign's numbers.
type CampaignStats struct {
	ID       string `json:"id"`
	Limit    int    `json:"limit"`
	Issued   int    `json:"issued"`
	Rejected int    `json:"rejected"`
}

// Reset forgets the campaigns seen.
func (r *CampaignReport) Reset() { r.campaigns = nil }

func (r *CampaignReport) stats(id string) *CampaignStats {
	if r.campaigns == nil {
		r.campaigns = map[string]*CampaignStats{}
	}
	s := r.campaigns[id]
	if s == nil {
		s = &CampaignStats{ID: id}
		r.campaigns[id] = s
	}
	return s
}

func (r *CampaignReport) OnCampaignOpened(_ context.Context, e *coupon.CampaignOpened) error {
	r.stats(e.CampaignID).Limit = e.Limit
	return nil
}

func (r *CampaignReport) OnCouponIssued(_ context.Context, e *coupon.CouponIssued) error {
	r.stats(e.CampaignID).Issued++
	return nil
}

func (r *CampaignReport) OnCouponRejected(_ context.Context, e *coupon.CouponRejected) error {
	r.stats(e.CampaignID).Rejected++
	return nil
}

// Campaigns are the numbers, by campaign id.
func (r *CampaignReport) Campaigns() []CampaignStats {
	out := make([]CampaignStats, 0, len(r.campaigns))
	for _, s := range r.campaigns {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Write prints the report as JSON.
func (r *CampaignReport) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"campaigns": r.Campaigns()})
}
