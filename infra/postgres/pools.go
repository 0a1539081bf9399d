package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/surge-platform/surge/domain/pool"
)

// PoolRepository stores templates, warm copies and designs as event
// streams, and keeps warm_copies and designs in step in the same
// transactions.
type PoolRepository struct{ store *EventStore }

// NewPoolRepository creates the repository on store.
func NewPoolRepository(store *EventStore) *PoolRepository { return &PoolRepository{store: store} }

// LoadTemplate rebuilds a template (empty if never opened).
func (r *PoolRepository) LoadTemplate(ctx context.Context, templateID string) (*pool.Template, error) {
	history, err := r.store.Load(ctx, pool.TemplateStreamID(templateID))
	if err != nil {
		return nil, err
	}
	return pool.LoadTemplate(history), nil
}

// SaveTemplate appends a template's new events.
func (r *PoolRepository) SaveTemplate(ctx context.Context, t *pool.Template) error {
	var rows []Statement
	for _, e := range t.Changes() {
		switch e := e.(type) {
		case pool.TemplateOpened:
			rows = append(rows, Statement{SQL: `INSERT INTO pool_templates (template_id, target) VALUES ($1, $2)`, Args: []any{e.TemplateID, e.Target}})
		case pool.TemplateClosed:
			rows = append(rows, Statement{SQL: `UPDATE pool_templates SET closed = TRUE WHERE template_id = $1`, Args: []any{e.TemplateID}})
		}
	}
	_, err := r.store.Append(ctx, pool.TemplateStreamID(t.ID), t.Version(), t.Changes(), rows...)
	return err
}

