package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
)

// AlertRepository stores alerts as event streams and keeps each complex's
// feed (alert_feed) in the same transaction: each new event takes the next
// position of its complex.
type AlertRepository struct{ store *EventStore }

// NewAlertRepository creates the repository on store.
func NewAlertRepository(store *EventStore) *AlertRepository { return &AlertRepository{store: store} }

// Load rebuilds an alert (an empty one if it was never raised).
func (r *AlertRepository) Load(ctx context.Context, alertID string) (*alert.Alert, error) {
	history, err := r.store.Load(ctx, alert.StreamID(alertID))
	if err != nil {
		return nil, err
	}
	return alert.Load(history), nil
}

// Save appends the alert's new events, each at the next position of its
// complex's feed. Another writer that took a position first makes it
// domain.ErrConcurrentModification: reload and decide again.
func (r *AlertRepository) Save(ctx context.Context, a *alert.Alert) error {
	return r.store.AppendToFeed(ctx, alert.StreamID(a.ID), a.Version(), alertFeed(a.ComplexID), a.Changes(),
		func(e domain.Event, position int64) (domain.Event, FeedRow, bool, error) {
			p, ok := e.(alert.Positioned)
			if !ok {
				return e, FeedRow{}, false, fmt.Errorf("%s is not an event of a complex's feed", e.WireName())
			}
			p = p.At(position)
			typ, body, err := alert.Notice(p)
			return p, FeedRow{Kind: typ, Ref: a.ID, Payload: body}, true, err
		})
}

func alertFeed(complexID string) string { return "complex/" + complexID }

// Last is the last position of a complex's feed (0 if empty).
func (r *AlertRepository) Last(ctx context.Context, complexID string) (int64, error) {
	return r.store.FeedLast(ctx, alertFeed(complexID))
}

// Feed returns up to limit notices of a complex after position, in order.
func (r *AlertRepository) Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error) {
	records, err := r.store.FeedAfter(ctx, alertFeed(complexID), after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]alert.FeedEntry, len(records))
	for i, rec := range records {
		out[i] = alert.FeedEntry{Position: rec.Position, Type: rec.Kind, Payload: json.RawMessage(rec.Payload)}
	}
	return out, nil
}
