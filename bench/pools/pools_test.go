package poolsbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/objectstore"
	"github.com/surge-platform/surge/infra/objectstore/s3server"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/testenv"
)

const (
	bucket      = "surge-assets"
	assetSize   = 100 << 10 // 100 KB
	parallelism = 8         // SURGE_COPY_PARALLELISM
	poolSize    = 4         // SURGE_WARM_POOL_SIZE of the warm app
	target      = 0.05      // warm p95 <= 5 % of cold p95
	minWarm     = 0.95      // share of warm answers at the sustainable rate
)

// BenchmarkWarmPool measures designs made from a template of 30 assets of
// 100 KB against one S3 server with 200 ms per request, copy parallelism 8:
//
//   - baseline: one bare CopyObject against that server (and, for
//     reference, one bare CopyAll of the 30 assets: the floor of a cold
//     design), sequential calls;
//   - cold: sequential designs on an app whose pool size is 0. Its
//     template's target is 0, so no refill ever prepares a copy and every
//     design copies its assets on the request path: the seed's situation,
//     with the same code path a warm app takes when its pool is empty. A
//     separate app (own database, Redis prefix and Kafka; the same S3
//     server) rather than outrunning the refill of a warm one, because then
//     every sample is cold by construction and no refill copies run beside
//     the measured ones;
//   - refill: on the warm app (pool size 4), the time per ready copy while
//     the new template's pool fills, from the first copy ready to the last
//     (so it excludes the first command's delivery);
//   - warm: designs sent open loop, one every 1.5 × that time (the refill
//     prepares copies one after the other, so it keeps up with up to one
//     design per copy time; the 1.5 leaves room for each refill command's
//     round trip through Kafka and for jitter), after the pool is full;
//   - 2x: after the pool is full again, designs sent at twice that rate
//     (one every 0.75 × the copy time, faster than the refill can copy): the
//     warm-hit ratio, overall and over the second half of the run (closer
//     to the steady state, once the pool's 4 spare copies are gone, where
//     it can be at most refill rate / demand = 0.75).
//
// Each phase starts after the previous one has ended; the apps, their
// backends and the S3 server (in this process) are idle in between.
//
// Knobs: BENCH_POOL_ASSETS (30), BENCH_POOL_S3_LATENCY (200ms),
// BENCH_POOL_BASELINE (bare copies, 20), BENCH_POOL_COLD (cold designs, 40),
// BENCH_POOL_WARM (40: its p95 is then the 38th of 40, so one or two
// hiccups of a shared machine do not decide it), BENCH_POOL_BURST (designs
// at 2x, 48), BENCH_POOL_MAX_PHASE (cap of each phase, 90s);
// BENCH_POOL_DEBUG=1 prints every warm and 2x answer.
func BenchmarkWarmPool(b *testing.B) {
	nAssets := benchkit.EnvInt(b, "BENCH_POOL_ASSETS", 30)
	latency := benchkit.EnvDurationOrZero(b, "BENCH_POOL_S3_LATENCY", 200*time.Millisecond)
	nBase := benchkit.EnvInt(b, "BENCH_POOL_BASELINE", 20)
	nCold := benchkit.EnvInt(b, "BENCH_POOL_COLD", 40)
	nWarm := benchkit.EnvInt(b, "BENCH_POOL_WARM", 40)
	nBurst := benchkit.EnvInt(b, "BENCH_POOL_BURST", 48)
	maxPhase := benchkit.EnvDuration(b, "BENCH_POOL_MAX_PHASE", 90*time.Second)
	ctx := context.Background()

	// The object store, and the template's assets (setup, not measured).
	srv, err := s3server.Start(s3server.Options{Addr: "127.0.0.1:0", Latency: latency, Buckets: []string{bucket}})
	benchkit.Must(b, err, "s3 server")
	b.Cleanup(func() { srv.Close() })
	store, err := objectstore.New(objectstore.Config{Endpoint: srv.URL(), Bucket: bucket})
	benchkit.Must(b, err, "s3 client")
	assets := make([]string, nAssets)
	var wg sync.WaitGroup
	errs := make([]error, nAssets)
	for i := range assets {
		assets[i] = fmt.Sprintf("templates/bench/%02d.bin", i)
		wg.Go(func() {
			body := make([]byte, assetSize)
			rand.Read(body) //nolint:errcheck
			errs[i] = store.Put(ctx, assets[i], body, "application/octet-stream")
		})
	}
	wg.Wait()
	for _, err := range errs {
		benchkit.Must(b, err, "upload asset")
	}

	// The two apps; they share only the S3 server.
	cold := startSurge(b, srv.URL(), 0)
	warm := startSurge(b, srv.URL(), poolSize)
	client := benchkit.NewHTTPClient(16)
	b.Cleanup(client.CloseIdleConnections)
	openTemplate(b, client, cold, "bench-cold", assets)

	b.ResetTimer()

	// Baseline: bare calls from this process, one at a time.
	copies := make([]time.Duration, 0, nBase)
	for i := range nBase {
		t0 := time.Now()
		benchkit.Must(b, store.Copy(ctx, assets[i%nAssets], "baseline/copy/"+strconv.Itoa(i)), "bare copy")
		copies = append(copies, time.Since(t0))
	}
	bareCopy := benchkit.NewDist(copies)
	var alls []time.Duration
	for i := range 5 {
		pairs := make([]objectstore.CopyPair, nAssets)
		for j, a := range assets {
			pairs[j] = objectstore.CopyPair{From: a, To: fmt.Sprintf("baseline/all/%d/%s", i, a)}
		}
		t0 := time.Now()
		benchkit.Must(b, store.CopyAll(ctx, pairs, parallelism), "bare copy all")
		alls = append(alls, time.Since(t0))
	}
	bareAll := benchkit.NewDist(alls)

	// Cold: one design at a time, each copying every asset.
	coldRun := make([]answer, nCold)
	lr := benchkit.ClosedLoop(nCold, 1, maxPhase, func(ctx context.Context, i int) error {
		coldRun[i] = createDesign(ctx, client, cold, "bench-cold", nAssets, i)
		return coldRun[i].err
	})
	coldPhase := summarize(coldRun[:lr.OK+lr.Failed])
	if lr.Failed > 0 || lr.TimedOut {
		b.Errorf("cold: %d of %d designs failed (timed out: %v), first: %v", lr.Failed, nCold, lr.TimedOut, lr.FirstErr)
	}
	if coldPhase.warm > 0 {
		b.Errorf("cold: %d designs came warm from a pool of size 0", coldPhase.warm)
	}

	// Refill: the warm template's pool filling from empty.
	openTemplate(b, client, warm, "bench-warm", assets)
	fill := waitFull(b, client, warm, "bench-warm", maxPhase)
	perCopy := (fill.full - fill.first) / time.Duration(poolSize-1)
	interval := perCopy * 3 / 2

	// Warm: at a rate the refill keeps up with.
	warmRun := paced(nWarm, interval, maxPhase, func(ctx context.Context, i int) answer {
		return createDesign(ctx, client, warm, "bench-warm", nAssets, 1000+i)
	})
	warmPhase := summarize(warmRun)
	dump("warm", warmRun)
	refull := waitFull(b, client, warm, "bench-warm", maxPhase)

	// 2x: twice that rate.
	burstRun := paced(nBurst, interval/2, maxPhase, func(ctx context.Context, i int) answer {
		return createDesign(ctx, client, warm, "bench-warm", nAssets, 2000+i)
	})
	burstPhase := summarize(burstRun)
	lateHalf := summarize(burstRun[len(burstRun)/2:])
	dump("2x", burstRun)
	b.StopTimer()

	for name, p := range map[string]phase{"warm": warmPhase, "2x": burstPhase} {
		if p.failed > 0 {
			b.Errorf("%s: %d of %d designs failed, first: %v", name, p.failed, p.sent, p.firstErr)
		}
	}

	coldP50, coldP95 := coldPhase.all.Pct(50), coldPhase.all.Pct(95)
	// Every answer at the sustainable rate counts (a cold one too): the
	// target is for the traffic, not only for the lucky requests.
	warmP50, warmP95 := warmPhase.all.Pct(50), warmPhase.all.Pct(95)
	share, hit, lateHit := warmPhase.warmShare(), burstPhase.warmShare(), lateHalf.warmShare()
	ratio := benchkit.Ms(warmP95) / benchkit.Ms(coldP95)
	coldVsCopy := benchkit.Ms(coldP50) / benchkit.Ms(bareCopy.Pct(50))

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(benchkit.Ms(bareCopy.Pct(50)), "copy-p50-ms")
	b.ReportMetric(benchkit.Ms(bareAll.Pct(50)), "copyall-p50-ms")
	b.ReportMetric(benchkit.Ms(coldP50), "cold-p50-ms")
	b.ReportMetric(benchkit.Ms(coldP95), "cold-p95-ms")
	b.ReportMetric(benchkit.Ms(perCopy), "refill-ms/copy")
	b.ReportMetric(benchkit.Ms(warmP50), "warm-p50-ms")
	b.ReportMetric(benchkit.Ms(warmP95), "warm-p95-ms")
	b.ReportMetric(share, "warm-share")
	b.ReportMetric(hit, "hit-2x")
	b.ReportMetric(lateHit, "hit-2x-late")
	b.ReportMetric(coldVsCopy, "cold/copy")
	b.ReportMetric(ratio, "warm-p95/cold-p95")

	t := &benchkit.Table{
		Title: fmt.Sprintf("Warm pool: designs of a template of %d assets of %d KB (S3 latency %s per request, copy parallelism %d, pool %d, GOMAXPROCS=%d)",
			nAssets, assetSize>>10, latency, parallelism, poolSize, runtime.GOMAXPROCS(0)),
		Head: []string{"run", "rate", "answers", "warm", "cold", "p50", "p95", "max", "warm p50", "warm p95"},
	}
	t.Row("bare CopyObject (baseline)", "sequential", len(copies), "-", "-", bareCopy.Pct(50), bareCopy.Pct(95), bareCopy.Max(), "-", "-")
	t.Row(fmt.Sprintf("bare CopyAll of %d at %d", nAssets, parallelism), "sequential", len(alls), "-", "-", bareAll.Pct(50), bareAll.Pct(95), bareAll.Max(), "-", "-")
	row := func(name, rate string, p phase) {
		t.Row(name, rate, p.ok, p.warm, p.cold, p.all.Pct(50), p.all.Pct(95), p.all.Max(), p.warmOnly.Pct(50), p.warmOnly.Pct(95))
	}
	row("cold (pool size 0)", "sequential", coldPhase)
	row("warm (pool size 4)", fmt.Sprintf("1 / %s", interval.Round(time.Millisecond)), warmPhase)
	row("2x", fmt.Sprintf("1 / %s", (interval/2).Round(time.Millisecond)), burstPhase)
	row("2x, second half", fmt.Sprintf("1 / %s", (interval/2).Round(time.Millisecond)), lateHalf)
	t.Note("refill: pool of %d filled in %s after the template opened (first copy ready after %s): %s per copy; "+
		"warm rate = 1 design per 1.5 x that = %.2f/s, 2x = %.2f/s; refilled to %d within %s after the warm run",
		poolSize, fill.full.Round(time.Millisecond), fill.first.Round(time.Millisecond), perCopy.Round(time.Millisecond),
		1/interval.Seconds(), 2/interval.Seconds(), poolSize, refull.full.Round(time.Millisecond))
	t.Note("cold p50 / bare CopyObject p50 = %.2fx (%d assets at %d in flight = %d waves); cold p50 / bare CopyAll p50 = %.2fx",
		coldVsCopy, nAssets, parallelism, (nAssets+parallelism-1)/parallelism, benchkit.Ms(coldP50)/benchkit.Ms(bareAll.Pct(50)))
	t.Note("warm share at the sustainable rate: %.1f %% (want >= %.0f %%): %s", 100*share, 100*minWarm, benchkit.Verdict(share >= minWarm))
	t.Note("warm-hit ratio at 2x: %.1f %% overall, %.1f %% over the second half (steady state at most refill rate / demand = %.0f %%)",
		100*hit, 100*lateHit, 100*float64(interval)/2/float64(perCopy))
	t.Note("target: warm p95 <= %.0f %% of cold p95 -> %.2f ms / %.2f ms = %.2f %%: %s",
		100*target, benchkit.Ms(warmP95), benchkit.Ms(coldP95), 100*ratio, benchkit.Verdict(ratio <= target))
	t.Print()

	if ratio > target {
		b.Errorf("warm p95 %.2f ms is %.1f %% of cold p95 %.2f ms, want <= %.0f %%", benchkit.Ms(warmP95), 100*ratio, benchkit.Ms(coldP95), 100*target)
	}
	if share < minWarm {
		b.Errorf("only %d of %d designs at 1 per %s were warm (%.1f %%, want >= %.0f %%): the refill did not keep up",
			warmPhase.warm, warmPhase.ok, interval.Round(time.Millisecond), 100*share, 100*minWarm)
	}
}

