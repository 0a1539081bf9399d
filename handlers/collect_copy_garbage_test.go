package handlers

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"
)

// pagedAssets lists its objects in key order, pageSize at a time, and
// records each DeleteAll.
type pagedAssets struct {
	AssetStore
	objects  []StoredObject
	pageSize int
	deletes  [][]string
}

func (a *pagedAssets) ListPages(_ context.Context, _ string, fn func([]StoredObject) error) error {
	for i := 0; i < len(a.objects); i += a.pageSize {
		if err := fn(a.objects[i:min(i+a.pageSize, len(a.objects))]); err != nil {
			return err
		}
	}
	return nil
}

func (a *pagedAssets) DeleteAll(_ context.Context, keys []string) error {
	a.deletes = append(a.deletes, append([]string(nil), keys...))
	return nil
}

type keptCopies struct {
	kept  map[string]bool
	asked [][]string
}

func (k *keptCopies) KeptCopies(_ context.Context, ids []string) (map[string]bool, error) {
	k.asked = append(k.asked, ids)
	return k.kept, nil
}

// The collector reads the listing a page at a time and judges every copy
// whole, even one whose objects span two pages: a copy with one young
// object is kept whole, an old unowned one deleted whole, in one call.
func TestGarbageIsJudgedACopyAtATimeAcrossPages(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-2*time.Hour), now.Add(-time.Minute)
	obj := func(copyID, asset string, at time.Time) StoredObject {
		return StoredObject{Key: "copies/" + copyID + "/" + asset, LastModified: at}
	}
	// Pages of 3: [a1 a2 b1] [b2 b3 c1] [c2 d1 d2].
	assets := &pagedAssets{pageSize: 3, objects: []StoredObject{
		obj("a", "1.png", old), obj("a", "2.png", old), // a design's
		obj("b", "1.png", old), obj("b", "2.png", old), obj("b", "3.png", old), // crashed mid-refill, long ago: spans pages 1 and 2
		obj("c", "1.png", old), obj("c", "2.png", young), // spans pages 2 and 3, its young object on the later page: kept whole
		obj("d", "1.png", old), obj("d", "2.png", old), // the last copy, on the last page
	}}
	owners := &keptCopies{kept: map[string]bool{"a": true}}
	g := CollectCopyGarbage{Assets: assets, Owners: owners, Grace: time.Hour, Clock: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	r, err := g.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (GarbageReport{Objects: 9, Kept: 2, Young: 2, Deleted: 5, CopiesDel: 2}); r != want {
		t.Fatalf("report %+v, want %+v", r, want)
	}
	var deleted []string
	for _, call := range assets.deletes {
		copies := map[string]bool{}
		for _, k := range call {
			copies[strings.Split(k, "/")[1]] = true
		}
		for id := range copies {
			n := 0
			for _, o := range assets.objects {
				if strings.HasPrefix(o.Key, "copies/"+id+"/") {
					n++
				}
			}
			got := 0
			for _, k := range call {
				if strings.HasPrefix(k, "copies/"+id+"/") {
					got++
				}
			}
			if got != n {
				t.Fatalf("copy %s deleted in part (%d of %d objects in one call): %v", id, got, n, assets.deletes)
			}
		}
		deleted = append(deleted, call...)
	}
	sort.Strings(deleted)
	if strings.Join(deleted, " ") != "copies/b/1.png copies/b/2.png copies/b/3.png copies/d/1.png copies/d/2.png" {
		t.Fatalf("deleted %v", deleted)
	}
	for _, ids := range owners.asked {
		if len(ids) > 3 {
			t.Fatalf("asked about %d copies at once (%v): more than a page's", len(ids), owners.asked)
		}
	}
}
