package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignGate is the admission gate of a campaign (atomic per-user dedupe
// and counter). It must be open before the campaign accepts applications.
type CampaignGate interface {
	Open(ctx context.Context, campaignID, name string, limit int) error
}

// OpenCampaignHandler records CampaignOpened and opens the campaign's gate.
// The API runs it synchronously: the caller gets 201 only once applications
// can be accepted. Retrying it with the same terms is harmless.
type OpenCampaignHandler struct {
	Campaigns CampaignRepository
	Gate      CampaignGate
	Now       func() time.Time
}

func (h OpenCampaignHandler) HandlerName() string { return "OpenCampaignHandler" }

func (h OpenCampaignHandler) NewCommand() any { return &coupon.OpenCampaign{} }

func (h OpenCampaignHandler) Handle(ctx context.Context, c any) error {
	cmd := c.(*coupon.OpenCampaign)
	if err := coupon.ValidateCampaignID(cmd.CampaignID); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		campaign, err := h.Campaigns.LoadCampaign(ctx, cmd.CampaignID)
		if err != nil {
			return err
		}
		if err := campaign.Open(*cmd, h.now()); err != nil {
			return err
		}
		err = h.Campaigns.SaveCampaign(ctx, campaign)
		if errors.Is(err, domain.ErrConcurrentModification) && attempt == 0 {
			continue // someone opened it at the same moment: decide again
		}
		if err != nil {
			return err
		}
		return h.Gate.Open(ctx, campaign.ID, campaign.Name, campaign.Limit)
	}
}

func (h OpenCampaignHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
