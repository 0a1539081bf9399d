package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/objectstore"
	"github.com/surge-platform/surge/infra/objectstore/s3server"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/testenv"
)

// bucket is a local S3-compatible server holding a template's assets, and
// a client to look into it.
type bucket struct {
	srv    *s3server.Server
	store  *objectstore.Store
	assets []string
}

// newBucket starts an S3 server with latency per request and puts n assets.
func newBucket(t *testing.T, latency time.Duration, n int) *bucket {
	t.Helper()
	srv, err := s3server.Start(s3server.Options{Buckets: []string{"surge-assets"}, Latency: latency})
	testenv.Must(t, err, "s3 server")
	t.Cleanup(func() { srv.Close() })
	store, err := objectstore.New(objectstore.Config{Endpoint: srv.URL(), Bucket: "surge-assets"})
	testenv.Must(t, err, "s3 client")
	b := &bucket{srv: srv, store: store}
	var wg sync.WaitGroup
	b.assets = make([]string, n)
	for i := range n {
		b.assets[i] = fmt.Sprintf("templates/spring/%02d.png", i+1)
		wg.Go(func() {
			testenv.Must(t, store.Put(context.Background(), b.assets[i], []byte(strings.Repeat("x", 1000+i)), "image/png"), "put %d", i)
		})
	}
	wg.Wait()
	return b
}

// copies lists the objects under the copies prefix, by copy id.
func (b *bucket) copies(t *testing.T) map[string][]string {
	t.Helper()
	objects, err := b.store.List(context.Background(), pool.CopiesPrefix)
	testenv.Must(t, err, "list copies")
	out := map[string][]string{}
	for _, o := range objects {
		id := pool.CopyIDOf(o.Key)
		out[id] = append(out[id], o.Key)
	}
	return out
}

// poolConfig is a test configuration on the bucket, with the sweeper and
// the garbage collector quiet unless a test wants them.
func poolConfig(t *testing.T, b *bucket) config.Config {
	cfg := testenv.Config(t)
	cfg.Set("SURGE_S3_ENDPOINT", b.srv.URL())
	cfg.Set("SURGE_S3_TIMEOUT", "2s")
	cfg.Set("SURGE_WARM_POOL_GC_GRACE", "8s")
	cfg.Set("SURGE_WARM_POOL_SWEEP", "1h")
	cfg.Set("SURGE_WARM_POOL_GC_INTERVAL", "1h")
	return cfg
}

type templateView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Assets int    `json:"assets"`
	Pool   struct {
		Ready         int     `json:"ready"`
		Target        int     `json:"target"`
		OldestReadyAt *string `json:"oldestReadyAt"`
	} `json:"pool"`
}

type designView struct {
	DesignID   string         `json:"designId"`
	TemplateID string         `json:"templateId"`
	OwnerID    string         `json:"ownerId"`
	Source     string         `json:"source"`
	Assets     []pool.CopyKey `json:"assets"`
}

func openPoolTemplate(t *testing.T, a *testApp, id string, assets []string) templateView {
	t.Helper()
	res := a.do(t, "POST", "/v1/templates", map[string]any{"id": id, "name": "Template " + id, "assets": assets})
	if res.Status != http.StatusCreated {
		t.Fatalf("open template: %d %s", res.Status, res.Body)
	}
	var v templateView
	res.JSON(t, &v)
	return v
}

// waitPool waits until the template's pool holds ready copies (API and
// store agree).
func waitPool(t *testing.T, a *testApp, db *sql.DB, id string, ready int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("pool of %s holds %d ready copies", id, ready), func() bool {
		var v templateView
		res := a.do(t, "GET", "/v1/templates/"+id, nil)
		res.JSON(t, &v)
		return v.Pool.Ready == ready && len(readyCopies(t, db, id)) == ready
	})
}

// readyCopies are the template's ready copies as the store lists them.
func readyCopies(t *testing.T, db *sql.DB, templateID string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT copy_id FROM warm_copies WHERE template_id = $1 AND state = 'ready' ORDER BY copy_id`, templateID)
	testenv.Must(t, err, "ready copies")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		testenv.Must(t, rows.Scan(&id), "scan")
		out = append(out, id)
	}
	return out
}

// designCopies are the copies every design owns.
func designCopies(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT copy_id FROM designs`)
	testenv.Must(t, err, "designs")
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		testenv.Must(t, rows.Scan(&id), "scan")
		out[id] = true
	}
	return out
}

