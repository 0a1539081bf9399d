package projections

import (
	"context"

	"github.com/surge-platform/surge/domain/alert"
)

// AlertView is what GET /v1/alerts/{id} answers.
type AlertView struct {
	AlertID     string   `json:"alertId"`
	ComplexID   string   `json:"complexId"`
	House       string   `json:"house"`
	Text        string   `json:"text"`
	Lat         *float64 `json:"lat"`
	Lng         *float64 `json:"lng"`
	Status      string   `json:"status"` // raised | accepted | cancelled
	RaisedAt    string   `json:"raisedAt"`
	AcceptedBy  string   `json:"acceptedBy,omitempty"`
	AcceptedAt  string   `json:"acceptedAt,omitempty"`
	CancelledAt string   `json:"cancelledAt,omitempty"`
}

// NewAlertView is the view of an alert rebuilt from its stream (when the
// read model lost it).
func NewAlertView(a *alert.Alert) AlertView {
	v := AlertView{AlertID: a.ID, ComplexID: a.ComplexID, House: a.House, Text: a.Text, Status: string(a.Status), RaisedAt: FormatTime(a.RaisedAt)}
	if a.Location != nil {
		v.Lat, v.Lng = &a.Location.Lat, &a.Location.Lng
	}
	if a.Status == alert.Accepted {
		v.AcceptedBy, v.AcceptedAt = a.AcceptedBy, FormatTime(a.AcceptedAt)
	}
	if a.Status == alert.Cancelled {
		v.CancelledAt = FormatTime(a.CancelledAt)
	}
	return v
}

// AlertStore is the alerts' read model and claim in Redis. Its writes are
// ordered by the alert's life (raised, then accepted or cancelled, both
// final), so applying an event twice, or a raise after its outcome, changes
// nothing.
type AlertStore interface {
	SaveRaised(ctx context.Context, e alert.AlertRaised) error
	SaveAccepted(ctx context.Context, e alert.AlertAccepted) error
	SaveCancelled(ctx context.Context, e alert.AlertCancelled) error
}

// AlertProjection keeps each alert's view (and the claim's final state) in
// Redis.
type AlertProjection struct{ Store AlertStore }

// Name is the projection's consumer group. Never rename it.
func (AlertProjection) Name() string { return "AlertProjection" }

func (p AlertProjection) OnAlertRaised(ctx context.Context, e *alert.AlertRaised) error {
	return p.Store.SaveRaised(ctx, *e)
}

func (p AlertProjection) OnAlertAccepted(ctx context.Context, e *alert.AlertAccepted) error {
	return p.Store.SaveAccepted(ctx, *e)
}

func (p AlertProjection) OnAlertCancelled(ctx context.Context, e *alert.AlertCancelled) error {
	return p.Store.SaveCancelled(ctx, *e)
}
