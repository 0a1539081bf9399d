package handlers

import (
	"context"
	"errors"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/projections"
)

// AlertReadModel is the alerts' Redis read model.
type AlertReadModel interface {
	// Alert is the view (domain.ErrNotInFastPath if Redis holds nothing of it).
	Alert(ctx context.Context, alertID string) (projections.AlertView, error)
}

// AlertFeed is each complex's feed in the event store.
type AlertFeed interface {
	Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error)
	Last(ctx context.Context, complexID string) (int64, error)
}

// AlertQueries answers from Redis and falls back to the event store: an
// alert that exists is never "not found" because Redis lost it.
type AlertQueries struct {
	ReadModel AlertReadModel
	Alerts    AlertRepository
	Feeds     AlertFeed
}

// Alert is an alert's view; residentComplex ("" when open) must be its complex.
func (q AlertQueries) Alert(ctx context.Context, alertID, residentComplex string) (projections.AlertView, error) {
	if !alert.ValidAlertID(alertID) {
		return projections.AlertView{}, alert.ErrNotFound
	}
	v, err := q.ReadModel.Alert(ctx, alertID)
	if errors.Is(err, domain.ErrNotInFastPath) {
		a, loadErr := q.Alerts.Load(ctx, alertID)
		if loadErr != nil {
			return v, loadErr
		}
		if !a.Exists() {
			return v, alert.ErrNotFound
		}
		v, err = projections.NewAlertView(a), nil
	}
	if err == nil && residentComplex != "" && v.ComplexID != residentComplex {
		return projections.AlertView{}, domain.Forbidden("wrong_complex", "this alert is not in your complex")
	}
	return v, err
}

// MaxFeedPage is the most notices one catch-up page holds.
const MaxFeedPage = 500

// Feed is up to limit notices of a complex after position, in order.
func (q AlertQueries) Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error) {
	if err := alert.ValidateComplexID(complexID); err != nil {
		return nil, err
	}
	return q.Feeds.Feed(ctx, complexID, after, min(max(limit, 1), MaxFeedPage))
}
