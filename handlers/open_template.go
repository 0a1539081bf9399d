package handlers

import (
	"context"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/projections"
)

// TemplateFastPath is a template's read model in Redis, written as soon as
// the template is stored (the projection writes it too).
type TemplateFastPath interface {
	SaveTemplate(ctx context.Context, e pool.TemplateOpened) error
}

// OpenTemplateHandler opens a template once every asset it lists exists
// in the bucket (HEAD), then asks for its pool to be filled. The API runs it
// synchronously: a 201 means the template is stored.
type OpenTemplateHandler struct {
	Templates PoolRepository
	Assets    AssetStore
	FastPath  TemplateFastPath
	Pool      WarmPool
	Commands  CommandSender
	Target    int // SURGE_WARM_POOL_SIZE
	Clock     Clock
	Logger    *slog.Logger
	Metrics   PoolMetrics
}

// maxMissingNamed bounds the keys an asset_not_found error lists.
const maxMissingNamed = 10

// Handle returns the template's view (a new template's pool is empty until
// the refill runs) and whether it was opened now; opening it again with the
// same terms changes nothing. An id left empty is generated.
func (h OpenTemplateHandler) Handle(ctx context.Context, cmd pool.OpenTemplate) (projections.TemplateView, bool, error) {
	if cmd.TemplateID == "" {
		cmd.TemplateID = uuid.NewString()
	}
	// Validate before asking the object store anything.
	if err := pool.ValidateTemplateID(cmd.TemplateID); err != nil {
		return projections.TemplateView{}, false, err
	}
	if _, err := pool.NormalizeName(cmd.Name); err != nil {
		return projections.TemplateView{}, false, err
	}
	if err := pool.ValidateAssets(cmd.Assets); err != nil {
		return projections.TemplateView{}, false, err
	}
	t, err := h.Templates.LoadTemplate(ctx, cmd.TemplateID)
	if err != nil {
		return projections.TemplateView{}, false, err
	}
	if t.IsNew() {
		missing, err := h.Assets.Missing(ctx, cmd.Assets)
		if err != nil {
			return projections.TemplateView{}, false, err
		}
		if len(missing) > 0 {
			named := missing[:min(len(missing), maxMissingNamed)]
			more := ""
			if len(missing) > len(named) {
				more = " and more"
			}
			return projections.TemplateView{}, false, domain.Invalid("asset_not_found", "%d asset(s) do not exist in the bucket: %s%s",
				len(missing), strings.Join(named, ", "), more)
		}
	}
	if err := t.OpenTemplate(cmd, h.Target, h.Clock.Now()); err != nil {
		return projections.TemplateView{}, false, err
	}
	view := projections.TemplateView{ID: t.ID, Name: t.Name, Assets: len(t.Assets), Pool: projections.PoolView{Target: t.Target}}
	opened := len(t.Changes()) > 0
	if !opened {
		ready, err := h.Templates.ReadyCopies(ctx, t.ID)
		if err != nil {
			return projections.TemplateView{}, false, err
		}
		view.Pool = poolView(t.Target, ready)
	} else {
		if err := h.Templates.SaveTemplate(ctx, t); err != nil {
			return projections.TemplateView{}, false, err
		}
		opened := t.Changes()[0].(pool.TemplateOpened)
		if err := h.FastPath.SaveTemplate(context.WithoutCancel(ctx), opened); err != nil {
			h.Logger.WarnContext(ctx, "template stored, but its Redis fast path was not written", "template", t.ID, "err", err)
		}
	}
	if view.Pool.Ready < view.Pool.Target && requestRefill(ctx, h.Pool, h.Commands, h.Logger, t.ID) {
		h.Metrics.refillRequested()
	}
	return view, opened, nil
}

// poolView renders a pool as the store lists it (ready oldest first).
func poolView(target int, ready []pool.ReadyCopy) projections.PoolView {
	v := projections.PoolView{Ready: len(ready), Target: target}
	if len(ready) > 0 {
		at := projections.FormatTime(ready[0].PreparedAt)
		v.OldestReadyAt = &at
	}
	return v
}
