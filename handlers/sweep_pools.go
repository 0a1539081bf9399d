package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/pool"
)

// PoolLedger is what the sweeper reads from the store: every pool's count,
// and the ready copies past their expiry.
type PoolLedger interface {
	Pools(ctx context.Context) ([]pool.PoolState, error)
	ExpiredCopies(ctx context.Context, now time.Time, limit int) ([]pool.ReadyCopy, error)
}

// PoolRepairer compares a template's pool in Redis with the store's ready
// copies and fixes it.
type PoolRepairer interface {
	InPool(ctx context.Context, templateID string) ([]string, error)
	Repair(ctx context.Context, templateID string, before []string, ready []pool.ReadyCopy) (added, removed int, err error)
}

// SweepPools keeps every pool right, in one instance at a time (a Redis
// lease), every Interval: a ready copy older than its TTL is expired (its
// objects deleted) and a fresh one asked for; a closed template's last
// ready copies are drained; each open pool in Redis is made to hold
// exactly the ready copies of the store (Redis lost them, or a popped copy
// no design took); a pool below its target gets a refill (a lost refill
// request, a refill in the poison queue). The garbage collector runs apart
// (CollectCopyGarbage.Run): a long listing never holds up expiry.
type SweepPools struct {
	Templates PoolRepository
	Ledger    PoolLedger
	Pool      WarmPool
	Repairer  PoolRepairer
	Assets    AssetStore
	Commands  CommandSender
	Exclusive Exclusive
	Interval  time.Duration // SURGE_WARM_POOL_SWEEP
	Clock     Clock
	Logger    *slog.Logger
	Metrics   PoolMetrics
}

// sweepLeaseTTL is how long a dead sweeper holds the lease.
const sweepLeaseTTL = 10 * time.Second

// expiryBatch bounds the expired copies one pass reads at a time.
const expiryBatch = 100

// Run sweeps until ctx ends, whenever this instance holds the lease.
func (s SweepPools) Run(ctx context.Context) {
	for ctx.Err() == nil {
		ran, err := s.Exclusive.Run(ctx, "warm-pool-sweeper", sweepLeaseTTL, s.lead)
		if err != nil && ctx.Err() == nil {
			s.Logger.Warn("the warm-pool sweeper stopped", "err", err)
		}
		if !ran || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(min(s.Interval, sweepLeaseTTL/2)):
			}
		}
	}
}

func (s SweepPools) lead(ctx context.Context) error {
	s.Logger.Info("this instance is the warm-pool sweeper")
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	for {
		if err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("warm-pool sweep failed; next one in an interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Once runs one sweep.
func (s SweepPools) Once(ctx context.Context) error {
	now := s.Clock.Now()
	for {
		old, err := s.Ledger.ExpiredCopies(ctx, now, expiryBatch)
		if err != nil {
			return err
		}
		if _, err := expireCopies(ctx, s.Templates, s.Assets, s.Pool, old, pool.ExpiredTTL, now, s.Metrics, s.Logger); err != nil {
			return err
		}
		if len(old) < expiryBatch {
			break
		}
	}
	pools, err := s.Ledger.Pools(ctx)
	if err != nil {
		return err
	}
	for _, p := range pools {
		if err := s.sweep(ctx, p, now); err != nil {
			return err
		}
	}
	return nil
}

func (s SweepPools) sweep(ctx context.Context, p pool.PoolState, now time.Time) error {
	if p.Closed {
		ready, err := s.Templates.ReadyCopies(ctx, p.TemplateID)
		if err != nil {
			return err
		}
		_, err = expireCopies(ctx, s.Templates, s.Assets, s.Pool, ready, pool.ExpiredClosed, now, s.Metrics, s.Logger)
		return err
	}
	// Redis first, then the store: a copy prepared in between is not in
	// `before`, so it is not taken for stale.
	before, err := s.Repairer.InPool(ctx, p.TemplateID)
	if err != nil {
		s.Logger.WarnContext(ctx, "warm pool not checked: Redis did not answer", "template", p.TemplateID, "err", err)
		return nil
	}
	ready, err := s.Templates.ReadyCopies(ctx, p.TemplateID)
	if err != nil {
		return err
	}
	added, removed, err := s.Repairer.Repair(ctx, p.TemplateID, before, ready)
	if err != nil {
		s.Logger.WarnContext(ctx, "warm pool not repaired: Redis did not answer", "template", p.TemplateID, "err", err)
	} else if added+removed > 0 {
		s.Logger.InfoContext(ctx, "warm pool repaired from the event store", "template", p.TemplateID, "added", added, "removed", removed)
	}
	if len(ready) < p.Target && requestRefill(ctx, s.Pool, s.Commands, s.Logger, p.TemplateID) {
		s.Metrics.refillRequested()
	}
	return nil
}
