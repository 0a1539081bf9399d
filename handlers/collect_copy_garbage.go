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
// still being copied is deleted. `surge warm-pool gc` runs it once; the
// sweeper runs it on a schedule.
type CollectCopyGarbage struct {
	Assets AssetStore
	Owners CopyOwners
	Grace  time.Duration // SURGE_WARM_POOL_GC_GRACE
	Clock  Clock
	Logger *slog.Logger
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

// Once collects once.
func (g CollectCopyGarbage) Once(ctx context.Context) (GarbageReport, error) {
	var r GarbageReport
	objects, err := g.Assets.List(ctx, pool.CopiesPrefix)
	if err != nil {
		return r, err
	}
	r.Objects = len(objects)
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
		return r, err
	}
	cutoff := g.Clock.Now().Add(-g.Grace)
	var garbage []string
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
		r.CopiesDel++
		for _, o := range objs {
			garbage = append(garbage, o.Key)
		}
	}
	if len(garbage) == 0 {
		return r, nil
	}
	if err := g.Assets.DeleteAll(ctx, garbage); err != nil {
		return r, err
	}
	r.Deleted = len(garbage)
	if g.Deleted != nil {
		g.Deleted(r.Deleted)
	}
	g.Logger.InfoContext(ctx, "warm-pool garbage deleted", "objects", r.Deleted, "copies", r.CopiesDel, "kept", r.Kept, "young", r.Young)
	return r, nil
}