// requireNoOrphans fails unless the bucket's copies are exactly the ready
// copies' and the designs', each whole.
func requireNoOrphans(t *testing.T, b *bucket, db *sql.DB, templateID string) {
	t.Helper()
	if problem := orphans(t, b, db, templateID); problem != "" {
		t.Fatal(problem)
	}
}

// orphans describes what is wrong with the bucket ("" when nothing is).
func orphans(t *testing.T, b *bucket, db *sql.DB, templateID string) string {
	t.Helper()
	owned := designCopies(t, db)
	for _, id := range readyCopies(t, db, templateID) {
		owned[id] = true
	}
	inBucket := b.copies(t)
	for id, keys := range inBucket {
		if !owned[id] {
			return fmt.Sprintf("copy %s has %d objects but belongs to no design and no ready copy", id, len(keys))
		}
		if len(keys) != len(b.assets) {
			return fmt.Sprintf("copy %s has %d objects, want %d", id, len(keys), len(b.assets))
		}
	}
	for id := range owned {
		if _, ok := inBucket[id]; !ok {
			return fmt.Sprintf("copy %s is owned but has no objects", id)
		}
	}
	return ""
}

// poolMetric sums a counter over the apps (labels as in the exposition,
// e.g. `source="warm"`).
func poolMetric(t *testing.T, name, labels string, apps ...*testApp) int {
	t.Helper()
	sel := name
	if labels != "" {
		sel += "{" + labels + "}"
	}
	total := 0
	for _, a := range apps {
		res := a.do(t, "GET", "/metrics", nil)
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sel) + ` (\d+)$`).FindStringSubmatch(string(res.Body))
		if m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// A pool of 4 and 50 designs at once across two instances: 4 warm, 46 cold,
