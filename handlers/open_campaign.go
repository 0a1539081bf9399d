package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignGateOpener opens the gate of a campaign that was just created.
type CampaignGateOpener interface {
	Open(ctx context.Context, campaignID, name string, limit int) error
	// GateState says whether the gate holds the campaign's terms and admits.
	GateState(ctx context.Context, campaignID string) (known, ready bool, err error)
}

// OpenCampaignHandler records CampaignOpened and opens the campaign's gate.
// The API runs it synchronously: success means applications can be
// accepted. Repeating it with the same terms is harmless and never lowers
// what was admitted: the gate of an existing campaign is left as it is, or,
// if Redis lost it, rebuilt from the event store (coupon.ErrGateRepairing
// until then).
type OpenCampaignHandler struct {
	Campaigns CampaignRepository
	Gate      CampaignGateOpener
	Repairs   GateRepairer
	Clock     Clock
}

func (h OpenCampaignHandler) Handle(ctx context.Context, cmd *coupon.OpenCampaign) error {
	if err := coupon.ValidateCampaignID(cmd.CampaignID); err != nil {
		return err
	}
	var campaign *coupon.Campaign
	created := false
	err := retryOnConflict(func() error {
		var err error
		if campaign, err = h.Campaigns.LoadCampaign(ctx, cmd.CampaignID); err != nil {
			return err
		}
		if err := campaign.Open(*cmd, h.Clock.Now()); err != nil {
			return err
		}
		if len(campaign.Changes()) == 0 {
			return nil // open already, with the same terms
		}
		if err := h.Campaigns.SaveCampaign(ctx, campaign); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return err
	}
	if created {
		// Nothing can have been admitted to a campaign that did not exist.
		return h.Gate.Open(ctx, campaign.ID, campaign.Name, campaign.Limit)
	}
	_, ready, err := h.Gate.GateState(ctx, campaign.ID)
	if err != nil || ready {
		return err
	}
	h.Repairs.Start(campaign.ID)
	return coupon.ErrGateRepairing
}
