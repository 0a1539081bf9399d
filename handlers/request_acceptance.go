package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
)

// AlertClaims is the alerts' fast path in Redis: atomic across API
// instances, it answers acceptors and raisers at once. domain.ErrNotInFastPath
// means Redis holds nothing of the alert (never raised, or Redis lost it).
type AlertClaims interface {
	ClaimAccept(ctx context.Context, alertID, house string) (won bool, winner string, err error)
	ClaimCancel(ctx context.Context, alertID, house string) (first bool, err error)
	ReleaseAccept(ctx context.Context, alertID, house string) error
	ReleaseCancel(ctx context.Context, alertID string) error
	// Restore writes an alert rebuilt from its stream, if Redis holds
	// nothing of it.
	Restore(ctx context.Context, a *alert.Alert) error
	// Complex is the alert's complex as Redis knows it.
	Complex(ctx context.Context, alertID string) (string, error)
}

// Resident is who acts: the house, and (with resident tokens) the complex
// the token is for ("" when the flow is open).
type Resident struct {
	ComplexID string
	House     string
}

// RequestAcceptance is a resident's offer to take an alert on.
type RequestAcceptance struct {
	AlertID string
	By      Resident
}

// RequestAcceptanceHandler answers an acceptor at once from the Redis claim
// (the first one wins, across API instances) and sends AcceptAlert; the
// alert's stream has the last word (AcceptAlertHandler). If Redis lost the
// alert, it is restored from the stream first: an alert that exists is
// never answered 404.
type RequestAcceptanceHandler struct {
	Claims   AlertClaims
	Alerts   AlertRepository
	Commands CommandSender
}

// Handle returns the alert's complex on success.
func (h RequestAcceptanceHandler) Handle(ctx context.Context, r RequestAcceptance) (complexID string, err error) {
	house, err := alert.NormalizeHouse(r.By.House)
	if err != nil {
		return "", err
	}
	complexID, err = authorizedComplex(ctx, h.Claims, h.Alerts, r.AlertID, r.By.ComplexID)
	if err != nil {
		return "", err
	}
	if _, _, err := h.Claims.ClaimAccept(ctx, r.AlertID, house); err != nil {
		return "", err // own alert, cancelled, already accepted (naming the winner), Redis down
	}
	cmd := alert.AcceptAlert{AlertID: r.AlertID, ComplexID: complexID, House: house}
	if err := h.Commands.Send(ctx, cmd); err != nil {
		// Not stored: give the claim back so that someone else can accept.
		if relErr := h.Claims.ReleaseAccept(context.WithoutCancel(ctx), r.AlertID, house); relErr != nil {
			err = errors.Join(err, relErr)
		}
		return "", fmt.Errorf("send AcceptAlert: %w", err)
	}
	return complexID, nil
}

// authorizedComplex is the alert's complex, restoring the alert into Redis
// from its stream if Redis lost it, and checks the resident may act there.
func authorizedComplex(ctx context.Context, claims AlertClaims, alerts AlertRepository, alertID, residentComplex string) (string, error) {
	if !alert.ValidAlertID(alertID) {
		return "", alert.ErrNotFound
	}
	complexID, err := claims.Complex(ctx, alertID)
	if errors.Is(err, domain.ErrNotInFastPath) {
		a, loadErr := alerts.Load(ctx, alertID)
		if loadErr != nil {
			return "", loadErr
		}
		if !a.Exists() {
			return "", alert.ErrNotFound
		}
		if err := claims.Restore(ctx, a); err != nil {
			return "", err
		}
		complexID, err = a.ComplexID, nil
	}
	if err != nil {
		return "", err
	}
	if residentComplex != "" && residentComplex != complexID {
		return "", domain.Forbidden("wrong_complex", "this alert is not in your complex")
	}
	return complexID, nil
}
