package alertsbench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/internal/flows"
)

// knobs are the benchmark's settings (BENCH_ALERT_*).
type knobs struct {
	clients, complexes, rate int
	dur                      time.Duration
	senders, parallel        int
	connectCap, idle, drain  time.Duration
	sides                    []string
}

// plan is the load, the same for both sides: which complex each alert goes
// to (a fixed pseudo-random sequence), warm-up alerts first.
type plan struct {
	warm, measured int
	complexOf      []int
}

func newPlan(k knobs) plan {
	p := plan{warm: k.rate, measured: int(k.dur.Seconds() * float64(k.rate))}
	r := rand.New(rand.NewPCG(2, 2)) // seed 002
	p.complexOf = make([]int, p.warm+p.measured)
	for i := range p.complexOf {
		p.complexOf[i] = r.IntN(k.complexes)
	}
	return p
}

// side is what one server did under the plan.
type side struct {
	name                   string
	connected              int
	connectTook            time.Duration
	idle0, idle1           mem              // before the subscribers, after they are all connected and idle
	client0, client1       int64            // this process's RSS at the same moments
	before, after          benchkit.GoStats // the server's, around the measured sending
	clientGCs              uint32           // this process's GC cycles while sending
	clientPause            time.Duration
	alerts                 []benchkit.Sent // alert i went to complex p.complexOf[i]
	complexOf              []int
	sendFailed             int
	firstSendErr           string
	lag                    time.Duration     // how far the pacer fell behind
	cpu                    benchkit.CPUUsage // during the measured sending
	sched                  benchkit.Dist     // this process's scheduling delay during it
	drained                bool
	lat                    benchkit.Dist
	fromReq                benchkit.Dist  // POST sent -> each subscriber
	split                  benchkit.Split // per measured alert: the POST, 202 -> first subscriber, first -> last, Kafka (Surge)
	tap                    *benchkit.KafkaTap
	deliveries             int // of measured alerts
	window                 time.Duration
	early                  int
	missed, dups, foreign  int
	unknown, order, posBad int
	clientErrs             int
	firstClientErr         string
}

// mem is a server's memory at one moment.
type mem struct {
	RSS int64 // VmRSS
	benchkit.GoStats
}

// readMem reads a server's RSS and Go memory.
func readMem(srv *benchkit.Server) (mem, error) {
	rss, err := benchkit.RSS(srv.PID())
	if err != nil {
		return mem{}, err
	}
	st, err := srv.Stats()
	return mem{RSS: rss, GoStats: st}, err
}

func (s *side) perConn(n int) (rss, heap, stack, goroutines float64) {
	d := func(a, b float64) float64 { return (b - a) / float64(n) }
	return d(float64(s.idle0.RSS), float64(s.idle1.RSS)), d(s.idle0.HeapInuse, s.idle1.HeapInuse),
		d(s.idle0.StackInuse, s.idle1.StackInuse), d(s.idle0.Goroutines, s.idle1.Goroutines)
}

