package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
)

// RefillPoolHandler prepares ready copies until the template's pool holds
// its target, counting what the store says is ready (so a redelivered
// command prepares nothing more), then ends the refill in flight. A copy
// that fails leaves nothing behind (CopyAll deletes what it made), and the
// router retries the command; after its retries it is in the poison queue.
type RefillPoolHandler struct {
	Templates PoolRepository
	Pool      WarmPool
	Assets    AssetStore
	Commands  CommandSender
	TTL       time.Duration // SURGE_WARM_POOL_TTL
	// CopyDeadline bounds one copy's copying, so the garbage collector
	// (whose grace is longer) never deletes a copy in progress.
	CopyDeadline time.Duration
	Clock        Clock
	Logger       *slog.Logger
	Metrics      PoolMetrics
	// Runs is called once per run that got to the end, saying whether it
	// prepared anything (a redelivered command finds the pool full).
	Runs func(prepared bool)
}

// HandlerName is the consumer group. Never rename it.
func (RefillPoolHandler) HandlerName() string { return "RefillPoolHandler" }

func (h RefillPoolHandler) Handle(ctx context.Context, cmd *pool.RefillPool) error {
	t, err := h.Templates.LoadTemplate(ctx, cmd.TemplateID)
	if err != nil {
		return err
	}
	if !t.Open() {
		return h.done(ctx, cmd.TemplateID)
	}
	// Count again before each copy: designs taking copies while this runs
	// are made up for in the same run. One run prepares at most two pools'
	// worth, so a template in demand does not hold its partition forever;
	// what it still lacks is asked for again below, behind the commands
	// waiting.
	prepared := 0
	for prepared < 2*t.Target {
		ready, err := h.Templates.ReadyCopies(ctx, t.ID)
		if err != nil {
			return err
		}
		if len(ready) >= t.Target {
			break
		}
		if err := h.prepare(ctx, t); err != nil {
			if domain.KindOf(err) == domain.KindInvalid {
				// The template itself is broken (an asset was deleted from
				// the bucket): retrying cannot help, and this command goes
				// to the poison queue at once. The marker, kept for
				// brokenTemplateBackoff, stops the sweeper from asking for
				// a refill every time it expires: one poison entry, not
				// one every couple of minutes. Designs are made cold.
				h.Logger.ErrorContext(ctx, "refill cannot copy the template: no refill for a while", "template", t.ID, "err", err,
					"backoff", brokenTemplateBackoff.String())
				if kerr := h.Pool.KeepRefill(context.WithoutCancel(ctx), t.ID, brokenTemplateBackoff); kerr != nil {
					h.Logger.WarnContext(ctx, "refill marker not extended", "template", t.ID, "err", kerr)
				}
			}
			return err
		}
		prepared++
		if err := h.Pool.KeepRefill(ctx, t.ID, refillMarkerTTL); err != nil {
			h.Logger.WarnContext(ctx, "refill marker not extended", "template", t.ID, "err", err)
		}
	}
	if h.Runs != nil {
		h.Runs(prepared > 0)
	}
	if err := h.done(ctx, t.ID); err != nil {
		return err
	}
	// Designs taken after the last count found the marker and asked for
	// nothing.
	ready, err := h.Templates.ReadyCopies(ctx, t.ID)
	if err != nil {
		return err
	}
	if len(ready) < t.Target && requestRefill(ctx, h.Pool, h.Commands, h.Logger, t.ID) {
		h.Metrics.refillRequested()
	}
	return nil
}

// prepare copies every asset for one future design and records the copy
// as ready.
func (h RefillPoolHandler) prepare(ctx context.Context, t *pool.Template) error {
	copyID, keys, err := copyTemplate(ctx, h.Assets, t, h.CopyDeadline)
	if err != nil {
		return err
	}
	c := &pool.WarmCopy{}
	if err := c.Prepare(copyID, t.ID, keys, h.Clock.Now(), h.TTL); err != nil {
		return err
	}
	// A failed save leaves the objects to the garbage collector (it keeps
	// them if the save did commit after all).
	if err := h.Templates.SaveCopy(ctx, c); err != nil {
		return err
	}
	h.Metrics.copyPrepared()
	// Ready now rather than when the projection gets the event (neither
	// adds it to a template closed meanwhile).
	if err := h.Pool.CopyReady(context.WithoutCancel(ctx), c.Changes()[0].(pool.WarmCopyPrepared)); err != nil {
		h.Logger.WarnContext(ctx, "copy ready, but not yet in the Redis pool (the projection adds it)", "copy", copyID, "err", err)
	}
	return nil
}

func (h RefillPoolHandler) done(ctx context.Context, templateID string) error {
	if err := h.Pool.RefillDone(ctx, templateID); err != nil {
		h.Logger.WarnContext(ctx, "refill marker not dropped; it expires", "template", templateID, "err", err)
	}
	return nil
}
