//go:build chaos

// The warm pools (seed 004) when the process dies in the middle of a
// refill: `kill -9` leaves a half-made copy in the bucket that nothing in
// the store owns; after a restart the refill is redelivered and completes,
// and the sweeper's garbage collector deletes the orphan once it is older
// than the grace, and nothing else. See harness_test.go for how to run one
// case.
package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/objectstore"
)

const (
	poolAssetCount = 20                     // objects per template, so per copy
	poolTarget     = 4                      // SURGE_WARM_POOL_SIZE
	poolGCGrace    = 8 * time.Second        // SURGE_WARM_POOL_GC_GRACE (≥ 4 × SURGE_S3_TIMEOUT)
	poolS3Latency  = 150 * time.Millisecond // per S3 request: a copy of 20 objects, 2 at a time, takes ≥ 1.5 s
	poolBucket     = "surge-assets"
	poolCopies     = "copies/" // pool.CopiesPrefix
)

// startS3 runs `surge s3` with an injected latency on a free port in its own
// process, waits for its READY line and returns its endpoint URL.
func startS3(t *testing.T, latency time.Duration) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p, err := startProc(t, "s3", nil, "s3", "--addr", addr, "--latency", latency.String(), "--buckets", poolBucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !p.hasLine(func(l string) bool { return strings.HasPrefix(l, "READY ") }) {
		if p.exited() {
			t.Fatalf("surge s3 exited with %d before READY:\n%s", p.exitCode, p.tail(20))
		}
		if time.Now().After(deadline) {
			t.Fatalf("surge s3 not READY after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr
}

// copiesInBucket lists the copies prefix and groups the objects by copy id.
func copiesInBucket(ctx context.Context, store *objectstore.Store) (map[string][]objectstore.Object, int, error) {
	objects, err := store.List(ctx, poolCopies)
	if err != nil {
		return nil, 0, err
	}
	byCopy := map[string][]objectstore.Object{}
	for _, o := range objects {
		rest := strings.TrimPrefix(o.Key, poolCopies)
		id, _, _ := strings.Cut(rest, "/")
		byCopy[id] = append(byCopy[id], o)
	}
	return byCopy, len(objects), nil
}

// poolLedger is what PostgreSQL says of one template's copies.
type poolLedger struct {
	Ready   map[string]bool   // warm_copies in state ready
	Taken   map[string]bool   // warm_copies in state taken
	Expired map[string]bool   // warm_copies in state expired
	Designs map[string]string // designs: copy id -> design id
}

// owns says whether a copy's objects must be kept: a ready (or taken) copy,
// or a design's copy (what KeptCopies answers).
func (l poolLedger) owns(copyID string) bool {
	_, design := l.Designs[copyID]
	return l.Ready[copyID] || l.Taken[copyID] || design
}

func (s *stack) poolLedger(templateID string) (poolLedger, error) {
	l := poolLedger{Ready: map[string]bool{}, Taken: map[string]bool{}, Expired: map[string]bool{}, Designs: map[string]string{}}
	db, err := s.DB()
	if err != nil {
		return l, err
	}
	scan := func(q string, each func(a, b string)) error {
		rows, err := db.Query(q, templateID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				return err
			}
			each(a, b)
		}
		return rows.Err()
	}
	err = scan(`SELECT copy_id, state FROM warm_copies WHERE template_id = $1`, func(id, state string) {
		switch state {
		case "ready":
			l.Ready[id] = true
		case "taken":
			l.Taken[id] = true
		case "expired":
			l.Expired[id] = true
		}
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return l, err
	}
	err = scan(`SELECT copy_id, design_id FROM designs WHERE template_id = $1`, func(copyID, designID string) { l.Designs[copyID] = designID })
	return l, err
}

// unowned are the listed copies nothing in the ledger owns, with their
// object counts.
func unowned(byCopy map[string][]objectstore.Object, l poolLedger) map[string]int {
	out := map[string]int{}
	for id, objs := range byCopy {
		if !l.owns(id) {
			out[id] = len(objs)
		}
	}
	return out
}

// runWarmPoolGC runs `surge warm-pool gc --grace grace` as a process and
// returns the report it printed.
func runWarmPoolGC(t *testing.T, env map[string]string, grace time.Duration) (handlers.GarbageReport, error) {
	var r handlers.GarbageReport
	p, err := startProc(t, "warm-pool-gc", env, "warm-pool", "gc", "--grace", grace.String())
	if err != nil {
		return r, err
	}
	code, err := p.Wait(30 * time.Second)
	if err != nil {
		return r, err
	}
	if code != 0 {
		return r, fmt.Errorf("surge warm-pool gc exited with %d:\n%s", code, p.tail(20))
	}
	lines := p.LogLines(`"copiesDeleted"`)
	if len(lines) != 1 {
		return r, fmt.Errorf("surge warm-pool gc printed %d reports:\n%s", len(lines), p.tail(20))
	}
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		return r, fmt.Errorf("report %q: %w", lines[0], err)
	}
	return r, nil
}

type designAnswer struct {
	DesignID string `json:"designId"`
	Source   string `json:"source"`
	Assets   []struct {
		From string `json:"from"`
		Key  string `json:"key"`
	} `json:"assets"`
}

func createDesign(s *surgeProc, templateID, owner string) (designAnswer, error) {
	var d designAnswer
	status, body, _, err := s.Do(http.MethodPost, "/v1/templates/"+templateID+"/designs", map[string]string{"ownerId": owner})
	if err != nil {
		return d, err
	}
	if status != http.StatusCreated {
		return d, fmt.Errorf("POST design for %s: %d %s", owner, status, body)
	}
	if err := json.Unmarshal(body, &d); err != nil || d.DesignID == "" {
		return d, fmt.Errorf("POST design for %s: %s (%v)", owner, body, err)
	}
	return d, nil
}

func templatePoolReady(s *surgeProc, templateID string) (int, error) {
	status, body, _, err := s.Do(http.MethodGet, "/v1/templates/"+templateID, nil)
	if err != nil {
		return 0, err
	}
	var v struct {
		Pool struct {
			Ready  int `json:"ready"`
			Target int `json:"target"`
		} `json:"pool"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return 0, fmt.Errorf("GET template: %d %s", status, body)
	}
	return v.Pool.Ready, nil
}

// TestKillDuringRefillLeavesNoOrphanAfterTheSweeper: the issue's "No
// orphans" criterion. A template of 20 assets is opened against a slow S3
// server (150 ms a request, 2 copies at a time), so its refill of 4 copies
// takes several seconds; the process is SIGKILLed while a copy is half
// made. That copy's objects are then owned by nothing (an orphan, shown
// right after the kill, and `surge warm-pool gc` leaves it alone while it
// is younger than the grace). After a restart the refill is redelivered and
// the pool reaches 4; the sweeper's scheduled collection deletes exactly
// the orphan's objects; `surge warm-pool gc` then finds nothing to delete;
// and every object under copies/ belongs to a ready copy or a design.
func TestKillDuringRefillLeavesNoOrphanAfterTheSweeper(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	endpoint := startS3(t, poolS3Latency)
	store, err := objectstore.New(objectstore.Config{Endpoint: endpoint, Bucket: poolBucket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const templateID = "chaos-poster"
	assets := make([]string, poolAssetCount)
	var wg sync.WaitGroup
	errs := make([]error, poolAssetCount)
	for i := range assets {
		assets[i] = fmt.Sprintf("templates/%s/layer-%02d.png", templateID, i)
		wg.Go(func() {
			errs[i] = store.Put(ctx, assets[i], []byte(fmt.Sprintf("layer %d of %s", i, templateID)), "image/png")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("seed assets: %v", err)
	}

	st := newStack(t, stackOptions{})
	env := map[string]string{
		"SURGE_S3_ENDPOINT":        endpoint,
		"SURGE_S3_BUCKET":          poolBucket,
		"SURGE_S3_TIMEOUT":         "2s",
		"SURGE_COPY_PARALLELISM":   "2",
		"SURGE_WARM_POOL_SIZE":     fmt.Sprint(poolTarget),
		"SURGE_WARM_POOL_GC_GRACE": poolGCGrace.String(),
		// At first nothing sweeps or collects on a schedule (the sweeper's
		// first pass at start only), so what the kill leaves stays.
		"SURGE_WARM_POOL_SWEEP":       "1h",
		"SURGE_WARM_POOL_GC_INTERVAL": "1h",
	}
	// The environment `surge warm-pool gc` runs with.
	toolEnv := st.env(t)
	maps.Copy(toolEnv, env)

	victim := st.startSurge(t, env, "")
	status, body, _, err := victim.Do(http.MethodPost, "/v1/templates", map[string]any{"id": templateID, "name": "Chaos poster", "assets": assets})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST /v1/templates: %d %s %v", status, body, err)
	}
	// The pool is still empty: a cold design, copied on request, while the
	// refill runs.
	var designs []designAnswer
	d, err := createDesign(victim, templateID, "owner-before-kill")
	if err != nil {
		t.Fatal(err)
	}
	designs = append(designs, d)
	t.Logf("design %s before the kill: %s", d.DesignID, d.Source)

	// --- kill -9 while a refill's copy is half made (bounded retries) ---
	var (
		orphans       map[string]int // copy id -> objects, right after the kill
		orphanObjects int
		halfMade      string
		killedAt      time.Time
	)
	for attempt := 1; ; attempt++ {
		var seen int
		waited, err := eventually(ctx, 45*time.Second, "a copy in progress (some but not all objects, owned by nothing)", func() (bool, error) {
			byCopy, _, err := copiesInBucket(ctx, store)
			if err != nil {
				return false, err
			}
			l, err := st.poolLedger(templateID)
			if err != nil {
				return false, err
			}
			// In the middle of a copy: a quarter to three quarters made.
			for id, n := range unowned(byCopy, l) {
				if n >= poolAssetCount/4 && n <= poolAssetCount*3/4 {
					halfMade, seen = id, n
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if err := victim.Kill(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killedAt = time.Now()
		if _, err := victim.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("attempt %d: SIGKILL after %s, copy %s had %d of %d objects", attempt, waited.Round(time.Millisecond), halfMade, seen, poolAssetCount)

		// Copies the server was already making may still land: wait until
		// two listings, a latency apart, agree.
		var byCopy map[string][]objectstore.Object
		var total int
		prev := -1
		if _, err := eventually(ctx, 10*time.Second, "the bucket settles after the kill", func() (bool, error) {
			time.Sleep(2 * poolS3Latency)
			var err error
			if byCopy, total, err = copiesInBucket(ctx, store); err != nil {
				return false, err
			}
			stable := total == prev
			prev = total
			return stable, nil
		}); err != nil {
			t.Fatal(err)
		}
		l, err := st.poolLedger(templateID)
		if err != nil {
			t.Fatal(err)
		}
		orphans = unowned(byCopy, l)
		orphanObjects = 0
		for _, n := range orphans {
			orphanObjects += n
		}
		t.Logf("attempt %d: after the kill %d objects under %s in %d copies: %d ready copies, %d designs, %d orphaned copies (%v) with %d objects",
			attempt, total, poolCopies, len(byCopy), len(l.Ready), len(l.Designs), len(orphans), orphans, orphanObjects)
		if len(orphans) > 0 {
			if _, ok := orphans[halfMade]; !ok {
				t.Fatalf("the copy seen half made (%s) is not among the orphans %v", halfMade, orphans)
			}
			break
		}
		if attempt == 3 {
			t.Fatalf("no kill of %d left an orphan: the test proves nothing", attempt)
		}
		// Try again: a restarted process resumes the refill, or (a full
		// pool) a warm design starts another.
		victim = st.startSurge(t, env, "")
		if l.Ready != nil && len(l.Ready) >= poolTarget {
			d, err := createDesign(victim, templateID, fmt.Sprintf("owner-retry-%d", attempt))
			if err != nil {
				t.Fatal(err)
			}
			designs = append(designs, d)
		}
	}

	// The orphan is younger than the grace: the collector leaves it alone.
	report, err := runWarmPoolGC(t, toolEnv, poolGCGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge warm-pool gc --grace %s right after the kill (%s later): %+v", poolGCGrace, time.Since(killedAt).Round(time.Millisecond), report)
	if report.Deleted != 0 || report.CopiesDel != 0 {
		t.Errorf("a collection within the grace deleted %d objects of %d copies; want none", report.Deleted, report.CopiesDel)
	}
	if time.Since(killedAt) < poolGCGrace-time.Second {
		if report.Young != orphanObjects {
			t.Errorf("gc within the grace: young = %d, want the %d orphaned objects", report.Young, orphanObjects)
		}
	} else {
		t.Logf("(the gc ran too late to check young = %d)", orphanObjects)
	}
	if byCopy, _, err := copiesInBucket(ctx, store); err != nil {
		t.Fatal(err)
	} else {
		for id, n := range orphans {
			if len(byCopy[id]) != n {
				t.Errorf("orphan %s: %d objects after the gc within the grace, want %d", id, len(byCopy[id]), n)
			}
		}
	}

	// --- restart with the sweeper collecting on a short schedule ---
	afterEnv := maps.Clone(env)
	afterEnv["SURGE_WARM_POOL_SWEEP"] = "500ms"
	afterEnv["SURGE_WARM_POOL_GC_INTERVAL"] = "1s"
	survivor := st.startSurge(t, afterEnv, "")
	waited, err := eventually(ctx, 45*time.Second, fmt.Sprintf("%d ready copies after the restart (the refill redelivered)", poolTarget), func() (bool, error) {
		l, err := st.poolLedger(templateID)
		return err == nil && len(l.Ready) >= poolTarget, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pool at %d ready %s after the restart", poolTarget, waited.Round(time.Millisecond))
	// Two designs from the pool: their copies were made by the refill.
	for i := range 2 {
		d, err := createDesign(survivor, templateID, fmt.Sprintf("owner-after-restart-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if d.Source != "warm" {
			t.Errorf("design %s with %d ready copies in the pool: source %q, want warm", d.DesignID, poolTarget, d.Source)
		}
		designs = append(designs, d)
	}

	// The end state: the pool refilled, the orphan collected by the sweeper,
	// nothing unowned left.
	var (
		final      poolLedger
		finalCopy  map[string][]objectstore.Object
		finalTotal int
		metricSeen float64
	)
	waited, err = eventually(ctx, 45*time.Second, "pool refilled, orphan collected by the sweeper, nothing unowned", func() (bool, error) {
		text, err := survivor.Metrics()
		if err != nil {
			return false, err
		}
		metricSeen = metricValue(text, "surge_pool_garbage_objects_deleted_total")
		if metricSeen < float64(orphanObjects) {
			return false, nil
		}
		if finalCopy, finalTotal, err = copiesInBucket(ctx, store); err != nil {
			return false, err
		}
		if final, err = st.poolLedger(templateID); err != nil {
			return false, err
		}
		return len(final.Ready) == poolTarget && len(unowned(finalCopy, final)) == 0 &&
			finalTotal == (len(final.Ready)+len(final.Designs))*poolAssetCount, nil
	})
	if err != nil {
		t.Logf("last seen: garbage metric %v (want %d), %d objects in %d copies, %d ready, %d designs, unowned %v",
			metricSeen, orphanObjects, finalTotal, len(finalCopy), len(final.Ready), len(final.Designs), unowned(finalCopy, final))
		t.Fatal(err)
	}
	t.Logf("settled %s later: garbage metric %v, %d objects in %d copies (%d ready, %d designs)",
		waited.Round(time.Millisecond), metricSeen, finalTotal, len(finalCopy), len(final.Ready), len(final.Designs))
	if text, err := survivor.Metrics(); err == nil {
		t.Logf("after the restart: %v refill runs, %v refills requested, %v copies prepared",
			metricValue(text, "surge_pool_refill_runs_total"), metricValue(text, "surge_pool_refill_requests_total"),
			metricValue(text, "surge_pool_copies_prepared_total"))
	}
	if metricSeen != float64(orphanObjects) {
		t.Errorf("surge_pool_garbage_objects_deleted_total = %v, want exactly the %d orphaned objects", metricSeen, orphanObjects)
	}
	if lines := survivor.LogLines(`"msg":"warm-pool garbage deleted"`); len(lines) == 0 {
		t.Errorf("the sweeper logged no garbage collection")
	} else {
		t.Logf("sweeper: %s", lines[0])
	}

	// Exact end state: every object under copies/ is a ready copy's or a
	// design's, whole; the orphans are gone.
	if _, err := eventually(ctx, 10*time.Second, "GET /v1/templates/{id} pool.ready = 4", func() (bool, error) {
		n, err := templatePoolReady(survivor, templateID)
		return n == poolTarget, err
	}); err != nil {
		t.Error(err)
	}
	for id, objs := range finalCopy {
		_, design := final.Designs[id]
		if !final.Ready[id] && !design {
			t.Errorf("copy %s (%d objects) is neither a ready copy nor a design's", id, len(objs))
		}
		if len(objs) != poolAssetCount {
			t.Errorf("copy %s has %d objects, want %d", id, len(objs), poolAssetCount)
		}
	}
	for id := range final.Ready {
		if len(finalCopy[id]) != poolAssetCount {
			t.Errorf("ready copy %s has %d objects in the bucket, want %d", id, len(finalCopy[id]), poolAssetCount)
		}
	}
	for id := range orphans {
		if n := len(finalCopy[id]); n != 0 {
			t.Errorf("orphaned copy %s still has %d objects", id, n)
		}
	}
	if len(final.Designs) != len(designs) {
		t.Errorf("designs table holds %d designs of the template, the test created %d", len(final.Designs), len(designs))
	}
	for _, d := range designs {
		status, body, _, err := survivor.Do(http.MethodGet, "/v1/designs/"+d.DesignID, nil)
		if err != nil || status != http.StatusOK {
			t.Errorf("GET /v1/designs/%s: %d %s %v", d.DesignID, status, body, err)
			continue
		}
		var got designAnswer
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("design %s: %s: %v", d.DesignID, body, err)
			continue
		}
		if len(got.Assets) != poolAssetCount {
			t.Errorf("design %s lists %d assets, want %d", d.DesignID, len(got.Assets), poolAssetCount)
		}
		var copyID string
		for _, a := range got.Assets {
			rest := strings.TrimPrefix(a.Key, poolCopies)
			id, _, _ := strings.Cut(rest, "/")
			copyID = id
			if !slices.ContainsFunc(finalCopy[id], func(o objectstore.Object) bool { return o.Key == a.Key }) {
				t.Errorf("design %s: object %s is not in the bucket", d.DesignID, a.Key)
			}
		}
		if final.Designs[copyID] != d.DesignID {
			t.Errorf("design %s: its copy %s is owned by %q in the designs table", d.DesignID, copyID, final.Designs[copyID])
		}
	}
	// A collection now finds nothing to delete and keeps everything.
	report, err = runWarmPoolGC(t, toolEnv, poolGCGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge warm-pool gc --grace %s at the end: %+v", poolGCGrace, report)
	want := handlers.GarbageReport{Objects: finalTotal, Kept: finalTotal}
	if report != want {
		t.Errorf("gc at the end: %+v, want %+v", report, want)
	}
	if report.Kept == 0 {
		t.Errorf("gc at the end kept nothing")
	}
	t.Logf("orphans: %d objects in %d copies after the kill, %v deleted by the sweeper; end: %d objects = (%d ready + %d designs) × %d; %s in all",
		orphanObjects, len(orphans), metricSeen, finalTotal, len(final.Ready), len(final.Designs), poolAssetCount, time.Since(began).Round(time.Millisecond))
}
