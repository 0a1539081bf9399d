package postgres

import (
	"context"
	"encoding/json"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/fault"
)

// FeedRow is how an event is shown in its feed.
type FeedRow struct {
	Kind    string // what the client is told: alert, accept, message, reaction, ...
	Ref     string // the alert or message it is about
	Tag     string // a reaction's emoji ("" otherwise)
	Payload []byte // the exact JSON pushed
}

// FeedRecord is a stored feed entry.
type FeedRecord struct {
	Position int64
	FeedRow
}

// Positioner places an event at a feed position: it returns the event
// carrying the position and its row, or ok false for an event that is not
// part of the feed (it is stored all the same).
type Positioner func(e domain.Event, position int64) (placed domain.Event, row FeedRow, ok bool, err error)

// AppendToFeed appends events to streamID at expectedVersion, each event of
// the feed at the next position of feed, in one transaction with also.
// Another writer that took a position first makes it
// domain.ErrConcurrentModification: reload and decide again.
func (s *EventStore) AppendToFeed(ctx context.Context, streamID string, expectedVersion int, feed string, events []domain.Event, place Positioner, also ...Statement) error {
	if len(events) == 0 {
		return nil
	}
	last, err := s.FeedLast(ctx, feed)
	if err != nil {
		return err
	}
	placed := make([]domain.Event, 0, len(events))
	rows := append([]Statement(nil), also...)
	for _, e := range events {
		p, row, ok, err := place(e, last+1)
		if err != nil {
			return err
		}
		if ok {
			last++
			rows = append(rows, Statement{
				SQL:  `INSERT INTO feeds (feed, position, kind, ref, tag, payload) VALUES ($1, $2, $3, $4, $5, $6)`,
				Args: []any{feed, last, row.Kind, row.Ref, row.Tag, string(row.Payload)},
			})
		}
		placed = append(placed, p)
	}
	_, err = s.Append(ctx, streamID, expectedVersion, placed, rows...)
	if fault.Constraint(err) == "feeds_pkey" {
		return domain.ErrConcurrentModification
	}
	return err
}

// FeedLast is the last position of a feed (0 if empty).
func (s *EventStore) FeedLast(ctx context.Context, feed string) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM feeds WHERE feed = $1`, feed).Scan(&last)
	return last, err
}

// FeedAfter returns up to limit entries of a feed after position, in
// order; with kinds, only entries of those kinds.
func (s *EventStore) FeedAfter(ctx context.Context, feed string, after int64, limit int, kinds ...string) ([]FeedRecord, error) {
	q := `SELECT position, kind, ref, tag, payload FROM feeds WHERE feed = $1 AND position > $2 ORDER BY position LIMIT $3`
	args := []any{feed, after, limit}
	if len(kinds) > 0 {
		q = `SELECT position, kind, ref, tag, payload FROM feeds WHERE feed = $1 AND position > $2 AND kind = ANY($4) ORDER BY position LIMIT $3`
		args = append(args, kinds)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FeedRecord
	for rows.Next() {
		var r FeedRecord
		var payload string
		if err := rows.Scan(&r.Position, &r.Kind, &r.Ref, &r.Tag, &payload); err != nil {
			return nil, err
		}
		r.Payload = json.RawMessage(payload)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Heads are the last positions of feeds (feeds with no entry are left out).
func (s *EventStore) Heads(ctx context.Context, feeds []string) (map[string]int64, error) {
	// One backward index probe per feed, however long the feed is.
	rows, err := s.db.QueryContext(ctx, `
		SELECT f, h FROM unnest($1::text[]) AS f,
		LATERAL (SELECT position AS h FROM feeds WHERE feed = f ORDER BY position DESC LIMIT 1) AS last`, feeds)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int64, len(feeds))
	for rows.Next() {
		var f string
		var head int64
		if err := rows.Scan(&f, &head); err != nil {
			return nil, err
		}
		out[f] = head
	}
	return out, rows.Err()
}
