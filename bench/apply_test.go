package bench

import (
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

// BenchmarkApply measures POST /v1/campaigns/{id}/applications on the
// accepted path (Redis Lua gate + synchronous Kafka publish of IssueCoupon)
// against a bare gin endpoint doing one Redis INCR, both served on
// 127.0.0.1 in this process and driven by the same in-Go closed-loop client.
//
// Surge runs the API role only: nothing consumes the IssueCoupon commands,
// which pile up in Kafka. That isolates the endpoint; a full process would
// also spend CPU on command handlers and projections.
//
// Knobs: BENCH_REQUESTS (per measured run, default 20000), BENCH_CONCURRENCY
// (default 64), BENCH_MAX_DURATION (cap of each run, default 60s).
func BenchmarkApply(b *testing.B) {
	n := benchkit.EnvInt(b, "BENCH_REQUESTS", 20000)
	workers := benchkit.EnvInt(b, "BENCH_CONCURRENCY", 64)
	maxDur := benchkit.EnvDuration(b, "BENCH_MAX_DURATION", 60*time.Second)
	warm := max(500, n/20)

	cfg := testenv.Config(b)
	s := startSurge(b, cfg, surgeRoles{API: true})

	// Baseline servers: same gin settings as api.NewHandler (release mode,
	// gin.New), same http.Server settings, same Redis client settings.
	gin.SetMode(gin.ReleaseMode)
	rdb, err := redis.Connect(b.Context(), testenv.RedisURL(), 500*time.Millisecond)
	benchkit.Must(b, err, "redis")
	b.Cleanup(func() { rdb.Close() })
	incrKey := cfg.RedisPrefix + "bench:incr"
	bare := gin.New()
	bare.POST("/v1/campaigns/:id/applications", func(c *gin.Context) {
		c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
	})
	withIncr := gin.New()
	withIncr.POST("/v1/campaigns/:id/applications", func(c *gin.Context) {
		if err := rdb.Incr(c.Request.Context(), incrKey).Err(); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
	})
	bareURL := benchkit.ServeHTTP(b, bare) + "/v1/campaigns/bench/applications"
	incrURL := benchkit.ServeHTTP(b, withIncr) + "/v1/campaigns/bench/applications"
	applyURL := s.URL + "/v1/campaigns/bench/applications"

	// The campaign: a limit no run reaches, so every request is accepted.
	client := benchkit.NewHTTPClient(workers)
	open := benchkit.RunLoad(client, benchkit.PostJSON(s.URL+"/v1/campaigns", func(int) []byte {
		return []byte(`{"id":"bench","name":"Bench","limit":10000000}`)
	}), 1, 1, 30*time.Second, http.StatusCreated)
	if open.OK != 1 {
		b.Fatalf("open campaign: %s", open.FirstErr)
	}

	// Every request carries a new userId; the baselines ignore the body.
	body := func(prefix string) func(i int) []byte {
		return func(i int) []byte { return []byte(`{"userId":"` + prefix + strconv.Itoa(i) + `"}`) }
	}
	type measured struct {
		benchkit.LoadResult
		cpu cpuUsage
	}
	run := func(name, url, users string) measured {
		c := benchkit.NewHTTPClient(workers)
		defer c.CloseIdleConnections()
		if w := benchkit.RunLoad(c, benchkit.PostJSON(url, body("warm-"+users)), warm, workers, maxDur, http.StatusAccepted); w.Failed > 0 {
			b.Fatalf("%s warm-up: %d failed, first: %s", name, w.Failed, w.FirstErr)
		}
		cpu0 := sampleCPU()
		r := benchkit.RunLoad(c, benchkit.PostJSON(url, body(users)), n, workers, maxDur, http.StatusAccepted)
		m := measured{r, cpuSince(cpu0)}
		if r.Failed > 0 {
			b.Errorf("%s: %d of %d requests failed, first: %s", name, r.Failed, n, r.FirstErr)
		}
		return m
	}

	b.ResetTimer()
	// Baseline before and after the apply run, to expose drift.
	bareRes := run("bare gin", bareURL, "b-")
	incr1 := run("gin+INCR", incrURL, "i1-")
	apply := run("apply", applyURL, "u-")
	incr2 := run("gin+INCR (again)", incrURL, "i2-")
	b.StopTimer()

	baseline := (incr1.RPS() + incr2.RPS()) / 2
	ratio := apply.RPS() / baseline
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(apply.RPS(), "apply-req/s")
	b.ReportMetric(benchkit.Ms(apply.Latencies.Pct(50)), "apply-p50-ms")
	b.ReportMetric(benchkit.Ms(apply.Latencies.Pct(99)), "apply-p99-ms")
	b.ReportMetric(baseline, "incr-req/s")
	b.ReportMetric(ratio, "apply/incr")

	t := &benchkit.Table{
		Title: "Apply endpoint (closed loop, " + strconv.Itoa(workers) + " keep-alive connections, GOMAXPROCS=" + strconv.Itoa(runtime.GOMAXPROCS(0)) + ")",
		Head:  []string{"endpoint", "requests", "req/s", "p50", "p99", "max", "x gin+INCR", "CPU us/req", "CPU (cores)"},
	}
	add := func(name string, r measured) {
		t.Row(name, r.OK, r.RPS(), r.Latencies.Pct(50), r.Latencies.Pct(99), r.Latencies.Max(), strconv.FormatFloat(r.RPS()/baseline, 'f', 2, 64), r.cpu.perOp(r.Elapsed, r.OK), r.cpu.short())
		if r.TimedOut {
			t.Note("%s stopped at the %s cap before %d requests", name, maxDur, n)
		}
		if r.cpu.noisy() {
			t.Note("WARNING: %s during %q: that figure is disturbed", r.cpu.disturbance(), name)
		}
	}
	add("bare gin (client ceiling)", bareRes)
	add("gin + 1 INCR (run 1)", incr1)
	add("POST .../applications", apply)
	add("gin + 1 INCR (run 2)", incr2)
	t.Note("%s", apply.cpu.explain())
	t.Note("baseline = mean of the two gin+INCR runs = %.0f req/s", baseline)
	t.Note("target: apply >= 0.5x gin+INCR -> %.2fx: %s", ratio, benchkit.Verdict(ratio >= 0.5))
	t.Print()
	checkApplied(b, rdb, cfg.RedisPrefix, apply.OK+warm)
}

// checkApplied confirms the gate really admitted every accepted request.
func checkApplied(b *testing.B, rdb *goredis.Client, prefix string, want int) {
	view, err := redis.NewCampaigns(rdb, prefix).Campaign(b.Context(), "bench")
	benchkit.Must(b, err, "read accepted")
	if got := view.Accepted; got != want {
		b.Errorf("gate accepted %d, want %d", got, want)
	}
}
