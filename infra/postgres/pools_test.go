package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/testenv"
)

var poolAssets = []string{"templates/spring/01.png", "templates/spring/02.png"}

func newPoolRepo(t *testing.T) *postgres.PoolRepository {
	t.Helper()
	f := newFixture(t, 2)
	return postgres.NewPoolRepository(testenv.EventStore(t, f.db, f.outbox, testEvents, pool.EventTypes()...))
}

func openTemplate(t *testing.T, repo *postgres.PoolRepository, id string) *pool.Template {
	t.Helper()
	tpl := pool.LoadTemplate(nil)
	testenv.Must(t, tpl.OpenTemplate(pool.OpenTemplate{TemplateID: id, Name: "T " + id, Assets: poolAssets}, 4, at), "open")
	testenv.Must(t, repo.SaveTemplate(context.Background(), tpl), "save template")
	loaded, err := repo.LoadTemplate(context.Background(), id)
	testenv.Must(t, err, "load template")
	return loaded
}

func prepareCopy(t *testing.T, repo *postgres.PoolRepository, templateID, copyID string, preparedAt time.Time, ttl time.Duration) {
	t.Helper()
	c := pool.LoadCopy(nil)
	testenv.Must(t, c.Prepare(copyID, templateID, pool.CopyKeys(copyID, poolAssets), preparedAt, ttl), "prepare")
	testenv.Must(t, repo.SaveCopy(context.Background(), c), "save copy %s", copyID)
}

// The copy's stream decides: however many designs race for one ready copy
// (Redis handed it out twice, or replayed its list), exactly one takes it;
// the others get ErrConcurrentModification (or find it gone) and write
// nothing.
func TestExactlyOneDesignTakesAReadyCopy(t *testing.T) {
	repo := newPoolRepo(t)
	ctx := context.Background()
	openTemplate(t, repo, "spring")
	prepareCopy(t, repo, "spring", "c1", at, time.Hour)

	var mu sync.Mutex
	taken, lost := 0, 0
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			c, err := repo.LoadCopy(ctx, "c1")
			testenv.Must(t, err, "load")
			err = c.Take(fmt.Sprintf("d%02d", i), "owner", at)
			if err == nil {
				err = repo.SaveCopy(ctx, c)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				taken++
			case errors.Is(err, domain.ErrConcurrentModification), errors.Is(err, pool.ErrCopyGone):
				lost++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if taken != 1 || lost != 15 {
		t.Fatalf("taken %d lost %d, want 1 and 15", taken, lost)
	}
	ready, err := repo.ReadyCopies(ctx, "spring")
	testenv.Must(t, err, "ready")
	if len(ready) != 0 {
		t.Fatalf("ready after the take: %v", ready)
	}
	c, _ := repo.LoadCopy(ctx, "c1")
	d, err := repo.Design(ctx, c.TakenBy)
	testenv.Must(t, err, "design")
	if d.Source != pool.Warm || d.CopyID != "c1" || !reflect.DeepEqual(d.Assets, pool.CopyKeys("c1", poolAssets)) {
		t.Fatalf("design %+v", d)
	}
	kept, err := repo.KeptCopies(ctx, []string{"c1", "nobody"})
	testenv.Must(t, err, "kept")
	if !reflect.DeepEqual(kept, map[string]bool{"c1": true}) {
		t.Fatalf("kept %v", kept)
	}
}

func TestReadyExpiredAndKeptCopiesFollowTheStreams(t *testing.T) {
	repo := newPoolRepo(t)
	ctx := context.Background()
	tpl := openTemplate(t, repo, "spring")
	openTemplate(t, repo, "autumn")
	prepareCopy(t, repo, "spring", "old", at, time.Minute)
	prepareCopy(t, repo, "spring", "young", at.Add(time.Second), time.Hour)
	prepareCopy(t, repo, "spring", "gone", at.Add(2*time.Second), time.Minute)

	// "gone" expires; a cold design owns "cold".
	c, _ := repo.LoadCopy(ctx, "gone")
	testenv.Must(t, c.Expire(pool.ExpiredTTL, at), "expire")
	testenv.Must(t, repo.SaveCopy(ctx, c), "save expiry")
	d := pool.LoadDesign(nil)
	testenv.Must(t, d.CreateCold("dc", tpl, "alice", "cold", pool.CopyKeys("cold", poolAssets), at), "cold")
	testenv.Must(t, repo.SaveDesign(ctx, d), "save design")

	ready, err := repo.ReadyCopies(ctx, "spring")
	testenv.Must(t, err, "ready")
	if len(ready) != 2 || ready[0].CopyID != "old" || ready[1].CopyID != "young" || !ready[0].ExpiresAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("ready %+v", ready)
	}
	expired, err := repo.ExpiredCopies(ctx, at.Add(2*time.Minute), 10)
	testenv.Must(t, err, "expired")
	if len(expired) != 1 || expired[0].CopyID != "old" {
		t.Fatalf("past their expiry %+v", expired)
	}
	kept, err := repo.KeptCopies(ctx, []string{"old", "young", "gone", "cold", "orphan"})
	testenv.Must(t, err, "kept")
	if !reflect.DeepEqual(kept, map[string]bool{"old": true, "young": true, "cold": true}) {
		t.Fatalf("kept %v", kept)
	}
	got, err := repo.Design(ctx, "dc")
	testenv.Must(t, err, "design")
	if got.Source != pool.Cold || got.CopyID != "cold" || got.OwnerID != "alice" {
		t.Fatalf("cold design %+v", got)
	}
	if _, err := repo.Design(ctx, "nope"); !errors.Is(err, pool.ErrDesignNotFound) {
		t.Fatalf("unknown design: %v", err)
	}

	// Pools: open templates with their count; a closed one only while it
	// still has ready copies to drain.
	pools, err := repo.Pools(ctx)
	testenv.Must(t, err, "pools")
	want := []pool.PoolState{{TemplateID: "autumn", Target: 4}, {TemplateID: "spring", Target: 4, Ready: 2}}
	if !reflect.DeepEqual(pools, want) {
		t.Fatalf("pools %+v, want %+v", pools, want)
	}
	testenv.Must(t, tpl.Close(at), "close")
	testenv.Must(t, repo.SaveTemplate(ctx, tpl), "save close")
	closeAutumn, _ := repo.LoadTemplate(ctx, "autumn")
	testenv.Must(t, closeAutumn.Close(at), "close autumn")
	testenv.Must(t, repo.SaveTemplate(ctx, closeAutumn), "save close autumn")
	pools, _ = repo.Pools(ctx)
	if want := []pool.PoolState{{TemplateID: "spring", Target: 4, Closed: true, Ready: 2}}; !reflect.DeepEqual(pools, want) {
		t.Fatalf("pools after closing %+v", pools)
	}
}