// startSurge runs every role of an app on fresh backends (testenv.Config)
// with the S3 server at endpoint.
func startSurge(b *testing.B, endpoint string, size int) string {
	b.Helper()
	cfg := testenv.Config(b)
	setPools(&cfg, endpoint, size)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a := benchkit.RunApp(b, cfg, app.AllRoles, logger)
	return "http://" + a.Addr()
}

func setPools(cfg *config.Config, endpoint string, size int) {
	cfg.Set("SURGE_S3_ENDPOINT", endpoint)
	cfg.Set("SURGE_S3_BUCKET", bucket)
	cfg.Set("SURGE_COPY_PARALLELISM", strconv.Itoa(parallelism))
	cfg.Set("SURGE_WARM_POOL_SIZE", strconv.Itoa(size))
}

func openTemplate(b *testing.B, client *http.Client, base, id string, assets []string) {
	b.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "name": "bench " + id, "assets": assets})
	resp, err := client.Post(base+"/v1/templates", "application/json", bytes.NewReader(body))
	benchkit.Must(b, err, "open template")
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("open template %s: status %d: %s", id, resp.StatusCode, out)
	}
}

// answer is one design request.
type answer struct {
	sent   bool
	lat    time.Duration
	source string
	err    error
}

func createDesign(ctx context.Context, client *http.Client, base, template string, nAssets, i int) answer {
	body := []byte(`{"ownerId":"bench-owner-` + strconv.Itoa(i) + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/templates/"+template+"/designs", bytes.NewReader(body))
	if err != nil {
		return answer{sent: true, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{sent: true, err: err}
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return answer{sent: true, err: err}
	}
	if resp.StatusCode != http.StatusCreated {
		return answer{sent: true, err: fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(out))}
	}
	var d struct {
		DesignID string            `json:"designId"`
		Source   string            `json:"source"`
		Assets   []json.RawMessage `json:"assets"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		return answer{sent: true, err: fmt.Errorf("decode %s: %w", out, err)}
	}
	if d.DesignID == "" || (d.Source != "warm" && d.Source != "cold") || len(d.Assets) != nAssets {
		return answer{sent: true, err: fmt.Errorf("unexpected design: %s", out)}
	}
	return answer{sent: true, lat: lat, source: d.Source}
}

// paced sends up to n requests open loop, request i at start + i×every
// whatever the earlier ones are doing, until n are sent or maxDur passes,
// and waits for the answers (each bounded by the client's timeout).
func paced(n int, every, maxDur time.Duration, fn func(ctx context.Context, i int) answer) []answer {
	out := make([]answer, n)
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		at := start.Add(time.Duration(i) * every)
		if at.Sub(start) > maxDur {
			break
		}
		time.Sleep(time.Until(at))
		wg.Go(func() { out[i] = fn(ctx, i) })
	}
	wg.Wait()
	return out
}

// dump prints every answer of a run if BENCH_POOL_DEBUG is set.
func dump(run string, as []answer) {
	if os.Getenv("BENCH_POOL_DEBUG") == "" {
		return
	}
	for i, a := range as {
		fmt.Printf("%s %d: %s %s %v\n", run, i, a.lat, a.source, a.err)
	}
}

// phase sums up a run's answers.
type phase struct {
	sent, ok, failed int
	warm, cold       int
	firstErr         error
	all, warmOnly    benchkit.Dist
}

func summarize(as []answer) phase {
	var p phase
	var all, warm []time.Duration
	for _, a := range as {
		if !a.sent {
			continue
		}
		p.sent++
		if a.err != nil {
			p.failed++
			if p.firstErr == nil {
				p.firstErr = a.err
			}
			continue
		}
		p.ok++
		all = append(all, a.lat)
		if a.source == "warm" {
			p.warm++
			warm = append(warm, a.lat)
		} else {
			p.cold++
		}
	}
	p.all, p.warmOnly = benchkit.NewDist(all), benchkit.NewDist(warm)
	return p
}

func (p phase) warmShare() float64 {
	if p.ok == 0 {
		return 0
	}
	return float64(p.warm) / float64(p.ok)
}

// filled is when a pool reached 1 and then poolSize ready copies, from the
// start of the wait.
type filled struct{ first, full time.Duration }

// waitFull polls the template's pool (GET /v1/templates/{id}, the Redis
// read model) every 10ms until it holds poolSize ready copies.
func waitFull(b *testing.B, client *http.Client, base, id string, maxDur time.Duration) filled {
	b.Helper()
	start := time.Now()
	var f filled
	for time.Since(start) < maxDur {
		ready := poolReady(b, client, base, id)
		if ready >= 1 && f.first == 0 {
			f.first = time.Since(start)
		}
		if ready >= poolSize {
			f.full = time.Since(start)
			return f
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("pool of %s not full after %s", id, maxDur)
	return f
}

func poolReady(b *testing.B, client *http.Client, base, id string) int {
	resp, err := client.Get(base + "/v1/templates/" + id)
	benchkit.Must(b, err, "get template")
	defer resp.Body.Close()
	var v struct {
		Pool struct {
			Ready  int `json:"ready"`
			Target int `json:"target"`
		} `json:"pool"`
	}
	if resp.StatusCode != http.StatusOK {
		out, _ := io.ReadAll(resp.Body)
		b.Fatalf("get template %s: status %d: %s", id, resp.StatusCode, out)
	}
	benchkit.Must(b, json.NewDecoder(resp.Body).Decode(&v), "decode template")
	if v.Pool.Target != poolSize {
		b.Fatalf("template %s has pool target %d, want %d", id, v.Pool.Target, poolSize)
	}
	return v.Pool.Ready
}