// Pools lists every template's pool as the store holds it: open templates
// and closed ones that still have ready copies.
func (r *PoolRepository) Pools(ctx context.Context) ([]pool.PoolState, error) {
	rows, err := r.store.db.QueryContext(ctx, `
		SELECT t.template_id, t.target, t.closed, count(c.copy_id)
		FROM pool_templates t LEFT JOIN warm_copies c ON c.template_id = t.template_id AND c.state = 'ready'
		GROUP BY t.template_id, t.target, t.closed
		HAVING NOT t.closed OR count(c.copy_id) > 0
		ORDER BY t.template_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pool.PoolState
	for rows.Next() {
		var s pool.PoolState
		if err := rows.Scan(&s.TemplateID, &s.Target, &s.Closed, &s.Ready); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// LoadCopy rebuilds a warm copy (empty if never prepared).
func (r *PoolRepository) LoadCopy(ctx context.Context, copyID string) (*pool.WarmCopy, error) {
	history, err := r.store.Load(ctx, pool.CopyStreamID(copyID))
	if err != nil {
		return nil, err
	}
	return pool.LoadCopy(history), nil
}

// SaveCopy appends a copy's new events. The stream's version decides who
// takes a ready copy: a second taker (or an expiry racing a take) gets
// domain.ErrConcurrentModification.
func (r *PoolRepository) SaveCopy(ctx context.Context, c *pool.WarmCopy) error {
	var rows []Statement
	for _, e := range c.Changes() {
		switch e := e.(type) {
		case pool.WarmCopyPrepared:
			rows = append(rows, Statement{
				SQL:  `INSERT INTO warm_copies (copy_id, template_id, state, prepared_at, expires_at) VALUES ($1, $2, 'ready', $3, $4)`,
				Args: []any{e.CopyID, e.TemplateID, e.PreparedAt, e.ExpiresAt},
			})
		case pool.DesignCreated:
			rows = append(rows,
				Statement{SQL: `UPDATE warm_copies SET state = 'taken' WHERE copy_id = $1`, Args: []any{e.CopyID}},
				designRow(e, pool.CopyStreamID(c.ID)))
		case pool.WarmCopyExpired:
			rows = append(rows, Statement{SQL: `UPDATE warm_copies SET state = 'expired' WHERE copy_id = $1`, Args: []any{e.CopyID}})
		}
	}
	_, err := r.store.Append(ctx, pool.CopyStreamID(c.ID), c.Version(), c.Changes(), rows...)
	return err
}

func designRow(e pool.DesignCreated, streamID string) Statement {
	return Statement{
		SQL:  `INSERT INTO designs (design_id, template_id, owner_id, source, copy_id, stream_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		Args: []any{e.DesignID, e.TemplateID, e.OwnerID, e.Source, e.CopyID, streamID, e.CreatedAt},
	}
}

// SaveDesign appends a cold design's DesignCreated to its own stream.
func (r *PoolRepository) SaveDesign(ctx context.Context, d *pool.Design) error {
	var rows []Statement
	for _, e := range d.Changes() {
		if e, ok := e.(pool.DesignCreated); ok {
			rows = append(rows, designRow(e, pool.DesignStreamID(e.DesignID)))
		}
	}
	_, err := r.store.Append(ctx, pool.DesignStreamID(d.Created.DesignID), d.Version(), d.Changes(), rows...)
	return err
}

// Design reads a design (pool.ErrDesignNotFound if there is none).
func (r *PoolRepository) Design(ctx context.Context, designID string) (pool.DesignCreated, error) {
	var stream string
	err := r.store.db.QueryRowContext(ctx, `SELECT stream_id FROM designs WHERE design_id = $1`, designID).Scan(&stream)
	if errors.Is(err, sql.ErrNoRows) {
		return pool.DesignCreated{}, pool.ErrDesignNotFound
	}
	if err != nil {
		return pool.DesignCreated{}, err
	}
	history, err := r.store.Load(ctx, stream)
	if err != nil {
		return pool.DesignCreated{}, err
	}
	for _, e := range history {
		if d, ok := e.(pool.DesignCreated); ok && d.DesignID == designID {
			return d, nil
		}
	}
	return pool.DesignCreated{}, pool.ErrDesignNotFound
}

// ReadyCopies lists a template's ready copies, oldest first.
func (r *PoolRepository) ReadyCopies(ctx context.Context, templateID string) ([]pool.ReadyCopy, error) {
	return r.readyCopies(ctx, `SELECT copy_id, template_id, prepared_at, expires_at FROM warm_copies
		WHERE template_id = $1 AND state = 'ready' ORDER BY prepared_at, copy_id`, templateID)
}

// ExpiredCopies lists up to limit ready copies past their expiry.
func (r *PoolRepository) ExpiredCopies(ctx context.Context, now time.Time, limit int) ([]pool.ReadyCopy, error) {
	return r.readyCopies(ctx, `SELECT copy_id, template_id, prepared_at, expires_at FROM warm_copies
		WHERE state = 'ready' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`, now, limit)
}

// AllReadyCopies lists every ready copy (the sweeper compares them with
// the Redis pools).
func (r *PoolRepository) AllReadyCopies(ctx context.Context) ([]pool.ReadyCopy, error) {
	return r.readyCopies(ctx, `SELECT copy_id, template_id, prepared_at, expires_at FROM warm_copies WHERE state = 'ready' ORDER BY template_id, prepared_at`)
}

func (r *PoolRepository) readyCopies(ctx context.Context, q string, args ...any) ([]pool.ReadyCopy, error) {
	rows, err := r.store.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pool.ReadyCopy
	for rows.Next() {
		var c pool.ReadyCopy
		if err := rows.Scan(&c.CopyID, &c.TemplateID, &c.PreparedAt, &c.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// KeptCopies says which of the given copy ids must keep their objects: a
// ready copy, or the copy a design owns.
func (r *PoolRepository) KeptCopies(ctx context.Context, copyIDs []string) (map[string]bool, error) {
	rows, err := r.store.db.QueryContext(ctx, `
		SELECT copy_id FROM warm_copies WHERE copy_id = ANY($1) AND state IN ('ready', 'taken')
		UNION SELECT copy_id FROM designs WHERE copy_id = ANY($1)`, copyIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	kept := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		kept[id] = true
	}
	return kept, rows.Err()
}

// OpenTemplateIDs returns up to limit open templates' ids after the given
// one, in order.
func (r *PoolRepository) OpenTemplateIDs(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := r.store.db.QueryContext(ctx, `SELECT template_id FROM pool_templates WHERE NOT closed AND template_id > $1 ORDER BY template_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
