package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/alert"
)

// CancelAlertHandler records the cancellation in the alert's stream, unless
// an acceptance was recorded first (the raiser is then told it was refused).
type CancelAlertHandler struct {
	Alerts AlertRepository
	Clock  Clock
}

func (h CancelAlertHandler) HandlerName() string { return "CancelAlertHandler" }

func (h CancelAlertHandler) Handle(ctx context.Context, cmd *alert.CancelAlert) error {
	return retryOnConflict(func() error {
		a, err := h.Alerts.Load(ctx, cmd.AlertID)
		if err != nil {
			return err
		}
		if err := a.Cancel(*cmd, h.Clock.Now()); err != nil {
			return err
		}
		return h.Alerts.Save(ctx, a)
	})
}
