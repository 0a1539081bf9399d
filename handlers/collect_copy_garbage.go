package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/pool"
)

// CopyOwners says which copies must keep their objects: a ready copy, or
// the copy a design owns.
type CopyOwners interface {
	KeptCopies(ctx context.Context, copyIDs []string) (map[string]bool, error)
}

// CollectCopyGarbage deletes the objects under the copies prefix that
// belong to no design and no ready copy and are older than Grace: what a
// crash in the middle of a copy left, or a deletion that failed. Grace is
// longer than any copy may take (copies give up at half of it), so nothing
// still being copied is deleted. `surge warm-pool gc` runs it once; Run
// runs it every Interval in one instance at a time.
type CollectCopyGarbage struct {
	Assets AssetStore
	Owners CopyOwners
	Grace  time.Duration // SURGE_WARM_POOL_GC_GRACE
	// Interval (SURGE_WARM_POOL_GC_INTERVAL) and Exclusive: for Run.
	Interval  time.Duration
	Exclusive Exclusive
	Clock     Clock
	Logger    *slog.Logger
	// Deleted is called with the number of objects deleted (metrics).
	Deleted func(n int)
}

// GarbageReport is what one collection found.
type GarbageReport struct {
	Objects   int `json:"objects"` // under the copies prefix
	Kept      int `json:"kept"`    // of a design or a ready copy
	Young     int `json:"young"`   // unowned, but within the grace period
	Deleted   int `json:"deleted"` // unowned and older than the grace period
	CopiesDel int `json:"copiesDeleted"`
}

// Once collects once, a page of the listing at a time: the objects of one
// copy are next to each other in key order (copies/<copyID>/…), so each
// page's copies are judged together except the last, which may go on in
// the next page. Memory stays a page whatever the bucket holds.
func (g CollectCopyGarbage) Once(ctx context.Context) (GarbageReport, error) {
	var r GarbageReport
	cutoff := g.Clock.Now().Add(-g.Grace)
	var held []StoredObject // the copy that may go on in the next page
	err := g.Assets.ListPages(ctx, pool.CopiesPrefix, func(page []StoredObject) error {
		r.Objects += len(page)
		objects := append(held, page...)
		held = nil
		if n := len(objects); n > 0 {
			last := pool.CopyIDOf(objects[n-1].Key)
			i := n
			for i > 0 && pool.CopyIDOf(objects[i-1].Key) == last {
				i--
			}
			objects, held = objects[:i], append([]StoredObject(nil), objects[i:]...)
		}
		return g.judge(ctx, objects, cutoff, &r)
	})
	if err == nil {
		err = g.judge(ctx, held, cutoff, &r)
	}
	if r.Deleted > 0 {
		g.Logger.InfoContext(ctx, "warm-pool garbage deleted", "objects", r.Deleted, "copies", r.CopiesDel, "kept", r.Kept, "young", r.Young)
	}
	return r, err
}

// Run collects every Interval, when no other instance is collecting.
func (g CollectCopyGarbage) Run(ctx context.Context) {
	// A long listing keeps the lease: Exclusive renews it while the pass runs.
	leasedEvery(ctx, g.Exclusive, "warm-pool-gc", g.Interval, g.Logger, func(ctx context.Context) error {
		_, err := g.Once(ctx)
		return err
	})
}

// judge deletes the objects of the copies in objects (each copy whole)
// that no design and no ready copy owns and that are all older than
// cutoff.
func (g CollectCopyGarbage) judge(ctx context.Context, objects []StoredObject, cutoff time.Time, r *GarbageReport) error {
	if len(objects) == 0 {
		return nil
	}
	byCopy := map[string][]StoredObject{}
	var ids []string
	for _, o := range objects {
		id := pool.CopyIDOf(o.Key)
		if _, seen := byCopy[id]; !seen {
			ids = append(ids, id)
		}
		byCopy[id] = append(byCopy[id], o)
	}
	kept, err := g.Owners.KeptCopies(ctx, ids)
	if err != nil {
		return err
	}
	var garbage []string
	copies := 0
	for _, id := range ids {
		objs := byCopy[id]
		if kept[id] {
			r.Kept += len(objs)
			continue
		}
		// A copy is judged whole: if any of its objects is young, it may
		// still be being copied.
		young := false
		for _, o := range objs {
			if o.LastModified.After(cutoff) {
				young = true
				break
			}
		}
		if young {
			r.Young += len(objs)
			continue
		}
		copies++
		for _, o := range objs {
			garbage = append(garbage, o.Key)
		}
	}
	if len(garbage) == 0 {
		return nil
	}
	if err := g.Assets.DeleteAll(ctx, garbage); err != nil {
		return err
	}
	r.Deleted += len(garbage)
	r.CopiesDel += copies
	if g.Deleted != nil {
		g.Deleted(len(garbage))
	}
	return nil
}
