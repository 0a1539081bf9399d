package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/alert"
)

// AcceptAlertHandler records the acceptance in the alert's stream, which
// decides: the first acceptor recorded wins; any later one (possible only
// if Redis lost the claim) is recorded as refused, and told so.
type AcceptAlertHandler struct {
	Alerts AlertRepository
	Clock  Clock
}

func (h AcceptAlertHandler) HandlerName() string { return "AcceptAlertHandler" }

func (h AcceptAlertHandler) Handle(ctx context.Context, cmd *alert.AcceptAlert) error {
	return retryOnConflict(func() error {
		a, err := h.Alerts.Load(ctx, cmd.AlertID)
		if err != nil {
			return err
		}
		if err := a.Accept(*cmd, h.Clock.Now()); err != nil {
			return err
		}
		return h.Alerts.Save(ctx, a)
	})
}
