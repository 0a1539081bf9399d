package pricebench

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/infra/vendors/vendorsim"
	"github.com/surge-platform/surge/internal/flows"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

const route = "/v1/products/:productId/price-comparison"

func productURL(base, prefix string, p int) string {
	return base + "/v1/products/" + prefix + strconv.Itoa(p) + "/price-comparison"
}

// BenchmarkPriceHit measures cache-hit GET /v1/products/{id}/price-comparison
// against a bare gin endpoint doing one Redis GET of the same key and
// writing the value, both served on 127.0.0.1 in this process and driven by
// the same closed-loop client. A hit is one GET and a write of the stored
// bytes, behind the API's middleware (recovery, correlation id, metrics).
//
// The two run in adjacent pairs, several rounds, alternating which goes
// first, and the verdict is the median of the per-round ratios: on a shared
// two-core machine a single pair can be skewed by whatever else runs.
//
// Knobs: BENCH_REQUESTS (per measured run, default 20000), BENCH_ROUNDS
// (default 3), BENCH_CONCURRENCY (default 64), BENCH_MAX_DURATION (cap of
// each run, default 60s).
func BenchmarkPriceHit(b *testing.B) {
	n := benchkit.EnvInt(b, "BENCH_REQUESTS", 20000)
	rounds := benchkit.EnvInt(b, "BENCH_ROUNDS", 3)
	workers := benchkit.EnvInt(b, "BENCH_CONCURRENCY", 64)
	maxDur := benchkit.EnvDurationOrZero(b, "BENCH_MAX_DURATION", 60*time.Second)
	const products = 1000
	warm := max(500, n/20)

	cfg := testenv.Config(b)
	s := startSurge(b, cfg, false)
	ctx := context.Background()

	// The cache, filled through the projection: real summaries of 3 offers.
	projection := projections.PriceComparisonProjection{Store: s.prices, RetryBackoff: time.Second}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for p := 0; p < products; p++ {
		id := "sku-" + strconv.Itoa(p)
		offers, _, _ := price.Evaluate([]price.Quote{
			price.Offered("a", vendorsim.Price("a", id), "KRW"),
			price.Offered("b", vendorsim.Price("b", id), "KRW"),
			price.Offered("c", vendorsim.Price("c", id), "KRW"),
		})
		benchkit.Must(b, projection.OnPriceComparisonCompleted(ctx, &price.PriceComparisonCompleted{
			ComparisonID: "bench", ProductID: id, Offers: offers, FailedVendors: []string{},
			ComparedAt: now, ExpiresAt: now.Add(time.Hour),
		}), "fill cache")
	}
	sample, err := s.prices.Summary(ctx, "sku-0")
	benchkit.Must(b, err, "sample")

	// Baselines: same gin settings as api.NewHandler (release mode, gin.New),
	// same http.Server settings, same Redis client settings (redis.Connect).
	gin.SetMode(gin.ReleaseMode)
	rdb, err := redis.Connect(ctx, testenv.RedisURL(), 500*time.Millisecond)
	benchkit.Must(b, err, "redis")
	b.Cleanup(func() { rdb.Close() })
	bare := gin.New()
	bare.GET(route, func(c *gin.Context) { c.Data(http.StatusOK, "application/json; charset=utf-8", sample) })
	withGet := gin.New()
	withGet.GET(route, func(c *gin.Context) {
		body, err := rdb.Get(c.Request.Context(), s.prices.SummaryKey(c.Param("productId"))).Bytes()
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	})
	bareURL, getURL := benchkit.ServeHTTP(b, bare), benchkit.ServeHTTP(b, withGet)

	urls := func(base string) func(int) string {
		list := make([]string, products)
		for p := range list {
			list[p] = productURL(base, "sku-", p)
		}
		return func(i int) string { return list[i%products] }
	}
	run := func(name, base string) benchkit.LoadResult {
		c := benchkit.NewHTTPClient(workers)
		defer c.CloseIdleConnections()
		if w := benchkit.RunLoad(c, benchkit.Get(urls(base)), warm, workers, maxDur, http.StatusOK); w.Failed > 0 {
			b.Fatalf("%s warm-up: %d failed, first: %s", name, w.Failed, w.FirstErr)
		}
		r := benchkit.RunLoad(c, benchkit.Get(urls(base)), n, workers, maxDur, http.StatusOK)
		if r.Failed > 0 {
			b.Errorf("%s: %d of %d requests failed, first: %s", name, r.Failed, n, r.FirstErr)
		}
		if r.TimedOut {
			b.Logf("%s stopped at the %s cap before %d requests", name, maxDur, n)
		}
		return r
	}

	t := &benchkit.Table{
		Title: fmt.Sprintf("Price comparison cache hit (closed loop, %d keep-alive connections, GOMAXPROCS=%d, %d-byte summaries)", workers, runtime.GOMAXPROCS(0), len(sample)),
		Head:  []string{"round", "endpoint", "requests", "req/s", "p50", "p99", "max", "hit/get"},
	}
	row := func(round, name string, r benchkit.LoadResult, ratio string) {
		t.Row(round, name, r.OK, r.RPS(), r.Latencies.Pct(50), r.Latencies.Pct(99), r.Latencies.Pct(100), ratio)
	}
	b.ResetTimer()
	row("-", "bare gin, no Redis (client ceiling)", run("bare gin", bareURL), "")
	var ratios, hitRPS, getRPS, hitP50, hitP99, getP50, getP99 []float64
	for r := 1; r <= rounds; r++ {
		var get, hit benchkit.LoadResult
		if r%2 == 1 {
			get, hit = run("gin+GET", getURL), run("price hit", s.URL)
		} else {
			hit, get = run("price hit", s.URL), run("gin+GET", getURL)
		}
		ratio := hit.RPS() / get.RPS()
		ratios, hitRPS, getRPS = append(ratios, ratio), append(hitRPS, hit.RPS()), append(getRPS, get.RPS())
		hitP50, hitP99 = append(hitP50, benchkit.Ms(hit.Latencies.Pct(50))), append(hitP99, benchkit.Ms(hit.Latencies.Pct(99)))
		getP50, getP99 = append(getP50, benchkit.Ms(get.Latencies.Pct(50))), append(getP99, benchkit.Ms(get.Latencies.Pct(99)))
		row(strconv.Itoa(r), "gin + 1 Redis GET", get, "")
		row(strconv.Itoa(r), "GET .../price-comparison (hit)", hit, strconv.FormatFloat(ratio, 'f', 2, 64))
	}
	b.StopTimer()

	ratio := median(ratios)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(hitRPS), "hit-req/s")
	b.ReportMetric(median(hitP50), "hit-p50-ms")
	b.ReportMetric(median(hitP99), "hit-p99-ms")
	b.ReportMetric(median(getRPS), "get-req/s")
	b.ReportMetric(median(getP50), "get-p50-ms")
	b.ReportMetric(median(getP99), "get-p99-ms")
	b.ReportMetric(ratio, "hit/get")
	t.Note("medians over %d rounds: hit %.0f req/s (p50 %.2f ms, p99 %.2f ms), gin+GET %.0f req/s (p50 %.2f ms, p99 %.2f ms)",
		rounds, median(hitRPS), median(hitP50), median(hitP99), median(getRPS), median(getP50), median(getP99))
	t.Note("target: hit >= 0.8x gin+GET (median of per-round ratios) -> %.2fx: %s", ratio, benchkit.Verdict(ratio >= 0.8))
	b.Log(t.String())
	checkNoCommands(b, cfg.KafkaBrokers)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// checkNoCommands confirms that hits sent nothing to Kafka.
