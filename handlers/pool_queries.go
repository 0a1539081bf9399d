package handlers

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/projections"
)

// PoolReadModel is the templates' and designs' read model in Redis.
type PoolReadModel interface {
	TemplateView(ctx context.Context, templateID string) (projections.TemplateView, error)
	Design(ctx context.Context, designID string) ([]byte, error)
}

// DesignLedger reads a design from the store.
type DesignLedger interface {
	Design(ctx context.Context, designID string) (pool.DesignCreated, error)
}

// PoolQueries answer from Redis and fall back to the store when Redis does
// not hold the answer (not projected yet, or lost).
type PoolQueries struct {
	ReadModel PoolReadModel
	Templates PoolRepository
	Designs   DesignLedger
	Index     TemplateIndex
}

// Template is an open template and its pool.
func (q PoolQueries) Template(ctx context.Context, templateID string) (projections.TemplateView, error) {
	if !pool.ValidID(templateID) {
		return projections.TemplateView{}, pool.ErrTemplateNotFound
	}
	v, err := q.ReadModel.TemplateView(ctx, templateID)
	if err == nil {
		if v.Closed {
			return projections.TemplateView{}, pool.ErrTemplateNotFound
		}
		return v, nil
	}
	t, err := q.Templates.LoadTemplate(ctx, templateID)
	if err != nil {
		return projections.TemplateView{}, err
	}
	if !t.Open() {
		return projections.TemplateView{}, pool.ErrTemplateNotFound
	}
	ready, err := q.Templates.ReadyCopies(ctx, templateID)
	if err != nil {
		return projections.TemplateView{}, err
	}
	return projections.TemplateView{ID: t.ID, Name: t.Name, Assets: len(t.Assets), Pool: poolView(t.Target, ready)}, nil
}

// Design is a design's JSON.
func (q PoolQueries) Design(ctx context.Context, designID string) (json.RawMessage, error) {
	if !pool.ValidID(designID) {
		return nil, pool.ErrDesignNotFound
	}
	// Not in Redis (not projected yet, lost) or Redis failed: the store
	// answers.
	if b, err := q.ReadModel.Design(ctx, designID); err == nil {
		return b, nil
	}
	d, err := q.Designs.Design(ctx, designID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(projections.NewDesignView(d))
}

// TemplateIndex lists open templates' ids in order (the store's index).
type TemplateIndex interface {
	OpenTemplateIDs(ctx context.Context, after string, limit int) ([]string, error)
}

// OpenTemplates lists up to limit open templates after the given id, in id
// order, and the cursor of the next page ("" on the last).
func (q PoolQueries) OpenTemplates(ctx context.Context, after string, limit int) ([]projections.TemplateView, string, error) {
	ids, err := q.Index.OpenTemplateIDs(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ids) > limit {
		ids, next = ids[:limit], ids[limit-1]
	}
	views := make([]projections.TemplateView, 0, len(ids))
	for _, id := range ids {
		v, err := q.Template(ctx, id)
		if errors.Is(err, pool.ErrTemplateNotFound) {
			continue // closed since it was listed
		}
		if err != nil {
			return nil, "", err
		}
		views = append(views, v)
	}
	return views, next, nil
}
