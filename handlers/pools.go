package handlers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
)

// The warm pools' ports (seed 004).

// PoolRepository stores templates, warm copies and designs as event
// streams; the store's tables say which copies are ready.
type PoolRepository interface {
	LoadTemplate(ctx context.Context, templateID string) (*pool.Template, error)
	SaveTemplate(ctx context.Context, t *pool.Template) error
	LoadCopy(ctx context.Context, copyID string) (*pool.WarmCopy, error)
	// SaveCopy returns domain.ErrConcurrentModification when another
	// writer (a second taker, an expiry) appended first.
	SaveCopy(ctx context.Context, c *pool.WarmCopy) error
	SaveDesign(ctx context.Context, d *pool.Design) error
	ReadyCopies(ctx context.Context, templateID string) ([]pool.ReadyCopy, error)
}

// WarmPool is the pools' fast path in Redis: the ready copies of each
// template (a pop hands one to one caller) and the marker of a refill in
// flight.
type WarmPool interface {
	Pop(ctx context.Context, templateID string) (string, error)
	Restore(ctx context.Context, copies []pool.ReadyCopy) error
	CopyReady(ctx context.Context, e pool.WarmCopyPrepared) error
	CopyGone(ctx context.Context, templateID, copyID string) error
	CloseTemplate(ctx context.Context, templateID string) error
	RequestRefill(ctx context.Context, templateID string, ttl time.Duration) (bool, error)
	KeepRefill(ctx context.Context, templateID string, ttl time.Duration) error
	RefillDone(ctx context.Context, templateID string) error
}

// AssetStore is the object store: server-side copies of a template's
// assets, deletion and listing of the copies.
type AssetStore interface {
	// Missing lists the keys that do not exist.
	Missing(ctx context.Context, keys []string) ([]string, error)
	// CopyAll copies every pair server-side; on failure it deletes what it
	// may have created before it returns.
	CopyAll(ctx context.Context, keys []pool.CopyKey) error
	DeleteAll(ctx context.Context, keys []string) error
	// ListPages hands fn the objects under prefix a page at a time, in
	// key order.
	ListPages(ctx context.Context, prefix string, fn func(page []StoredObject) error) error
}

// StoredObject is a listed object.
type StoredObject struct {
	Key          string
	LastModified time.Time
}

// ErrAssetStoreUnavailable is what the asset store's adapter wraps when the
// object store cannot be reached or fails: the caller answers 503 and
// retries later.
var ErrAssetStoreUnavailable = domain.Unavailable("object_store_unavailable", "the object store is unavailable; nothing was created, try again shortly")

// refillMarkerTTL is how long a refill request blocks the next one if its
// handler never ends it (a lost command, a crash); a running refill keeps
// extending it.
const refillMarkerTTL = 2 * time.Minute

// brokenTemplateBackoff is how long no refill is asked for a template whose
// copy failed for good (an asset gone from the bucket).
const brokenTemplateBackoff = time.Hour

// requestRefill sends one RefillPool for a template unless one is in
// flight: a burst of designs asks once. When Redis cannot say, nothing is
// sent; the sweeper tops the pool up.
func requestRefill(ctx context.Context, fastPath WarmPool, commands CommandSender, logger *slog.Logger, templateID string) bool {
	ctx = context.WithoutCancel(ctx)
	first, err := fastPath.RequestRefill(ctx, templateID, refillMarkerTTL)
	if err != nil {
		logger.WarnContext(ctx, "refill not requested: Redis did not answer (the sweeper tops the pool up)", "template", templateID, "err", err)
		return false
	}
	if !first {
		return false
	}
	if err := commands.Send(ctx, &pool.RefillPool{TemplateID: templateID}); err != nil {
		logger.WarnContext(ctx, "refill not requested: the command was not sent (the sweeper tops the pool up)", "template", templateID, "err", err)
		if err := fastPath.RefillDone(ctx, templateID); err != nil {
			logger.WarnContext(ctx, "refill marker not dropped; it expires", "template", templateID, "err", err)
		}
		return false
	}
	return true
}

// PoolMetrics counts what the warm pools do (nil funcs are skipped).
type PoolMetrics struct {
	DesignCreated   func(source string)
	RefillRequested func()
	CopyPrepared    func()
	CopyExpired     func(reason string)
	ObjectsDeleted  func(n int)
}

func (m PoolMetrics) designCreated(source string) {
	if m.DesignCreated != nil {
		m.DesignCreated(source)
	}
}

func (m PoolMetrics) refillRequested() {
	if m.RefillRequested != nil {
		m.RefillRequested()
	}
}

func (m PoolMetrics) copyPrepared() {
	if m.CopyPrepared != nil {
		m.CopyPrepared()
	}
}

func (m PoolMetrics) copyExpired(reason string) {
	if m.CopyExpired != nil {
		m.CopyExpired(reason)
	}
}

func (m PoolMetrics) objectsDeleted(n int) {
	if m.ObjectsDeleted != nil && n > 0 {
		m.ObjectsDeleted(n)
	}
}

// expireCopies takes ready copies out of their pools unused (too old, or
// their template closed) and deletes their objects. A copy a design took
// meanwhile keeps its objects (its stream says so). A deletion that fails
// leaves the objects to the garbage collector: the copy is expired, so
// nothing keeps them.
func expireCopies(ctx context.Context, repo PoolRepository, assets AssetStore, fastPath WarmPool, copies []pool.ReadyCopy,
	reason string, now time.Time, m PoolMetrics, logger *slog.Logger) (int, error) {
	expired := 0
	for _, rc := range copies {
		var c *pool.WarmCopy
		err := retryOnConflict(func() error {
			var err error
			if c, err = repo.LoadCopy(ctx, rc.CopyID); err != nil {
				return err
			}
			if err := c.Expire(reason, now); err != nil {
				return err
			}
			return repo.SaveCopy(ctx, c)
		})
		if errors.Is(err, pool.ErrCopyGone) {
			continue
		}
		if err != nil {
			return expired, err
		}
		expired++
		m.copyExpired(reason)
		if err := fastPath.CopyGone(ctx, rc.TemplateID, rc.CopyID); err != nil {
			logger.WarnContext(ctx, "expired copy still in the Redis pool (the projection removes it; a pop skips it)", "copy", rc.CopyID, "err", err)
		}
		if err := assets.DeleteAll(ctx, copyObjectKeys(c.Keys)); err != nil {
			logger.WarnContext(ctx, "expired copy's objects not deleted (the garbage collector will)", "copy", rc.CopyID, "err", err)
			continue
		}
		m.objectsDeleted(len(c.Keys))
	}
	return expired, nil
}

// copyTemplate copies every asset of t to a new copy's keys, giving up
// after deadline (so the garbage collector, whose grace is longer, never
// deletes a copy in progress). On failure nothing of it is left: CopyAll
// deletes what it made.
func copyTemplate(ctx context.Context, assets AssetStore, t *pool.Template, deadline time.Duration) (string, []pool.CopyKey, error) {
	copyID := uuid.NewString()
	keys := pool.CopyKeys(copyID, t.Assets)
	copyCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if err := assets.CopyAll(copyCtx, keys); err != nil {
		return "", nil, err
	}
	return copyID, keys, nil
}

func copyObjectKeys(keys []pool.CopyKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Key
	}
	return out
}
