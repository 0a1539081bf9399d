package handlers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/projections"
)

// DesignFastPath is the designs' read model in Redis, written as soon as a
// design is stored (the projection writes it too).
type DesignFastPath interface {
	SaveDesign(ctx context.Context, v projections.DesignView) error
}

// CreateDesignHandler turns a template into a user's design. Warm: it pops
// a ready copy from the template's pool in Redis and takes it on the
// copy's stream (the stream's version lets exactly one design take a copy,
// whatever Redis handed out). Cold, when the pool has none: it copies every
// asset now. Either way it asks for one refill. The API runs it
// synchronously.
type CreateDesignHandler struct {
	Templates PoolRepository
	Pool      WarmPool
	Assets    AssetStore
	Designs   DesignFastPath
	Commands  CommandSender
	// CopyDeadline bounds a cold creation's copying, so the garbage
	// collector (whose grace is longer) never deletes a copy in progress.
	CopyDeadline time.Duration
	Clock        Clock
	Logger       *slog.Logger
	Metrics      PoolMetrics
}

// maxPops bounds how many stale entries (copies Redis still listed but a
// design took or that expired) a creation skips before it copies cold.
const maxPops = 5

// Handle creates the design and returns it.
func (h CreateDesignHandler) Handle(ctx context.Context, templateID, ownerID string) (pool.DesignCreated, error) {
	if !pool.ValidID(templateID) {
		return pool.DesignCreated{}, pool.ErrTemplateNotFound
	}
	owner, err := pool.NormalizeOwnerID(ownerID)
	if err != nil {
		return pool.DesignCreated{}, err
	}
	t, err := h.Templates.LoadTemplate(ctx, templateID)
	if err != nil {
		return pool.DesignCreated{}, err
	}
	if !t.Open() {
		return pool.DesignCreated{}, pool.ErrTemplateNotFound
	}
	designID := uuid.NewString()
	created, err := h.warm(ctx, t, designID, owner)
	if err == nil && created.DesignID == "" {
		created, err = h.cold(ctx, t, designID, owner)
	}
	if err != nil {
		return pool.DesignCreated{}, err
	}
	h.Metrics.designCreated(created.Source)
	if err := h.Designs.SaveDesign(context.WithoutCancel(ctx), projections.NewDesignView(created)); err != nil {
		h.Logger.WarnContext(ctx, "design stored, but its Redis fast path was not written", "design", created.DesignID, "err", err)
	}
	if t.Target > 0 && requestRefill(ctx, h.Pool, h.Commands, h.Logger, t.ID) {
		h.Metrics.refillRequested()
	}
	return created, nil
}

// warm takes a ready copy; an empty result means the pool had none (or
// Redis could not say: the design is then made cold).
func (h CreateDesignHandler) warm(ctx context.Context, t *pool.Template, designID, owner string) (pool.DesignCreated, error) {
	for range maxPops {
		copyID, err := h.Pool.Pop(ctx, t.ID)
		if err != nil {
			h.Logger.WarnContext(ctx, "the warm pool did not answer; copying cold", "template", t.ID, "err", err)
			return pool.DesignCreated{}, nil
		}
		if copyID == "" {
			return pool.DesignCreated{}, nil
		}
		c, err := h.Templates.LoadCopy(ctx, copyID)
		if err != nil {
			h.putBack(ctx, copyID, t.ID)
			return pool.DesignCreated{}, err
		}
		if c.TemplateID != t.ID {
			continue // not this template's: a stale entry
		}
		if err := c.Take(designID, owner, h.Clock.Now()); err != nil {
			if errors.Is(err, pool.ErrCopyGone) {
				continue
			}
			return pool.DesignCreated{}, err
		}
		err = h.Templates.SaveCopy(ctx, c)
		if errors.Is(err, domain.ErrConcurrentModification) {
			continue // another design took it first
		}
		if err != nil {
			// The copy may still be ready; the store decides, and the
			// sweeper puts a ready copy back in the pool.
			return pool.DesignCreated{}, err
		}
		return c.Changes()[0].(pool.DesignCreated), nil
	}
	return pool.DesignCreated{}, nil
}

// putBack returns a popped copy to the pool when this caller could not
// decide on it (the sweeper would, later).
func (h CreateDesignHandler) putBack(ctx context.Context, copyID, templateID string) {
	c := []pool.ReadyCopy{{CopyID: copyID, TemplateID: templateID, PreparedAt: h.Clock.Now()}}
	if err := h.Pool.Restore(context.WithoutCancel(ctx), c); err != nil {
		h.Logger.WarnContext(ctx, "a popped copy was not put back (the sweeper will)", "copy", copyID, "err", err)
	}
}

// cold copies every asset for the design now. A failed copy leaves nothing
// behind: CopyAll deletes what it made. A failed save leaves the copy to
// the garbage collector, which keeps it if the save did commit after all
// (a lost reply) and deletes it otherwise.
func (h CreateDesignHandler) cold(ctx context.Context, t *pool.Template, designID, owner string) (pool.DesignCreated, error) {
	copyID, keys, err := copyTemplate(ctx, h.Assets, t, h.CopyDeadline)
	if err != nil {
		return pool.DesignCreated{}, err
	}
	d := &pool.Design{}
	if err := d.CreateCold(designID, t, owner, copyID, keys, h.Clock.Now()); err != nil {
		h.discard(ctx, keys)
		return pool.DesignCreated{}, err
	}
	if err := h.Templates.SaveDesign(ctx, d); err != nil {
		return pool.DesignCreated{}, err
	}
	return d.Created, nil
}

// discard deletes a copy no design got; if that fails too, the garbage
// collector deletes it after its grace period.
func (h CreateDesignHandler) discard(ctx context.Context, keys []pool.CopyKey) {
	if err := h.Assets.DeleteAll(context.WithoutCancel(ctx), copyObjectKeys(keys)); err != nil {
		h.Logger.WarnContext(ctx, "an unused copy was not deleted (the garbage collector will)", "keys", len(keys), "err", err)
		return
	}
	h.Metrics.objectsDeleted(len(keys))
}