func checkNoCommands(b *testing.B, brokers []string) {
	client, err := sarama.NewClient(brokers, kafka.SaramaConfig())
	benchkit.Must(b, err, "kafka client")
	defer client.Close()
	parts, err := client.Partitions(flows.PriceCommands)
	benchkit.Must(b, err, "partitions")
	for _, p := range parts {
		off, err := client.GetOffset(flows.PriceCommands, p, sarama.OffsetNewest)
		benchkit.Must(b, err, "offset")
		if off != 0 {
			b.Errorf("a cache hit sent a command (partition %d offset %d)", p, off)
		}
	}
}

// BenchmarkPriceVsSynchronous is the seed's "before" and "after" under the
// same traffic: closed-loop clients at the same concurrency asking for
// products drawn from a fixed set, against
//
//   - a "synchronous" gin endpoint that, per request, asks every vendor (in
//     parallel, with the same client and timeout Surge uses) and answers the
//     comparison: the request waits for the slowest vendor, every time;
//   - Surge: the cache answers hits; a miss sends one command per product
//     (single flight) and answers 202 at once;
//   - Surge with ?wait=10s: a miss is held until the comparison is recorded,
//     so every answer is a price, as from the synchronous endpoint.
//
// Each run lasts the same time and starts with a cold cache (its own product
// ids), so Surge's figures include warming up: the first request for each
// product is a miss. The vendors are the simulator, in this process on
// 127.0.0.1.
//
// Knobs: BENCH_RUN_DURATION (each run, default 10s), BENCH_CONCURRENCY
// (default 64), BENCH_PRODUCTS (default 100), BENCH_VENDOR_LATENCY (300ms),
// BENCH_VENDOR_JITTER (50ms).
func BenchmarkPriceVsSynchronous(b *testing.B) {
	runFor := benchkit.EnvDurationOrZero(b, "BENCH_RUN_DURATION", 10*time.Second)
	workers := benchkit.EnvInt(b, "BENCH_CONCURRENCY", 64)
	products := benchkit.EnvInt(b, "BENCH_PRODUCTS", 100)
	latency := benchkit.EnvDurationOrZero(b, "BENCH_VENDOR_LATENCY", 300*time.Millisecond)
	jitter := benchkit.EnvDurationOrZero(b, "BENCH_VENDOR_JITTER", 50*time.Millisecond)
	const n = 2_000_000 // a cap no run reaches: runs end by time

	sim, err := vendorsim.New(vendorsim.Config{Vendors: []string{"a", "b", "c"}, Latency: latency, Jitter: jitter, Currency: "KRW"})
	benchkit.Must(b, err, "sim")
	simURL := benchkit.ServeHTTP(b, sim.Handler())
	cfg := testenv.Config(b)
	const vendorTimeout = 2 * time.Second
	cfg.Set("SURGE_PRICE_VENDOR_TIMEOUT", vendorTimeout.String())
	cfg.Set("SURGE_PRICE_TTL", "5m")
	var vs []vendors.Vendor
	var setting []string
	for _, v := range sim.Vendors() {
		u := simURL + "/vendors/" + v + "/products/{productId}"
		setting = append(setting, v+"="+u)
		vs = append(vs, vendors.Vendor{Name: v, URL: u})
	}
	cfg.Set("SURGE_PRICE_VENDORS", strings.Join(setting, ","))
	s := startSurge(b, cfg, true)

	// The "before": the vendors on the request path.
	client, err := vendors.New(vs, vendorTimeout, nil)
	benchkit.Must(b, err, "vendors")
	gin.SetMode(gin.ReleaseMode)
	sync := gin.New()
	sync.GET(route, func(c *gin.Context) {
		id := c.Param("productId")
		if !price.ValidProductID(id) {
			c.JSON(http.StatusBadRequest, gin.H{"error": "invalid_product_id"})
			return
		}
		now := time.Now()
		offers, failed, answered := price.Evaluate(client.Quote(c.Request.Context(), id))
		if !answered {
			c.JSON(http.StatusBadGateway, gin.H{"error": "no vendor answered"})
			return
		}
		v := projections.PriceComparisonView{ProductID: id, Offers: offers, FailedVendors: failed,
			ComparedAt: projections.FormatTime(now), ExpiresAt: projections.FormatTime(now.Add(5 * time.Minute))}
		if low, ok := price.LowestOffer(offers); ok {
			v.Lowest = &low
		}
		c.JSON(http.StatusOK, v)
	})
	syncURL := benchkit.ServeHTTP(b, sync)

	// Request i asks for a product drawn (deterministically) from the set.
	traffic := func(base, prefix, query string) func(int) string {
		list := make([]string, products)
		for p := range list {
			list[p] = productURL(base, prefix, p) + query
		}
		return func(i int) string { return list[int(uint32(i)*2654435761)%products] }
	}
	type outcome struct {
		res         benchkit.LoadResult
		vendorCalls int
		cachedAfter time.Duration // Surge: until every product was cached
	}
	run := func(name, base, prefix, query string, accept ...int) outcome {
		sim.Reset()
		c := benchkit.NewHTTPClient(workers)
		defer c.CloseIdleConnections()
		start := time.Now()
		// For Surge, note when every product is cached (one EXISTS of all
		// keys every 20ms: negligible next to the load).
		cached := make(chan time.Duration, 1)
		if base == s.URL {
			keys := make([]string, products)
			for p := range keys {
				keys[p] = s.prices.SummaryKey(prefix + strconv.Itoa(p))
			}
			go func() {
				for time.Since(start) < runFor+30*time.Second {
					if n, err := s.rdb.Exists(context.Background(), keys...).Result(); err == nil && int(n) == products {
						cached <- time.Since(start)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				cached <- 0
			}()
		}
		r := benchkit.RunLoad(c, benchkit.Get(traffic(base, prefix, query)), n, workers, runFor, accept...)
		if r.Failed > 0 {
			b.Errorf("%s: %d of %d requests failed, first: %s", name, r.Failed, r.OK+r.Failed, r.FirstErr)
		}
		o := outcome{res: r}
		if base == s.URL {
			if o.cachedAfter = <-cached; o.cachedAfter == 0 {
				b.Fatalf("%s: not every product was cached 30s after the run", name)
			}
		}
		o.vendorCalls = sim.Stats().Total
		return o
	}

	b.ResetTimer()
	syncRun := run("synchronous", syncURL, "s-", "", http.StatusOK)
	surgeRun := run("surge", s.URL, "n-", "", http.StatusOK, http.StatusAccepted)
	waitRun := run("surge ?wait", s.URL, "w-", "?wait=10s", http.StatusOK)
	b.StopTimer()

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(syncRun.res.RPS(), "sync-req/s")
	b.ReportMetric(benchkit.Ms(syncRun.res.Latencies.Pct(99)), "sync-p99-ms")
	b.ReportMetric(surgeRun.res.RPS(), "surge-req/s")
	b.ReportMetric(benchkit.Ms(surgeRun.res.Latencies.Pct(99)), "surge-p99-ms")
	b.ReportMetric(float64(surgeRun.res.ByStatus[200])/surgeRun.res.Elapsed.Seconds(), "surge-prices/s")
	b.ReportMetric(waitRun.res.RPS(), "wait-req/s")
	b.ReportMetric(benchkit.Ms(waitRun.res.Latencies.Pct(99)), "wait-p99-ms")

	t := &benchkit.Table{
		Title: fmt.Sprintf("Price comparison, before/after (closed loop, %d connections, %s per run, %d products, 3 vendors at %s±%s, GOMAXPROCS=%d)",
			workers, runFor, products, latency, jitter, runtime.GOMAXPROCS(0)),
		Head: []string{"endpoint", "answered", "req/s", "prices/s", "p50", "p99", "max", "200", "202", "vendor calls", "all cached after"},
	}
	add := func(name string, o outcome) {
		cached := "-"
		if o.cachedAfter > 0 {
			cached = o.cachedAfter.Round(time.Millisecond).String()
		}
		r := o.res
		t.Row(name, r.OK, r.RPS(), float64(r.ByStatus[200])/r.Elapsed.Seconds(), r.Latencies.Pct(50), r.Latencies.Pct(99), r.Latencies.Pct(100), r.ByStatus[200], r.ByStatus[202], o.vendorCalls, cached)
	}
	add("synchronous: vendors per request", syncRun)
	add("surge (202 on a miss)", surgeRun)
	add("surge ?wait=10s", waitRun)
	t.Note("surge vs synchronous: %.1fx the answers/s, %.1fx the prices/s, p99 %.2f ms vs %.2f ms, %d vs %d vendor calls",
		surgeRun.res.RPS()/syncRun.res.RPS(), float64(surgeRun.res.ByStatus[200])/surgeRun.res.Elapsed.Seconds()/syncRun.res.RPS(),
		benchkit.Ms(surgeRun.res.Latencies.Pct(99)), benchkit.Ms(syncRun.res.Latencies.Pct(99)), surgeRun.vendorCalls, syncRun.vendorCalls)
	t.Note("surge ?wait=10s vs synchronous: %.1fx the throughput, p99 %.2f ms vs %.2f ms (every answer a price in both)",
		waitRun.res.RPS()/syncRun.res.RPS(), benchkit.Ms(waitRun.res.Latencies.Pct(99)), benchkit.Ms(syncRun.res.Latencies.Pct(99)))
	b.Log(t.String())
	if want := 3 * products; surgeRun.vendorCalls != want || waitRun.vendorCalls != want {
		b.Errorf("surge asked vendors %d and %d times, want %d each (once per vendor and product)", surgeRun.vendorCalls, waitRun.vendorCalls, want)
	}
	// Requests cut off when a run ends had asked their vendors already.
	if c, ok := syncRun.vendorCalls, syncRun.res.OK; c < 3*ok || c > 3*(ok+workers) {
		b.Errorf("synchronous endpoint asked vendors %d times for %d answers", c, ok)
	}
}
