package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/surge-platform/surge/domain/alert"
)

// RequestCancellation is the raiser calling an alert off.
type RequestCancellation struct {
	AlertID string
	By      Resident
}

// RequestCancellationHandler answers the raiser at once from the Redis claim
// (only the raiser, only while no one accepted) and sends CancelAlert; the
// alert's stream has the last word (CancelAlertHandler).
type RequestCancellationHandler struct {
	Claims   AlertClaims
	Alerts   AlertRepository
	Commands CommandSender
}

// Handle returns the alert's complex on success.
func (h RequestCancellationHandler) Handle(ctx context.Context, r RequestCancellation) (string, error) {
	house, err := alert.NormalizeHouse(r.By.House)
	if err != nil {
		return "", err
	}
	complexID, err := authorizedComplex(ctx, h.Claims, h.Alerts, r.AlertID, r.By.ComplexID)
	if err != nil {
		return "", err
	}
	first, err := h.Claims.ClaimCancel(ctx, r.AlertID, house)
	if err != nil {
		return "", err // not the raiser, already accepted, Redis down
	}
	// A retried request (!first) sends the command too: the first one's
	// send may still fail, and a 202 means the cancellation is stored. The
	// stream takes it once.
	if err := h.Commands.Send(ctx, alert.CancelAlert{AlertID: r.AlertID, ComplexID: complexID, House: house}); err != nil {
		if first {
			if relErr := h.Claims.ReleaseCancel(context.WithoutCancel(ctx), r.AlertID); relErr != nil {
				err = errors.Join(err, relErr)
			}
		}
		return "", fmt.Errorf("send CancelAlert: %w", err)
	}
	return complexID, nil
}