// no object shared by two designs, and the pool back to 4. The S3 latency
// (400 ms a request) makes the refill's first new copy land well after
// every creation has popped, so exactly the 4 prepared beforehand are warm.
//
// Refills: the template's opening sends one; in the burst, the first
// design to finish takes the marker and sends the second, which every
// other design then finds in flight; it prepares 4 and ends. So exactly 2
// RefillPool commands are sent and handled.
func TestFiftyConcurrentDesignsAcrossTwoInstancesTakeEachCopyOnce(t *testing.T) {
	b := newBucket(t, 400*time.Millisecond, 3)
	cfg := poolConfig(t, b)
	one := startApp(t, cfg, allRoles)
	two := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openPoolTemplate(t, one, "spring", b.assets)
	waitPool(t, one, db, "spring", 4)
	waitQuiet(t, one) // the opening's refill has ended
	prepared := readyCopies(t, db, "spring")

	designs := make([]designView, 50)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			a := []*testApp{one, two}[i%2]
			res, err := a.try("POST", "/v1/templates/spring/designs", map[string]string{"ownerId": fmt.Sprintf("user-%02d", i)})
			if err != nil || res.Status != http.StatusCreated {
				t.Errorf("design %d: %v %d %s", i, err, res.Status, res.Body)
				return
			}
			testenv.Must(t, json.Unmarshal(res.Body, &designs[i]), "decode")
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	warm, cold := 0, 0
	keys := map[string]string{}
	var warmCopies []string
	for i, d := range designs {
		switch d.Source {
		case pool.Warm:
			warm++
			warmCopies = append(warmCopies, pool.CopyIDOf(d.Assets[0].Key))
		case pool.Cold:
			cold++
		}
		if d.TemplateID != "spring" || d.OwnerID != fmt.Sprintf("user-%02d", i) || len(d.Assets) != 3 {
			t.Fatalf("design %d: %+v", i, d)
		}
		for j, k := range d.Assets {
			if k.From != b.assets[j] {
				t.Fatalf("design %d asset %d from %q", i, j, k.From)
			}
			if other, dup := keys[k.Key]; dup {
				t.Fatalf("designs %s and %s share %s", other, d.DesignID, k.Key)
			}
			keys[k.Key] = d.DesignID
		}
	}
	if warm != 4 || cold != 46 {
		t.Fatalf("%d warm and %d cold, want 4 and 46", warm, cold)
	}
	sort.Strings(warmCopies)
	if strings.Join(warmCopies, ",") != strings.Join(prepared, ",") {
		t.Fatalf("warm designs took %v, the pool held %v", warmCopies, prepared)
	}
	waitPool(t, one, db, "spring", 4)
	waitQuiet(t, one)
	waitQuiet(t, two)
	// The bucket: every design's objects exist, and nothing but the 50
	// designs' and the 4 new ready copies'.
	inBucket := b.copies(t)
	for key, design := range keys {
		id := pool.CopyIDOf(key)
		found := false
		for _, k := range inBucket[id] {
			found = found || k == key
		}
		if !found {
			t.Fatalf("design %s's object %s is not in the bucket", design, key)
		}
	}
	if len(inBucket) != 54 {
		t.Fatalf("%d copies in the bucket, want 50 designs + 4 ready", len(inBucket))
	}
	requireNoOrphans(t, b, db, "spring")
	if got := poolMetric(t, "surge_pool_designs_created_total", `source="warm"`, one, two); got != 4 {
		t.Fatalf("warm designs counted %d", got)
	}
	requests := poolMetric(t, "surge_pool_refill_requests_total", "", one, two)
	runs := poolMetric(t, "surge_pool_refill_runs_total", `outcome="prepared"`, one, two)
	redelivered := poolMetric(t, "surge_pool_refill_runs_total", `outcome="full"`, one, two)
	var preparedEvents int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events WHERE event_type = 'pool.warm_copy_prepared.v1'`).Scan(&preparedEvents), "count")
	if requests != 2 || runs != 2 || preparedEvents != 8 {
		t.Fatalf("%d refills requested, %d prepared copies, %d copies prepared; want 2, 2 and 8 (the opening's and the burst's)", requests, runs, preparedEvents)
	}
	// Kafka may redeliver a command while the second instance joins the
	// consumer group (at least once); such a run finds the pool full.
	t.Logf("refills: %d requested, %d prepared copies, %d redeliveries found the pool full", requests, runs, redelivered)
}

// Copies older than the TTL are expired, their objects deleted, and fresh
// ones prepared; DELETE drains the pool and deletes the ready copies'
// objects, while designs keep theirs. Nothing is left over either way.
func TestExpiryAndDeleteLeaveNoOrphans(t *testing.T) {
	b := newBucket(t, 0, 4)
	cfg := poolConfig(t, b)
	cfg.Set("SURGE_WARM_POOL_TTL", "6s")
	cfg.Set("SURGE_WARM_POOL_SWEEP", "300ms")
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openPoolTemplate(t, app, "spring", b.assets)
	waitPool(t, app, db, "spring", 4)
	first := readyCopies(t, db, "spring")
	var design designView
	res := app.do(t, "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": "alice"})
	res.JSON(t, &design)
	if res.Status != http.StatusCreated || design.Source != pool.Warm {
		t.Fatalf("design: %d %s", res.Status, res.Body)
	}

	// The first copies expire and are replaced.
	testenv.Eventually(t, 30*time.Second, "the first ready copies expired and fresh ones ready", func() bool {
		ready := readyCopies(t, db, "spring")
		if len(ready) != 4 {
			return false
		}
		for _, id := range ready {
			for _, old := range first {
				if id == old {
					return false
				}
			}
		}
		return true
	})
	// Until the fresh copies expire (seconds from now), the bucket holds
	// exactly the design's objects and the ready copies'.
	requireNoOrphans(t, b, db, "spring")
	var expired int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events WHERE event_type = 'pool.warm_copy_expired.v1' AND payload->>'reason' = 'ttl'`).Scan(&expired), "count")
	if expired < 3 {
		t.Fatalf("%d copies expired by TTL, want the first 3 unused at least", expired)
	}
	inBucket := b.copies(t)
	for _, old := range first {
		if old != pool.CopyIDOf(design.Assets[0].Key) && len(inBucket[old]) > 0 {
			t.Fatalf("expired copy %s still has objects %v", old, inBucket[old])
		}
	}
	if len(inBucket[pool.CopyIDOf(design.Assets[0].Key)]) != 4 {
		t.Fatalf("the design's copy lost objects: %v", inBucket)
	}

	// DELETE: the pool is drained, the design keeps its objects.
	if res := app.do(t, "DELETE", "/v1/templates/spring", nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	app.do(t, "GET", "/v1/templates/spring", nil).requireError(t, http.StatusNotFound, "template_not_found")
	app.do(t, "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": "bob"}).requireError(t, http.StatusNotFound, "template_not_found")
	if res := app.do(t, "DELETE", "/v1/templates/spring", nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete again: %d %s", res.Status, res.Body)
	}
	waitQuiet(t, app)
	time.Sleep(time.Second) // a few sweeps: nothing comes back
	if ready := readyCopies(t, db, "spring"); len(ready) != 0 {
		t.Fatalf("ready after delete: %v", ready)
	}
	inBucket = b.copies(t)
	if len(inBucket) != 1 || len(inBucket[pool.CopyIDOf(design.Assets[0].Key)]) != 4 {
		t.Fatalf("after delete the bucket holds %v, want the design's 4 objects only", inBucket)
	}
	requireNoOrphans(t, b, db, "spring")
	var got designView
	app.do(t, "GET", "/v1/designs/"+design.DesignID, nil).JSON(t, &got)
	if got.DesignID != design.DesignID || got.Source != pool.Warm || len(got.Assets) != 4 {
		t.Fatalf("design after delete: %+v", got)
	}
}