// BenchmarkAlertPush: 10,000 WebSocket (STOMP) subscribers over 100
// complexes on one Surge instance, 100 alerts/s for 30 s, each raised with
// POST /v1/complexes/{id}/alerts on a pseudo-random complex (the same
// sequence for both sides). It measures, for every subscriber of the
// alert's complex, the time from the 202 to the MESSAGE's arrival (p50, p99,
// max), alerts missed, received twice or out of order, and memory per idle
// connection (server RSS, and Go heap and stacks, before the subscribers
// and after they are all connected, subscribed and idle). Baseline, in the
// same run by the same client: a bare WebSocket broadcast of the same frames
// from memory (baseline_test.go). Each server runs in its own process (a
// process cannot hold both ends of 10,000 connections under a 20,000 file
// limit); this one holds the subscribers and the senders.
//
// Diagnostic rows split the latency: POST sent -> subscriber and the POST
// itself; per alert, 202 -> its first subscriber (the pipeline) and first ->
// last subscriber (the fan-out); for Surge, a Kafka tap on its embedded
// broker splits 202 -> Kafka from Kafka -> first subscriber.
//
// Targets: Surge's p99 <= 250 ms, no alert missed, <= 30 KiB of RSS per idle
// connection.
//
// Knobs: BENCH_ALERT_CLIENTS (10000), BENCH_ALERT_COMPLEXES (100),
// BENCH_ALERT_RATE (alerts/s, 100), BENCH_ALERT_DURATION (30s),
// BENCH_ALERT_SENDERS (concurrent POSTs, 16), BENCH_ALERT_CONNECT_PARALLEL
// (64), BENCH_ALERT_CONNECT_TIMEOUT (3m), BENCH_ALERT_IDLE (5s),
// BENCH_ALERT_DRAIN (30s), BENCH_ALERT_SIDES ("baseline,surge").
func BenchmarkAlertPush(b *testing.B) {
	k := knobs{
		clients:    benchkit.EnvInt(b, "BENCH_ALERT_CLIENTS", 10000),
		complexes:  benchkit.EnvInt(b, "BENCH_ALERT_COMPLEXES", 100),
		rate:       benchkit.EnvInt(b, "BENCH_ALERT_RATE", 100),
		dur:        benchkit.EnvDuration(b, "BENCH_ALERT_DURATION", 30*time.Second),
		senders:    benchkit.EnvInt(b, "BENCH_ALERT_SENDERS", 16),
		parallel:   benchkit.EnvInt(b, "BENCH_ALERT_CONNECT_PARALLEL", 64),
		connectCap: benchkit.EnvDuration(b, "BENCH_ALERT_CONNECT_TIMEOUT", 3*time.Minute),
		idle:       benchkit.EnvDuration(b, "BENCH_ALERT_IDLE", 5*time.Second),
		drain:      benchkit.EnvDuration(b, "BENCH_ALERT_DRAIN", 30*time.Second),
	}
	for _, s := range strings.Split(envOr("BENCH_ALERT_SIDES", "baseline,surge"), ",") {
		if s = strings.TrimSpace(s); s == "baseline" || s == "surge" {
			k.sides = append(k.sides, s)
		} else if s != "" {
			b.Fatalf("BENCH_ALERT_SIDES: unknown side %q (want baseline, surge)", s)
		}
	}
	if k.clients > 15000 {
		b.Fatalf("BENCH_ALERT_CLIENTS=%d: this process holds every client connection; keep it under 15000 with a 20000 file limit", k.clients)
	}
	p := newPlan(k)

	b.ResetTimer()
	var base, surge *side
	for _, name := range k.sides {
		switch name {
		case "baseline":
			base = runSide(b, "bare WebSocket broadcast (baseline)", benchkit.StartBaseline, k, p)
		case "surge":
			surge = runSide(b, "Surge: POST -> PostgreSQL -> outbox -> Kafka -> push", benchkit.StartSurge, k, p)
		}
	}
	b.StopTimer()
	report(b, k, p, base, surge)
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// runSide starts a server, connects the subscribers, measures the idle
// memory, warms up, sends the plan, drains, and stops the server.
func runSide(b *testing.B, name string, startServer func(testing.TB) *benchkit.Server, k knobs, p plan) *side {
	b.Helper()
	s := &side{name: name}
	srv := startServer(b)
	epoch := time.Now()
	client := benchkit.NewHTTPClient(k.senders)
	defer client.CloseIdleConnections()
	waitDelivered(b, srv, client, epoch)
	if srv.Kafka != "" {
		// Splits Surge's latency into 202 -> Kafka (store, outbox,
		// forwarder, produce) and Kafka -> subscriber (live consumer, hub,
		// session, socket).
		var err error
		s.tap, err = benchkit.StartKafkaTap(benchkit.TapSpec{Broker: srv.Kafka, ClientID: "surge-bench-alerts-tap",
			Topic: flows.AlertEvents, IDKey: alertIDKey}, epoch)
		benchkit.Must(b, err, name+": Kafka tap")
		defer s.tap.Close()
	}

	time.Sleep(2 * time.Second)
	var err error
	s.idle0, err = readMem(srv)
	benchkit.Must(b, err, name+": memory before")
	s.client0, _ = benchkit.RSS(0)

	t0 := time.Now()
	f, failed, err := connectFleet(srv.URL, k.clients, k.complexes, k.parallel, k.connectCap, epoch)
	b.Cleanup(func() { f.close() }) //nolint:errcheck // closed below; again only if the benchmark failed
	s.connectTook, s.connected = time.Since(t0), len(f.subs)
	if err != nil || failed > 0 {
		b.Fatalf("%s: %d of %d subscribers connected in %s (%d failed), first error: %v", name, s.connected, k.clients, s.connectTook.Round(time.Millisecond), failed, err)
	}
	// SUBSCRIBE has no receipt: the server's own count says when all are in.
	srv.WaitSubscribers(b, name, k.clients)
	time.Sleep(k.idle)
	s.idle1, err = readMem(srv)
	benchkit.Must(b, err, name+": memory after connecting")
	s.client1, _ = benchkit.RSS(0)

	subsOf := make([]int, k.complexes)
	for _, sub := range f.subs {
		subsOf[sub.complex]++
	}
	s.alerts, s.complexOf = make([]benchkit.Sent, len(p.complexOf)), p.complexOf
	var sendFailed atomic.Int64
	var errOnce sync.Once
	send := func(i int) {
		c := p.complexOf[i]
		req := time.Since(epoch)
		id, err := raise(client, srv.URL, c, i)
		if err != nil {
			sendFailed.Add(1)
			errOnce.Do(func() { s.firstSendErr = err.Error() })
			return
		}
		s.alerts[i] = benchkit.Sent{ID: id, Req: req, At: time.Since(epoch), OK: true, Measured: i >= p.warm}
	}
	// Deliveries due for the alerts raised so far (call when no send runs).
	expect := func(upTo int) (n int64) {
		for i, a := range s.alerts[:upTo] {
			if a.OK {
				n += int64(subsOf[p.complexOf[i]])
			}
		}
		return n
	}

	// Warm-up: one second at the rate, delivered, before the measurement
	// (pools and connections open, the consumer reads).
	benchkit.Pace(k.rate, time.Hour, p.warm, k.senders, send)
	if !f.waitReceived(expect(p.warm), k.drain) {
		b.Logf("%s: the warm-up was not all delivered within %s (%d of %d)", name, k.drain, f.received.Load(), expect(p.warm))
	}

	s.before, _ = srv.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := benchkit.SampleCPU(srv.PID())
	stopSched := benchkit.WatchSchedDelay(int(k.dur/(5*time.Millisecond)) + 1000)
	start := time.Since(epoch)
	_, s.lag = benchkit.Pace(k.rate, k.dur+time.Second, p.measured, k.senders, func(i int) { send(p.warm + i) })
	s.cpu = benchkit.CPUBetween(cpu0, benchkit.SampleCPU(srv.PID()))
	runtime.ReadMemStats(&ms1)
	s.clientGCs = ms1.NumGC - ms0.NumGC
	for g := ms0.NumGC; g < ms1.NumGC && ms1.NumGC-g <= 256; g++ {
		s.clientPause = max(s.clientPause, time.Duration(ms1.PauseNs[g%256]))
	}
	s.sched = stopSched()
	s.drained = f.waitReceived(expect(len(p.complexOf)), k.drain)
	time.Sleep(500 * time.Millisecond) // duplicates would come now
	s.after, _ = srv.Stats()
	s.sendFailed = int(sendFailed.Load())
	if err := f.close(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	srv.Stop()
	s.analyze(f, subsOf, start)
	return s
}

// waitDelivered waits until the server pushes: a probe subscriber on its own
// complex, and an alert raised every 250 ms until one arrives (Surge's live
// consumer starts reading the topic after the API answers /readyz).
func waitDelivered(b *testing.B, srv *benchkit.Server, client *http.Client, epoch time.Time) {
	b.Helper()
	f, _, err := connectProbe(srv.URL, epoch)
	if err != nil {
		b.Fatalf("%s: probe subscriber: %v", srv.Name, err)
	}
	defer f.close() //nolint:errcheck
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; f.received.Load() == 0; i++ {
		if time.Now().After(deadline) {
			b.Fatalf("%s: no alert pushed within 60s of ready:\n%s", srv.Name, srv.Tail(30))
		}
		if _, err := raise(client, srv.URL, -1, i); err != nil {
			b.Logf("%s: probe alert: %v", srv.Name, err)
		}
		f.waitReceived(1, 250*time.Millisecond)
	}
}

// connectProbe is one subscriber on the probe's complex.
func connectProbe(base string, epoch time.Time) (*fleet, int, error) {
	f := &fleet{epoch: epoch}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := f.dial(ctx, base, -1)
	if err != nil {
		return f, 1, err
	}
	f.subs = append(f.subs, s)
	return f, 0, nil
}

// alertBody is the raise request of alert i: the same size for every i.
func alertBody(i int) []byte {
	return []byte(`{"house":"101-1203","text":"bench alert ` + fmt.Sprintf("%06d", i) + `: smoke reported on 12F, use stairwell B"}`)
}

// raise POSTs alert i to complex c and returns the alertId of its 202.
func raise(client *http.Client, base string, c, i int) (string, error) {
	var v struct{ AlertID, Status string }
	err := benchkit.PostAccepted(client, base+"/v1/complexes/"+complexID(c)+"/alerts", bytes.NewReader(alertBody(i)), &v,
		func() bool { return len(v.AlertID) == 36 && v.Status == "raised" })
	return v.AlertID, err
}

// analyze checks every delivery against the alerts: each subscriber of an
// alert's complex must have received it exactly once, positions in order.
func (s *side) analyze(f *fleet, subsOf []int, start time.Duration) {
	idx := make(map[[36]byte]int, len(s.alerts))
	for j, a := range s.alerts {
		if a.OK {
			var key [36]byte
			copy(key[:], a.ID)
			idx[key] = j
		}
	}
	got := make([]int32, len(s.alerts))   // distinct subscribers that received alert j
	posOf := make([]int64, len(s.alerts)) // the position alert j came with
	rc := benchkit.NewReceipts(s.alerts, 0)
	var fromReq []time.Duration
	for _, sub := range f.subs {
		if sub.err != "" {
			s.clientErrs++
			if s.firstClientErr == "" {
				s.firstClientErr = sub.err
			}
		}
		seen := make(map[int]struct{}, len(sub.got))
		prev := int64(-1)
		for _, r := range sub.got {
			j, ok := idx[r.id]
			switch {
			case !ok:
				s.unknown++
				continue
			case s.complexOf[j] != sub.complex:
				s.foreign++
				continue
			}
			if _, dup := seen[j]; dup {
				s.dups++
				continue
			}
			seen[j] = struct{}{}
			got[j]++
			if posOf[j] == 0 {
				posOf[j] = r.pos
			} else if posOf[j] != r.pos {
				s.posBad++
			}
			if prev >= 0 && r.pos != prev+1 {
				s.order++
			}
			prev = r.pos
			rc.Add(j, r.at)
			if a := s.alerts[j]; a.Measured {
				fromReq = append(fromReq, r.at-a.Req)
			}
		}
	}
	for j, a := range s.alerts {
		if !a.OK {
			continue
		}
		s.missed += subsOf[s.complexOf[j]] - int(got[j])
	}
	s.split = rc.Split(s.tap)
	s.fromReq = benchkit.NewDist(fromReq)
	s.early = rc.Early
	s.deliveries = rc.Count()
	s.window = rc.Last - start
	s.lat = rc.Latencies()
}

func (s *side) perSecond() float64 { return benchkit.PerSecond(s.deliveries, s.window) }

func report(b *testing.B, k knobs, p plan, base, surge *side) {
	t := &benchkit.Table{
		Title: fmt.Sprintf("Alert push (%d subscribers over %d complexes, %d alerts/s for %s after %d warm-up alerts, %d senders, GOMAXPROCS=%d)",
			k.clients, k.complexes, k.rate, k.dur, p.warm, k.senders, runtime.GOMAXPROCS(0)),
		Head: []string{"path", "alerts", "deliveries", "per second", "p50", "p90", "p99", "max", "missed", "dup", "out of order", "CPU (cores)"},
	}
	m := &benchkit.Table{
		Title: "Alert push: memory per idle connection (before the subscribers -> all connected, subscribed, idle " + k.idle.String() + ")",
		Head:  []string{"server", "connections", "connect took", "RSS before", "RSS after", "RSS/conn", "Go heap/conn", "stacks/conn", "goroutines/conn", "client RSS/conn"},
	}
	kib, mib := benchkit.KiB, benchkit.MiB
	for _, s := range []*side{base, surge} {
		if s == nil {
			continue
		}
		measured := benchkit.MeasuredCount(s.alerts)
		t.Row(s.name, measured, s.deliveries, s.perSecond(), s.lat.Pct(50), s.lat.Pct(90), s.lat.Pct(99), s.lat.Max(), s.missed, s.dups, s.order+s.posBad, s.cpu.Short("server", "client"))
		t.Row("  POST sent -> each subscriber", measured, s.deliveries, "", s.fromReq.Pct(50), s.fromReq.Pct(90), s.fromReq.Pct(99), s.fromReq.Max(), "", "", "", "")
		sp := s.split
		benchkit.SplitRow(t, "  the POST itself (sent -> 202 read)", measured, sp.Post)
		benchkit.SplitRow(t, "  per alert: 202 -> its first subscriber", measured, sp.First)
		benchkit.SplitRow(t, "  per alert: first -> last subscriber", measured, sp.Spread)
		if s.tap != nil {
			benchkit.SplitRow(t, "  per alert: 202 -> Kafka (tap; < 0: Kafka first)", measured-sp.TapMissing, sp.ToKafka)
			benchkit.SplitRow(t, "  per alert: Kafka (tap) -> first subscriber", measured-sp.TapMissing, sp.FromKafka)
		}
		rss, heap, stack, gr := s.perConn(s.connected)
		m.Row(s.name, s.connected, s.connectTook.Round(time.Millisecond), mib(s.idle0.RSS), mib(s.idle1.RSS), kib(rss), kib(heap), kib(stack),
			strconv.FormatFloat(gr, 'f', 2, 64), kib(float64(s.client1-s.client0)/float64(s.connected)))
		short := strings.SplitN(s.name, ":", 2)[0]
		t.Note("%s: pacer fell behind by at most %s; this process's wake-up delay p50 %s, p99 %s, max %s (5 ms naps while sending)",
			short, s.lag.Round(time.Millisecond), s.sched.Pct(50).Round(10*time.Microsecond), s.sched.Pct(99).Round(10*time.Microsecond), s.sched.Max().Round(10*time.Microsecond))
		t.Note("%s: GC while sending: server %.0f cycles (longest pause so far %s), client %d cycles (longest pause %s)", short,
			s.after.GCs-s.before.GCs, time.Duration(s.after.GCMaxPause*1e9).Round(time.Microsecond), s.clientGCs, s.clientPause.Round(time.Microsecond))
		if s.sendFailed > 0 {
			t.Note("%s: %d raises failed, first: %s", short, s.sendFailed, s.firstSendErr)
			b.Errorf("%s: %d raises failed, first: %s", short, s.sendFailed, s.firstSendErr)
		}
		if !s.drained {
			t.Note("%s: not every delivery arrived within the %s drain", short, k.drain)
		}
		if s.early > 0 {
			t.Note("%s: %d deliveries arrived before their 202 was read (counted as 0 ms)", short, s.early)
		}
		if s.foreign+s.unknown+s.clientErrs > 0 {
			t.Note("%s: %d deliveries of another complex's alert, %d of an unknown alertId; %d subscribers ended with an error, first: %s", short, s.foreign, s.unknown, s.clientErrs, s.firstClientErr)
		}
		if s.after.Dropped > 0 {
			t.Note("%s: the server dropped %v slow subscribers", short, s.after.Dropped)
		}
		if s.cpu.Noisy() {
			t.Note("%s", s.cpu.Warning(short))
		}
	}
	t.Note("latency: from the 202 read by the sender to the MESSAGE read by each subscriber of the complex, measured alerts only; missed/dup/out of order also cover the warm-up")
	t.Note("CPU column: cores busy while sending, of %d: server = the Surge or baseline process, client = this process (subscribers, senders), pg = PostgreSQL, irq = softirqs (loopback)", runtime.NumCPU())
	m.Note("RSS from /proc/<pid>/status; Go heap (heap in use) and stacks from go_memstats_* of /metrics (the baseline: its /stats), without a forced GC")
	m.Note("client RSS/conn: this process's growth while connecting; only the first side's says anything (the second reuses memory the first freed)")

	b.ReportMetric(0, "ns/op")
	if base != nil {
		rss, _, _, _ := base.perConn(base.connected)
		b.ReportMetric(benchkit.Ms(base.lat.Pct(50)), "base-p50-ms")
		b.ReportMetric(benchkit.Ms(base.lat.Pct(99)), "base-p99-ms")
		b.ReportMetric(rss/1024, "base-KiB/conn")
		b.ReportMetric(base.cpu.Server, "base-server-cores")
	}
	if surge != nil {
		rss, _, _, _ := surge.perConn(surge.connected)
		p99 := benchkit.Ms(surge.lat.Pct(99))
		lost := surge.missed + surge.dups + surge.order + surge.posBad
		b.ReportMetric(benchkit.Ms(surge.lat.Pct(50)), "surge-p50-ms")
		b.ReportMetric(p99, "surge-p99-ms")
		b.ReportMetric(benchkit.Ms(surge.lat.Max()), "surge-max-ms")
		b.ReportMetric(float64(surge.missed), "surge-missed")
		b.ReportMetric(rss/1024, "surge-KiB/conn")
		b.ReportMetric(surge.perSecond(), "surge-deliveries/s")
		b.ReportMetric(surge.cpu.Server, "surge-server-cores")
		if base != nil {
			ratio := func(a, b time.Duration) string {
				if b <= 0 {
					return "-"
				}
				return strconv.FormatFloat(float64(a)/float64(b), 'f', 1, 64) + "x"
			}
			baseRSS, _, _, _ := base.perConn(base.connected)
			// The baseline's 202 -> subscriber p50 is about 0 (it pushes as it
			// answers): its ratio would say nothing.
			t.Note("Surge/baseline: 202 -> subscriber p99 %s; POST sent -> subscriber p50 %s, p99 %s; RSS per connection %.2fx",
				ratio(surge.lat.Pct(99), base.lat.Pct(99)),
				ratio(surge.fromReq.Pct(50), base.fromReq.Pct(50)), ratio(surge.fromReq.Pct(99), base.fromReq.Pct(99)), rss/max(1, baseRSS))
		}
		t.Note("target: p99 <= 250 ms -> %.1f ms: %s", p99, benchkit.Verdict(p99 <= 250))
		t.Note("target: zero missed -> %d missed, %d duplicates, %d out of order: %s", surge.missed, surge.dups, surge.order+surge.posBad, benchkit.Verdict(lost == 0 && surge.drained))
		m.Note("target: <= 30 KiB per idle connection -> %.1f KiB RSS: %s", rss/1024, benchkit.Verdict(rss <= 30*1024))
		if lost > 0 {
			b.Errorf("Surge: %d deliveries missed, %d duplicated, %d out of order", surge.missed, surge.dups, surge.order+surge.posBad)
		}
	}
	t.Print()
	m.Print()
}
