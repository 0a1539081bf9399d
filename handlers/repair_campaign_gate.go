package handlers

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
)

// CouponOutcomes reads the final outcomes the event store holds for a
// campaign, a page at a time, ordered by user.
type CouponOutcomes interface {
	Outcomes(ctx context.Context, campaignID, afterUser string, limit int) ([]coupon.Outcome, error)
}

// QueuedCommands measures the IssueCoupon commands stored in Kafka that
// their handler has not finished yet, per partition.
type QueuedCommands interface {
	// Backlog is the end of the command topic now: partition -> offset.
	Backlog(ctx context.Context) (map[int32]int64, error)
	// Remaining counts the commands before backlog not handled yet.
	Remaining(ctx context.Context, backlog map[int32]int64) (int64, error)
}

// GateRestorer writes what a repair restores.
type GateRestorer interface {
	CampaignGateOpener
	RestoreOutcomes(ctx context.Context, campaignID string, outcomes []coupon.Outcome) error
}

// Exclusive runs fn while this process alone holds the lease name (across
// every instance), and reports whether it ran.
type Exclusive interface {
	Run(ctx context.Context, name string, ttl time.Duration, fn func(ctx context.Context) error) (bool, error)
}

// RepairCampaignGate rebuilds a campaign's admission gate in Redis from the
// event store after Redis lost it (flushed, restarted empty, failed over to
// an empty replica). It first lets the IssueCoupon commands already in
// Kafka be handled (each ends issued or rejected in the event store), then
// restores every final outcome as an admission, and only then opens the
// gate. Until then the gate answers coupon.ErrGateRepairing (503 with
// Retry-After): nothing is admitted against a half-restored count. One
// instance repairs a campaign at a time; the others wait for it.
//
// Should the queue not drain within DrainTimeout (no command handler runs),
// the gate opens anyway and the database's limit decides the commands still
// queued: each ends issued or rejected, never over the limit.
type RepairCampaignGate struct {
	Campaigns    CampaignRepository
	Outcomes     CouponOutcomes
	Queue        QueuedCommands
	Gate         GateRestorer
	Exclusive    Exclusive
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// Repaired is called after each repair (metrics); may be nil.
	Repaired func(campaignID string, outcomes int, drained bool, took time.Duration)

	mu      sync.Mutex
	queued  map[string]bool
	running map[string]time.Time
	wake    chan struct{}
}

// pagedOutcomes is how many outcomes a repair reads and writes at a time.
const pagedOutcomes = 1000

// Missing implements GateRepairer.
func (r *RepairCampaignGate) Missing(ctx context.Context, campaignID string) error {
	campaign, err := r.Campaigns.LoadCampaign(ctx, campaignID)
	if err != nil {
		return err
	}
	if !campaign.Exists() {
		return coupon.ErrCampaignNotFound
	}
	r.Start(campaignID)
	return coupon.ErrGateRepairing
}

// Start implements GateRepairer: the repair runs in Run's goroutine.
func (r *RepairCampaignGate) Start(campaignID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if r.queued[campaignID] || !r.running[campaignID].IsZero() {
		return
	}
	r.queued[campaignID] = true
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *RepairCampaignGate) init() {
	if r.queued == nil {
		r.queued, r.running, r.wake = map[string]bool{}, map[string]time.Time{}, make(chan struct{}, 1)
	}
}

// Repairing lists the campaigns this process is repairing or about to.
func (r *RepairCampaignGate) Repairing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.queued {
		ids = append(ids, id)
	}
	for id := range r.running {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Run repairs the campaigns asked for until ctx ends, several at once.
func (r *RepairCampaignGate) Run(ctx context.Context) {
	r.mu.Lock()
	r.init()
	wake := r.wake
	r.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		r.mu.Lock()
		for id := range r.queued {
			delete(r.queued, id)
			r.running[id] = time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.Repair(ctx, id); err != nil && ctx.Err() == nil {
					r.Logger.Error("gate repair failed; the next application retries it", "campaign", id, "err", err)
				}
				r.mu.Lock()
				delete(r.running, id)
				r.mu.Unlock()
			}()
		}
		r.mu.Unlock()
	}
}

// Repair rebuilds the gate of campaignID now, unless it admits already or
// another instance is repairing it.
func (r *RepairCampaignGate) Repair(ctx context.Context, campaignID string) error {
	campaign, err := r.Campaigns.LoadCampaign(ctx, campaignID)
	if err != nil || !campaign.Exists() {
		return err
	}
	_, err = r.Exclusive.Run(ctx, "campaign-gate-repair:"+campaignID, 30*time.Second, func(ctx context.Context) error {
		if _, ready, err := r.Gate.GateState(ctx, campaignID); err != nil || ready {
			return err
		}
		start := time.Now()
		r.Logger.Warn("the admission gate of a campaign is missing from Redis: rebuilding it from the event store",
			"campaign", campaignID, "drain_timeout", r.DrainTimeout.String())
		drained := r.waitDrained(ctx)
		restored, after := 0, ""
		for {
			page, err := r.Outcomes.Outcomes(ctx, campaignID, after, pagedOutcomes)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			if err := r.Gate.RestoreOutcomes(ctx, campaignID, page); err != nil {
				return err
			}
			restored += len(page)
			after = page[len(page)-1].UserID
		}
		if err := r.Gate.Open(ctx, campaignID, campaign.Name, campaign.Limit); err != nil {
			return err
		}
		took := time.Since(start)
		r.Logger.Warn("campaign gate rebuilt from the event store", "campaign", campaignID,
			"outcomes_restored", restored, "queue_drained", drained, "took", took.String())
		if r.Repaired != nil {
			r.Repaired(campaignID, restored, drained, took)
		}
		return nil
	})
	return err
}

// waitDrained waits until every IssueCoupon command stored before the
// repair began was handled (later ones cannot be for this campaign: its gate
// admits no one meanwhile), at most DrainTimeout, and says whether they were.
func (r *RepairCampaignGate) waitDrained(ctx context.Context) bool {
	deadline := time.Now().Add(r.DrainTimeout)
	var backlog map[int32]int64
	for {
		var remaining int64
		var err error
		if backlog == nil {
			backlog, err = r.Queue.Backlog(ctx)
		}
		if err == nil {
			remaining, err = r.Queue.Remaining(ctx, backlog)
			if err == nil && remaining == 0 {
				return true
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Logger.Warn("IssueCoupon commands are still queued; opening the gate anyway: the database's limit decides them",
				"queued", remaining, "err", err)
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