// Redis loses the pools mid-life: `surge rebuild` (the same code) puts back
// exactly the ready copies no design took, and no copy is handed out
// twice afterwards.
func TestRebuildAfterRedisFlushRestoresThePoolExactly(t *testing.T) {
	b := newBucket(t, 0, 2)
	cfg := poolConfig(t, b)
	svc := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openPoolTemplate(t, svc, "spring", b.assets)
	waitPool(t, svc, db, "spring", 4)
	taken := map[string]bool{}
	for i := range 6 {
		var d designView
		svc.do(t, "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": fmt.Sprintf("early-%d", i)}).JSON(t, &d)
		taken[pool.CopyIDOf(d.Assets[0].Key)] = true
	}
	waitPool(t, svc, db, "spring", 4)
	waitQuiet(t, svc)
	want := readyCopies(t, db, "spring")

	ctx := context.Background()
	keys, err := svc.Redis().Keys(ctx, cfg.RedisPrefix+"*").Result()
	testenv.Must(t, err, "keys")
	testenv.Must(t, svc.Redis().Del(ctx, keys...).Err(), "flush")
	rebuilder, err := app.New(ctx, cfg, app.Roles{}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	testenv.Must(t, err, "rebuilder")
	_, err = rebuilder.Rebuild(ctx)
	rebuilder.Close()
	testenv.Must(t, err, "rebuild")
	inPool, err := svc.Redis().ZRange(ctx, cfg.RedisPrefix+"template:{spring}:pool", 0, -1).Result()
	testenv.Must(t, err, "pool")
	sort.Strings(inPool)
	if strings.Join(inPool, ",") != strings.Join(want, ",") {
		t.Fatalf("rebuilt pool %v, want the ready copies %v", inPool, want)
	}
	var v templateView
	svc.do(t, "GET", "/v1/templates/spring", nil).JSON(t, &v)
	if v.Pool.Ready != 4 || v.Pool.Target != 4 || v.Name != "Template spring" {
		t.Fatalf("template after rebuild %+v", v)
	}

	// 8 designs at once: the 4 rebuilt copies go to 4 of them, none that
	// was taken before the flush.
	var mu sync.Mutex
	var wg sync.WaitGroup
	warm := 0
	for i := range 8 {
		wg.Go(func() {
			res, err := svc.try("POST", "/v1/templates/spring/designs", map[string]string{"ownerId": fmt.Sprintf("late-%d", i)})
			if err != nil || res.Status != http.StatusCreated {
				t.Errorf("design: %v %d %s", err, res.Status, res.Body)
				return
			}
			var d designView
			testenv.Must(t, json.Unmarshal(res.Body, &d), "decode")
			id := pool.CopyIDOf(d.Assets[0].Key)
			mu.Lock()
			defer mu.Unlock()
			if taken[id] {
				t.Errorf("copy %s handed out twice", id)
			}
			taken[id] = true
			if d.Source == pool.Warm {
				warm++
			}
		})
	}
	wg.Wait()
	if warm < 4 {
		t.Fatalf("%d warm designs after the rebuild, want the 4 rebuilt copies taken", warm)
	}
	waitPool(t, svc, db, "spring", 4)
	waitQuiet(t, svc)
	requireNoOrphans(t, b, db, "spring")
	var designs int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM designs`).Scan(&designs), "designs")
	if designs != 14 || len(taken) != 14 {
		t.Fatalf("%d designs, %d distinct copies; want 14 and 14", designs, len(taken))
	}
}

// The object store is unreachable for 5 s while refills run and designs
// are asked for: cold designs answer 503 with Retry-After and leave nothing
// behind; refills retry, and what exhausted its retries is in the poison
// queue, from which a requeue completes it. In the end the pool holds 4
// and the bucket only what designs and ready copies own (the garbage
// collector removes what a copy cut off mid-way left).
func TestObjectStoreOutageLeavesNothingBehindAndRefillsFinish(t *testing.T) {
	// 200 ms a request, as a distant region: a refill that starts when the
	// pool is drained cannot finish a copy before the store is cut (at 20
	// ms one sometimes did, and a design during the outage was warm).
	b := newBucket(t, 200*time.Millisecond, 3)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(b.srv.URL(), "http://"))
	cfg := poolConfig(t, b)
	cfg.Set("SURGE_S3_ENDPOINT", "http://"+proxy.Addr())
	cfg.Set("SURGE_WARM_POOL_SWEEP", "500ms")
	cfg.Set("SURGE_WARM_POOL_GC_INTERVAL", "1s")
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openPoolTemplate(t, app, "spring", b.assets)
	waitPool(t, app, db, "spring", 4)

	// Drain the pool: the refill starts, and the store goes away.
	for i := range 4 {
		var d designView
		app.do(t, "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": fmt.Sprintf("warm-%d", i)}).JSON(t, &d)
		if d.Source != pool.Warm {
			t.Fatalf("design %d: %+v", i, d)
		}
	}
	proxy.Cut()
	cutAt := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 10 {
		wg.Go(func() {
			res, err := app.try("POST", "/v1/templates/spring/designs", map[string]string{"ownerId": fmt.Sprintf("cold-%d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
			if res.Status == http.StatusServiceUnavailable {
				if res.Header.Get("Retry-After") == "" || res.ErrorCode() != "object_store_unavailable" {
					t.Errorf("503 without Retry-After or code: %v %s", res.Header, res.Body)
				}
			}
		})
	}
	wg.Wait()
	if statuses[http.StatusServiceUnavailable] != 10 {
		t.Fatalf("during the outage: %v, want 10 × 503", statuses)
	}
	var designs int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM designs`).Scan(&designs), "designs")
	if designs != 4 {
		t.Fatalf("%d designs after the outage's 503s, want the 4 warm ones", designs)
	}
	time.Sleep(5*time.Second - time.Since(cutAt))
	proxy.Restore()

	// Whatever gave up is in the poison queue; requeue it.
	deadline := time.Now().Add(45 * time.Second)
	requeued := 0
	for len(readyCopies(t, db, "spring")) < 4 && time.Now().Before(deadline) {
		for _, e := range listPoison(t, app, cfg.AdminToken) {
			requeued++
			if e.Handler != "RefillPoolHandler" {
				t.Fatalf("poisoned %+v", e)
			}
			res := app.do(t, "POST", fmt.Sprintf("/v1/admin/poison/%d/requeue", e.ID), nil, "Authorization", "Bearer "+cfg.AdminToken)
			if res.Status != http.StatusOK {
				t.Fatalf("requeue: %d %s", res.Status, res.Body)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitPool(t, app, db, "spring", 4)
	t.Logf("%d poisoned refills requeued after the outage", requeued)
	// Copies cut off mid-way are collected once older than the grace.
	testenv.Eventually(t, 30*time.Second, "the bucket holds only what designs and ready copies own", func() bool {
		return orphans(t, b, db, "spring") == ""
	})
	if left := listPoison(t, app, cfg.AdminToken); len(left) != 0 {
		t.Fatalf("poison queue after requeue: %+v", left)
	}
	// And creating works again.
	var d designView
	res := app.do(t, "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": "after"})
	res.JSON(t, &d)
	if res.Status != http.StatusCreated || d.Source != pool.Warm {
		t.Fatalf("after the outage: %d %s", res.Status, res.Body)
	}
}

// Bad input is refused with the documented error; nothing is written and
// nothing copied.
func TestPoolBadInputWritesNothing(t *testing.T) {
	b := newBucket(t, 0, 2)
	cfg := poolConfig(t, b)
	app := startApp(t, cfg, allRoles)
	db := openDB(t, cfg.DatabaseURL)
	openPoolTemplate(t, app, "spring", b.assets)
	waitPool(t, app, db, "spring", 4)
	waitQuiet(t, app)
	var eventsBefore int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&eventsBefore), "count")
	copiesBefore := len(b.copies(t))

	many := make([]string, pool.MaxAssets+1)
	for i := range many {
		many[i] = fmt.Sprintf("templates/many/%03d.png", i)
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"missing key", "POST", "/v1/templates", map[string]any{"name": "T", "assets": []string{b.assets[0], "templates/nope.png"}}, 422, "asset_not_found"},
		{"no assets", "POST", "/v1/templates", map[string]any{"name": "T", "assets": []string{}}, 422, "invalid_assets"},
		{"too many assets", "POST", "/v1/templates", map[string]any{"name": "T", "assets": many}, 422, "invalid_assets"},
		{"assets missing", "POST", "/v1/templates", map[string]any{"name": "T"}, 400, "missing_field"},
		{"name missing", "POST", "/v1/templates", map[string]any{"assets": b.assets}, 400, "missing_field"},
		{"empty name", "POST", "/v1/templates", map[string]any{"name": " ", "assets": b.assets}, 422, "invalid_name"},
		{"bad id", "POST", "/v1/templates", map[string]any{"id": "a/b", "name": "T", "assets": b.assets}, 422, "invalid_template_id"},
		{"empty id", "POST", "/v1/templates", map[string]any{"id": "", "name": "T", "assets": b.assets}, 422, "invalid_template_id"},
		{"key under copies", "POST", "/v1/templates", map[string]any{"name": "T", "assets": []string{"copies/x/01.png"}}, 422, "invalid_asset_key"},
		{"duplicate key", "POST", "/v1/templates", map[string]any{"name": "T", "assets": []string{b.assets[0], b.assets[0]}}, 422, "duplicate_asset"},
		{"other terms", "POST", "/v1/templates", map[string]any{"id": "spring", "name": "Other", "assets": b.assets}, 409, "template_exists"},
		{"assets not a list", "POST", "/v1/templates", `{"name":"T","assets":"a.png"}`, 400, "invalid_type"},
		{"unknown field", "POST", "/v1/templates", map[string]any{"name": "T", "assets": b.assets, "pool": 9}, 400, "unknown_field"},
		{"not json", "POST", "/v1/templates", `{"name":`, 400, "invalid_json"},
		{"unknown template", "POST", "/v1/templates/autumn/designs", map[string]string{"ownerId": "alice"}, 404, "template_not_found"},
		{"malformed template", "POST", "/v1/templates/bad%20id/designs", map[string]string{"ownerId": "alice"}, 404, "template_not_found"},
		{"owner missing", "POST", "/v1/templates/spring/designs", map[string]string{}, 400, "missing_field"},
		{"empty owner", "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": ""}, 422, "invalid_owner_id"},
		{"long owner", "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": strings.Repeat("o", 65)}, 422, "invalid_owner_id"},
		{"owner with slash", "POST", "/v1/templates/spring/designs", map[string]string{"ownerId": "a/b"}, 422, "invalid_owner_id"},
		{"owner not a string", "POST", "/v1/templates/spring/designs", `{"ownerId":7}`, 400, "invalid_type"},
		{"get unknown template", "GET", "/v1/templates/autumn", nil, 404, "template_not_found"},
		{"get unknown design", "GET", "/v1/designs/nope", nil, 404, "design_not_found"},
		{"delete unknown template", "DELETE", "/v1/templates/autumn", nil, 404, "template_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.do(t, tc.method, tc.path, tc.body).requireError(t, tc.status, tc.code)
		})
	}
	waitQuiet(t, app)
	var eventsAfter int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&eventsAfter), "count")
	if eventsAfter != eventsBefore {
		t.Fatalf("%d events written by refused requests", eventsAfter-eventsBefore)
	}
	if n := len(b.copies(t)); n != copiesBefore {
		t.Fatalf("%d copies in the bucket, %d before: refused requests copied objects", n, copiesBefore)
	}
	if ready := readyCopies(t, db, "spring"); len(ready) != 4 {
		t.Fatalf("ready copies %v", ready)
	}
}
