package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

// AdmissionGate is the fast path in front of the database's count (Redis):
// one atomic step per applicant decides "admitted", "already applied" or
// "sold out". Admit answers coupon.ErrCampaignNotFound when it holds nothing
// for the campaign, and coupon.ErrGateRepairing while its state is restored.
type AdmissionGate interface {
	Admit(ctx context.Context, campaignID, userID string) (token string, err error)
	// Release gives back the slot of the admission with token, if the user
	// has no outcome yet; it reports whether it did.
	Release(ctx context.Context, campaignID, userID, token string) (bool, error)
}

// GateRepairer rebuilds a campaign's gate from the event store.
type GateRepairer interface {
	// Missing answers for a campaign the gate holds nothing of:
	// coupon.ErrCampaignNotFound if the event store does not know it either,
	// else coupon.ErrGateRepairing, with a repair started.
	Missing(ctx context.Context, campaignID string) error
	// Start asks for a repair of the campaign's gate, without waiting.
	Start(campaignID string)
}

// ErrAdmissionUnsettled: an earlier attempt of this user has an unknown
// outcome that Redis could not settle yet; nothing was taken, try again.
var ErrAdmissionUnsettled = domain.Unavailable("unavailable", "an earlier attempt is being settled; nothing was taken, try again shortly")

// ApplyForCoupon is a user's application to a campaign.
type ApplyForCoupon struct {
	CampaignID string
	UserID     string
}

// ApplyForCouponHandler admits an applicant at the gate and sends
// IssueCoupon; success means the command is stored in Kafka and the user
// will end issued or rejected. Any failure means nothing was taken: a slot
// whose command could not be sent is given back, and an admission whose
// outcome is unknown (Redis timed out after the script was sent) is given
// back by Ambiguous once Redis answers again.
type ApplyForCouponHandler struct {
	Gate      AdmissionGate
	Commands  CommandSender
	Repairs   GateRepairer
	Ambiguous *ReleaseAmbiguousAdmissions
}

// Handle returns the normalised user id the application was made for.
func (h ApplyForCouponHandler) Handle(ctx context.Context, cmd ApplyForCoupon) (userID string, err error) {
	userID, err = coupon.NormalizeUserID(cmd.UserID)
	if err != nil {
		return "", err
	}
	issue := coupon.IssueCoupon{CampaignID: cmd.CampaignID, UserID: userID}
	if err := issue.Validate(); err != nil {
		return "", err
	}
	// An earlier attempt of this user on this instance may have an unknown
	// outcome: settle it first, so the user is not told "already applied"
	// for an admission that was never sent. If Redis cannot settle it now,
	// the outcome is still unknown: 503 again, rather than an admission
	// that would find the user's own unsent one.
	if !h.Ambiguous.ReleaseNow(ctx, issue.CampaignID, userID) {
		return "", ErrAdmissionUnsettled
	}

	token, err := h.Gate.Admit(ctx, issue.CampaignID, userID)
	switch {
	case errors.Is(err, coupon.ErrCampaignNotFound):
		return "", h.Repairs.Missing(ctx, issue.CampaignID)
	case errors.Is(err, coupon.ErrGateRepairing):
		h.Repairs.Start(issue.CampaignID)
		return "", err
	case domain.KindOf(err) != 0:
		return "", err // already applied, sold out
	case err != nil:
		// The script may have run: whatever it took is given back.
		h.Ambiguous.Add(issue.CampaignID, userID, token)
		return "", fmt.Errorf("admit: %w", err)
	}
	if err := h.Commands.Send(ctx, issue); err != nil {
		// Not stored: give the slot back so someone else can have it.
		if _, relErr := h.Gate.Release(context.WithoutCancel(ctx), issue.CampaignID, userID, token); relErr != nil {
			h.Ambiguous.Add(issue.CampaignID, userID, token)
		}
		return "", fmt.Errorf("send IssueCoupon: %w", err)
	}
	return userID, nil
}
