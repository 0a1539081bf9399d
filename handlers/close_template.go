package handlers

import (
	"context"
	"log/slog"

	"github.com/surge-platform/surge/domain/pool"
)

// CloseTemplateHandler closes a template: no design is made from it any
// more, and its pool is drained, each ready copy expired and its objects
// deleted (designs already made keep theirs). The API runs it
// synchronously; closing a closed template again drains what is left.
type CloseTemplateHandler struct {
	Templates PoolRepository
	Pool      WarmPool
	Assets    AssetStore
	Clock     Clock
	Logger    *slog.Logger
	Metrics   PoolMetrics
}

func (h CloseTemplateHandler) Handle(ctx context.Context, templateID string) error {
	if !pool.ValidID(templateID) {
		return pool.ErrTemplateNotFound
	}
	err := retryOnConflict(func() error {
		t, err := h.Templates.LoadTemplate(ctx, templateID)
		if err != nil {
			return err
		}
		if err := t.Close(h.Clock.Now()); err != nil {
			return err
		}
		if len(t.Changes()) == 0 {
			return nil
		}
		return h.Templates.SaveTemplate(ctx, t)
	})
	if err != nil {
		return err
	}
	// Designs stop popping now, not when the projection gets the event.
	if err := h.Pool.CloseTemplate(context.WithoutCancel(ctx), templateID); err != nil {
		h.Logger.WarnContext(ctx, "template closed, but its Redis pool was not dropped (the projection drops it)", "template", templateID, "err", err)
	}
	ready, err := h.Templates.ReadyCopies(ctx, templateID)
	if err != nil {
		return err
	}
	_, err = expireCopies(ctx, h.Templates, h.Assets, h.Pool, ready, pool.ExpiredClosed, h.Clock.Now(), h.Metrics, h.Logger)
	return err
}
