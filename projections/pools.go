package projections

import (
	"context"

	"github.com/surge-platform/surge/domain/pool"
)

// TemplateView is what GET /v1/templates/{id} answers.
type TemplateView struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Assets int      `json:"assets"`
	Closed bool     `json:"closed,omitempty"`
	Pool   PoolView `json:"pool"`
}

// PoolView is a template's pool: ready copies of target, and since when the
// oldest waits.
type PoolView struct {
	Ready         int     `json:"ready"`
	Target        int     `json:"target"`
	OldestReadyAt *string `json:"oldestReadyAt"` // null when none is ready
}

// DesignView is what GET /v1/designs/{id} (and its creation) answers.
type DesignView struct {
	DesignID   string         `json:"designId"`
	TemplateID string         `json:"templateId"`
	OwnerID    string         `json:"ownerId"`
	Source     string         `json:"source"`
	Assets     []pool.CopyKey `json:"assets"`
	CreatedAt  string         `json:"createdAt"`
}

// NewDesignView renders a design.
func NewDesignView(e pool.DesignCreated) DesignView {
	return DesignView{DesignID: e.DesignID, TemplateID: e.TemplateID, OwnerID: e.OwnerID, Source: e.Source, Assets: e.Assets, CreatedAt: FormatTime(e.CreatedAt)}
}

// PoolStore is the warm pools' read model in Redis: each template, its
// pool of ready copies (a copy is added once, removed when taken or
// expired, never added to a closed template's pool), and each design.
type PoolStore interface {
	SaveTemplate(ctx context.Context, e pool.TemplateOpened) error
	CloseTemplate(ctx context.Context, templateID string) error
	CopyReady(ctx context.Context, e pool.WarmCopyPrepared) error
	CopyGone(ctx context.Context, templateID, copyID string) error
	SaveDesign(ctx context.Context, v DesignView) error
}

// PoolProjection keeps templates, their pools and designs in Redis. Replayed
// from the start, it restores exactly the ready copies no design has taken.
type PoolProjection struct{ Store PoolStore }

// Name is the projection's consumer group. Never rename it.
func (PoolProjection) Name() string { return "PoolProjection" }

func (p PoolProjection) OnTemplateOpened(ctx context.Context, e *pool.TemplateOpened) error {
	return p.Store.SaveTemplate(ctx, *e)
}

func (p PoolProjection) OnTemplateClosed(ctx context.Context, e *pool.TemplateClosed) error {
	return p.Store.CloseTemplate(ctx, e.TemplateID)
}

func (p PoolProjection) OnWarmCopyPrepared(ctx context.Context, e *pool.WarmCopyPrepared) error {
	return p.Store.CopyReady(ctx, *e)
}

func (p PoolProjection) OnWarmCopyExpired(ctx context.Context, e *pool.WarmCopyExpired) error {
	return p.Store.CopyGone(ctx, e.TemplateID, e.CopyID)
}

func (p PoolProjection) OnDesignCreated(ctx context.Context, e *pool.DesignCreated) error {
	if e.Source == pool.Warm {
		if err := p.Store.CopyGone(ctx, e.TemplateID, e.CopyID); err != nil {
			return err
		}
	}
	return p.Store.SaveDesign(ctx, NewDesignView(*e))
}
