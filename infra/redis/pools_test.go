package redis_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

func newPools(t *testing.T) *redis.Pools {
	t.Helper()
	return redis.NewPools(testenv.Redis(t), testenv.RedisPrefix(t))
}

func readyCopy(id string, at time.Time) pool.ReadyCopy {
	return pool.ReadyCopy{CopyID: id, TemplateID: "spring", PreparedAt: at, ExpiresAt: at.Add(time.Hour)}
}

func TestPoolPopsOldestFirstAndEachCopyOnce(t *testing.T) {
	p := newPools(t)
	ctx := context.Background()
	var copies []pool.ReadyCopy
	for i := range 20 {
		copies = append(copies, readyCopy(fmt.Sprintf("c%02d", i), t0.Add(time.Duration(20-i)*time.Second)))
	}
	testenv.Must(t, p.Restore(ctx, copies), "restore")
	testenv.Must(t, p.Restore(ctx, copies[:5]), "restore again") // NX: nothing doubles
	first, err := p.Pop(ctx, "spring")
	testenv.Must(t, err, "pop")
	if first != "c19" {
		t.Fatalf("first pop %q, want the oldest (c19)", first)
	}
	// 30 concurrent pops of the 19 left: each copy to exactly one caller.
	var mu sync.Mutex
	got := map[string]int{}
	empty := 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			id, err := p.Pop(ctx, "spring")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case id == "":
				empty++
			default:
				got[id]++
			}
		})
	}
	wg.Wait()
	if len(got) != 19 || empty != 11 {
		t.Fatalf("%d distinct copies popped, %d empty pops; want 19 and 11", len(got), empty)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("copy %s popped %d times", id, n)
		}
	}
}

func TestOneRefillInFlightPerTemplate(t *testing.T) {
	p := newPools(t)
	ctx := context.Background()
	var wins sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 100 {
		wins.Go(func() {
			ok, err := p.RequestRefill(ctx, "spring", time.Minute)
			testenv.Must(t, err, "request")
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wins.Wait()
	if won != 1 {
		t.Fatalf("%d of 100 requests got the refill, want 1", won)
	}
	if ok, _ := p.RequestRefill(ctx, "autumn", time.Minute); !ok {
		t.Fatal("another template's refill is independent")
	}
	testenv.Must(t, p.RefillDone(ctx, "spring"), "done")
	if ok, _ := p.RequestRefill(ctx, "spring", 200*time.Millisecond); !ok {
		t.Fatal("after RefillDone the next request wins")
	}
	time.Sleep(300 * time.Millisecond)
	if ok, _ := p.RequestRefill(ctx, "spring", time.Minute); !ok {
		t.Fatal("a marker nobody ended expires")
	}
}

func TestReadModelNeverPoolsACopyOfAClosedTemplate(t *testing.T) {
	p := newPools(t)
	ctx := context.Background()
	testenv.Must(t, p.SaveTemplate(ctx, pool.TemplateOpened{TemplateID: "spring", Name: "Spring", Assets: []string{"a", "b"}, Target: 4, OpenedAt: t0}), "open")
	prepared := func(id string, at time.Time) pool.WarmCopyPrepared {
		return pool.WarmCopyPrepared{CopyID: id, TemplateID: "spring", PreparedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	testenv.Must(t, p.CopyReady(ctx, prepared("c1", t0.Add(time.Second))), "c1")
	testenv.Must(t, p.CopyReady(ctx, prepared("c2", t0.Add(2*time.Second))), "c2")
	testenv.Must(t, p.CopyReady(ctx, prepared("c1", t0.Add(9*time.Second))), "c1 again") // redelivered: same place
	v, err := p.TemplateView(ctx, "spring")
	testenv.Must(t, err, "view")
	oldest := projections.FormatTime(t0.Add(time.Second))
	want := projections.TemplateView{ID: "spring", Name: "Spring", Assets: 2, Pool: projections.PoolView{Ready: 2, Target: 4, OldestReadyAt: &oldest}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("view %+v, want %+v", v, want)
	}
	testenv.Must(t, p.CopyGone(ctx, "spring", "c1"), "gone")
	testenv.Must(t, p.CloseTemplate(ctx, "spring"), "close")
	testenv.Must(t, p.CopyReady(ctx, prepared("c3", t0.Add(3*time.Second))), "c3 after close")
	if in, _ := p.InPool(ctx, "spring"); len(in) != 0 {
		t.Fatalf("a closed template's pool holds %v", in)
	}
	if v, _ := p.TemplateView(ctx, "spring"); !v.Closed || v.Pool.Ready != 0 {
		t.Fatalf("closed view %+v", v)
	}
	if _, err := p.TemplateView(ctx, "autumn"); !errors.Is(err, domain.ErrNotInFastPath) {
		t.Fatalf("unknown template: %v", err)
	}
}

func TestRepairAddsMissingAndDropsOnlyWhatWasStaleBeforeTheStoreWasRead(t *testing.T) {
	p := newPools(t)
	ctx := context.Background()
	testenv.Must(t, p.Restore(ctx, []pool.ReadyCopy{readyCopy("taken", t0), readyCopy("kept", t0.Add(time.Second))}), "restore")
	before, err := p.InPool(ctx, "spring")
	testenv.Must(t, err, "before")
	// Between reading Redis and the store, a refill adds a fresh copy.
	testenv.Must(t, p.Restore(ctx, []pool.ReadyCopy{readyCopy("fresh", t0.Add(3*time.Second))}), "fresh")
	// The store: "taken" went to a design, "lost" is ready but Redis lost it.
	ready := []pool.ReadyCopy{readyCopy("kept", t0.Add(time.Second)), readyCopy("lost", t0.Add(2*time.Second))}
	added, removed, err := p.Repair(ctx, "spring", before, ready)
	testenv.Must(t, err, "repair")
	in, _ := p.InPool(ctx, "spring")
	sort.Strings(in)
	if added != 1 || removed != 1 || !reflect.DeepEqual(in, []string{"fresh", "kept", "lost"}) {
		t.Fatalf("added %d removed %d pool %v", added, removed, in)
	}
}

func TestDesignViewIsWrittenOnce(t *testing.T) {
	p := newPools(t)
	ctx := context.Background()
	if _, err := p.Design(ctx, "d1"); !errors.Is(err, domain.ErrNotInFastPath) {
		t.Fatalf("unknown design: %v", err)
	}
	v := projections.DesignView{DesignID: "d1", TemplateID: "spring", OwnerID: "alice", Source: pool.Warm,
		Assets: []pool.CopyKey{{From: "a", Key: "copies/c1/a"}}, CreatedAt: projections.FormatTime(t0)}
	testenv.Must(t, p.SaveDesign(ctx, v), "save")
	other := v
	other.OwnerID = "mallory"
	testenv.Must(t, p.SaveDesign(ctx, other), "save again")
	b, err := p.Design(ctx, "d1")
	testenv.Must(t, err, "read")
	if want := `{"designId":"d1","templateId":"spring","ownerId":"alice","source":"warm","assets":[{"from":"a","key":"copies/c1/a"}],"createdAt":"2026-12-01T09:00:00.000Z"}`; string(b) != want {
		t.Fatalf("design %s", b)
	}
}
