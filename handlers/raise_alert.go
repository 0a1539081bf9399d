package handlers

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/alert"
)

// AlertRepository loads and saves alerts; Save gives each new event the
// next position of its complex's feed, in the same transaction.
type AlertRepository interface {
	Load(ctx context.Context, alertID string) (*alert.Alert, error)
	Save(ctx context.Context, a *alert.Alert) error
}

// AlertRaisedFastPath is the alert's hash in Redis, written as soon as the
// alert is stored so that an acceptance right after the 202 finds it.
type AlertRaisedFastPath interface {
	SaveRaised(ctx context.Context, e alert.AlertRaised) error
}

// RaiseAlert is a resident's call for help.
type RaiseAlert struct {
	ComplexID string
	House     string
	Text      string
	Lat, Lng  *float64
}

// RaiseAlertHandler stores the alert before it answers: AlertRaised and its
// feed entry in one transaction, so a 202 means the alert is durable and
// will be pushed even if this process dies the next instant. The API runs it
// synchronously.
type RaiseAlertHandler struct {
	Alerts   AlertRepository
	FastPath AlertRaisedFastPath
	Clock    Clock
	Logger   *slog.Logger
}

// Handle returns the stored event (its feed position aside).
func (h RaiseAlertHandler) Handle(ctx context.Context, r RaiseAlert) (alert.AlertRaised, error) {
	loc, err := alert.ValidateLocation(r.Lat, r.Lng)
	if err != nil {
		return alert.AlertRaised{}, err
	}
	cmd := alert.RaiseAlert{AlertID: uuid.NewString(), ComplexID: r.ComplexID, House: r.House, Text: r.Text, Location: loc}
	var raised alert.AlertRaised
	err = retryOnConflict(func() error {
		a, err := h.Alerts.Load(ctx, cmd.AlertID)
		if err != nil {
			return err
		}
		if err := a.Raise(cmd, h.Clock.Now()); err != nil {
			return err
		}
		if err := h.Alerts.Save(ctx, a); err != nil {
			return err
		}
		raised = a.Changes()[0].(alert.AlertRaised)
		return nil
	})
	if err != nil {
		return alert.AlertRaised{}, err
	}
	// The alert is stored; the fast path is only faster. If Redis fails,
	// the projection (and the acceptance's repair) fill it in.
	if err := h.FastPath.SaveRaised(context.WithoutCancel(ctx), raised); err != nil {
		h.Logger.WarnContext(ctx, "alert stored, but its Redis fast path was not written", "alert", raised.AlertID, "err", err)
	}
	return raised, nil
}
