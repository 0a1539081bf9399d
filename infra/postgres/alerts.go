package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/infra/fault"
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
	changes := a.Changes()
	if len(changes) == 0 {
		return nil
	}
	last, err := r.Last(ctx, a.ComplexID)
	if err != nil {
		return err
	}
	events := make([]domain.Event, 0, len(changes))
	var rows []Statement
	for i, c := range changes {
		p, ok := c.(alert.Positioned)
		if !ok {
			return fmt.Errorf("%s is not an event of a complex's feed", c.WireName())
		}
		p = p.At(last + int64(i) + 1)
		typ, body, err := alert.Notice(p)
		if err != nil {
			return err
		}
		events = append(events, p)
		rows = append(rows, Statement{
			SQL:  `INSERT INTO alert_feed (complex_id, position, alert_id, type, payload, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			Args: []any{p.Complex(), p.FeedPosition(), a.ID, typ, string(body), time.Now().UTC()},
		})
	}
	_, err = r.store.Append(ctx, alert.StreamID(a.ID), a.Version(), events, rows...)
	if fault.Constraint(err) == "alert_feed_pkey" {
		return domain.ErrConcurrentModification
	}
	return err
}

// Last is the last position of a complex's feed (0 if empty).
func (r *AlertRepository) Last(ctx context.Context, complexID string) (int64, error) {
	var last int64
	err := r.store.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM alert_feed WHERE complex_id = $1`, complexID).Scan(&last)
	return last, err
}

// Feed returns up to limit notices of a complex after position, in order.
func (r *AlertRepository) Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error) {
	rows, err := r.store.db.QueryContext(ctx, `
		SELECT position, type, payload FROM alert_feed
		WHERE complex_id = $1 AND position > $2 ORDER BY position LIMIT $3`, complexID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []alert.FeedEntry
	for rows.Next() {
		var e alert.FeedEntry
		var payload string
		if err := rows.Scan(&e.Position, &e.Type, &payload); err != nil {
			return nil, err
		}
		e.Payload = json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}
