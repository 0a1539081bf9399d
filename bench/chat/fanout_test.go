package chatbench

import (
	"fmt"
	"io"
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

// fanKnobs are BenchmarkChatFanOut's settings (BENCH_CHAT_FANOUT_*).
type fanKnobs struct {
	clients, rate, senders, parallel, reconnects int
	dur, connectCap, idle, drain                 time.Duration
	sides                                        []string
	short                                        bool
}

// fanSide is what one server did.
type fanSide struct {
	name, short      string
	noFile           int // the server process's soft RLIMIT_NOFILE
	connected        int
	connectTook      time.Duration
	rss0, rss1       int64            // server RSS before the streams, after they are all open and idle
	idle0, idle1     benchkit.GoStats // the server's Go figures at the same moments
	client0, client1 int64            // this process's RSS at the same moments
	before, after    benchkit.GoStats // around the measured sending
	msgs             []benchkit.Sent
	warm             int
	sendFailed       int
	firstSendErr     string
	lag              time.Duration
	cpu              benchkit.CPUUsage
	sched            benchkit.Dist
	drained          bool
	lat              benchkit.Dist
	// split is per measured message: the POST, 202 -> first stream, first
	// -> last; for Surge (Kafka tap) 202 -> Kafka, Kafka -> first stream,
	// 202 -> postedAt (the handler's clock) and postedAt -> Kafka.
	split                   benchkit.Split
	tap                     *benchkit.KafkaTap
	deliveries, expected    int // measured deliveries received; due (every stream × every measured message)
	late                    int // measured deliveries more than a second after their 202
	window                  time.Duration
	missed, dups, order     int
	unknown, foreign, wrong int // positions out of range; positions of no message sent; another messageId than the others saw
	unplaced                int // messages sent that no stream received at all
	early                   int
	behind, reconnects      int
	refused                 int // streams whose reopening was answered other than 200 (EventSource gives up)
	clientErrs              int
	firstClientErr          string
}

func (s *fanSide) lost() int { return s.missed + s.dups + s.order + s.unknown + s.foreign + s.wrong }

// BenchmarkChatFanOut: 5,000 SSE streams (GET /v1/rooms/{id}/stream) on one
// room of one Surge instance, then 50 messages/s for 30 s posted with
// POST /v1/rooms/{id}/messages (after 1 s of warm-up at the same rate). It
// measures, for every stream and every measured message, the time from the
// POST's 202 to the event's arrival (p50, p90, p99, max), and checks that
// every stream received every message (warm-up included) exactly once and
// in order: missed, duplicated and out-of-order deliveries must be 0.
// Memory per idle stream and CPU are reported too. Baseline, in the same run
// by the same clients: a bare SSE broadcast from memory (baseline_test.go).
// Each server runs in its own process, as `surge serve` would; this one
// holds the streams and the senders.
//
// Knobs: BENCH_CHAT_FANOUT_CLIENTS (5000), BENCH_CHAT_FANOUT_RATE (50),
// BENCH_CHAT_FANOUT_DURATION (30s), BENCH_CHAT_FANOUT_SENDERS (8),
// BENCH_CHAT_FANOUT_CONNECT_PARALLEL (64), BENCH_CHAT_FANOUT_CONNECT_TIMEOUT
// (3m), BENCH_CHAT_FANOUT_IDLE (3s), BENCH_CHAT_FANOUT_DRAIN (2m: how long
// deliveries may take to arrive after the last send; a late one is in the
// latencies, one that has not arrived by then is missed),
// BENCH_CHAT_FANOUT_RECONNECTS (5 per stream), BENCH_CHAT_FANOUT_SIDES
// ("baseline,surge"; "split" adds Surge as three processes: `surge serve
// --roles push` holding the streams, `--roles
// api,commands,forwarder,projections` taking the posts, `surge kafka`).
// BENCH_CHAT_SHORT=1 (or -test.short) makes the defaults 500 streams for
// 5 s.
//
// A Kafka tap on Surge's broker splits each message's way: 202 -> handled
// (its postedAt), handled -> Kafka, Kafka -> first stream.
func BenchmarkChatFanOut(b *testing.B) {
	short := os.Getenv("BENCH_CHAT_SHORT") == "1" || testing.Short()
	defClients, defDur := 5000, 30*time.Second
	if short {
		defClients, defDur = 500, 5*time.Second
	}
	k := fanKnobs{
		clients:    benchkit.EnvInt(b, "BENCH_CHAT_FANOUT_CLIENTS", defClients),
		rate:       benchkit.EnvInt(b, "BENCH_CHAT_FANOUT_RATE", 50),
		dur:        benchkit.EnvDuration(b, "BENCH_CHAT_FANOUT_DURATION", defDur),
		senders:    benchkit.EnvInt(b, "BENCH_CHAT_FANOUT_SENDERS", 8),
		parallel:   benchkit.EnvInt(b, "BENCH_CHAT_FANOUT_CONNECT_PARALLEL", 64),
		connectCap: benchkit.EnvDuration(b, "BENCH_CHAT_FANOUT_CONNECT_TIMEOUT", 3*time.Minute),
		idle:       benchkit.EnvDuration(b, "BENCH_CHAT_FANOUT_IDLE", 3*time.Second),
		drain:      benchkit.EnvDuration(b, "BENCH_CHAT_FANOUT_DRAIN", 2*time.Minute),
		reconnects: benchkit.EnvInt(b, "BENCH_CHAT_FANOUT_RECONNECTS", 5),
		short:      short,
	}
	for _, s := range strings.Split(envOr("BENCH_CHAT_FANOUT_SIDES", "baseline,surge"), ",") {
		if s = strings.TrimSpace(s); s == "baseline" || s == "surge" || s == "split" {
			k.sides = append(k.sides, s)
		} else if s != "" {
			b.Fatalf("BENCH_CHAT_FANOUT_SIDES: unknown side %q (want baseline, surge, split)", s)
		}
	}
	// This process holds every stream, the senders and a few probes; the
	// server as many connections, and keeps 512 descriptors for itself
	// (api.DefaultMaxConns).
	need := k.clients + 1024
	limit, err := raiseNoFile(need)
	benchkit.Must(b, err, "RLIMIT_NOFILE")
	if limit < need {
		b.Fatalf("%d streams need %d file descriptors in this process (and the server), the limit is %d (ulimit -n)", k.clients, need, limit)
	}

	b.ResetTimer()
	var sides []*fanSide
	for _, name := range k.sides {
		switch name {
		case "baseline":
			sides = append(sides, runFanSide(b, "bare SSE broadcast (baseline)", "baseline", startBaseline, k))
		case "surge":
			sides = append(sides, runFanSide(b, "Surge: POST -> Kafka -> PostgreSQL -> outbox -> Kafka -> push -> SSE", "surge", startSurge, k))
		case "split":
			sides = append(sides, runFanSide(b, "Surge, split: push | api+commands+forwarder+projections | kafka", "split", startSplit, k))
		}
	}
	b.StopTimer()
	reportFanOut(b, k, limit, sides)
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

const fanRoom = "fanout"

// postedAtKey precedes a MessagePosted's postedAt (the command handler's
// clock when it recorded the message), for the Kafka tap.
var postedAtKey = []byte(`"postedAt":"`)

// runFanSide starts a server, opens the streams, measures idle memory,
// warms up, sends, drains, and stops the server.
func runFanSide(b *testing.B, name, short string, startServer func(testing.TB) *server, k fanKnobs) *fanSide {
	b.Helper()
	s := &fanSide{name: name, short: short, warm: k.rate}
	srv := startServer(b)
	var err error
	s.noFile, err = benchkit.OpenFilesLimit(srv.PID())
	benchkit.Must(b, err, name+": the server's RLIMIT_NOFILE")
	if s.noFile < k.clients+600 {
		b.Fatalf("%s: its file-descriptor limit is %d, too few for %d streams", name, s.noFile, k.clients)
	}
	epoch := time.Now()
	client := benchkit.NewHTTPClient(k.senders)
	defer client.CloseIdleConnections()
	waitPushes(b, srv, client, epoch)
	createRoom(b, client, srv.post(), fanRoom, "Fan-out")
	if srv.Kafka != "" {
		// Splits the fan-out's latency into 202 -> handled (command
		// consumed, the handler's transaction begun: the event's postedAt),
		// handled -> Kafka (stored in PostgreSQL, outbox, forwarder,
		// produce) and Kafka -> first stream (live consumer, hub, stream,
		// socket).
		s.tap, err = benchkit.StartKafkaTap(benchkit.TapSpec{Broker: srv.Kafka, ClientID: "surge-bench-chat-tap",
			Topic: flows.ChatEvents, IDKey: messageIDAt, StampKey: postedAtKey}, epoch)
		benchkit.Must(b, err, name+": Kafka tap")
		defer s.tap.Close()
	}

	time.Sleep(time.Second)
	s.rss0, _ = benchkit.RSS(srv.PID())
	s.idle0, _ = srv.Stats()
	s.client0, _ = benchkit.RSS(0)

	measured := int(k.dur.Seconds() * float64(k.rate))
	total := s.warm + measured
	f := newFleet(srv.URL, fanRoom, epoch, 0, total+64, k.reconnects)
	b.Cleanup(func() { f.close() }) //nolint:errcheck // closed below; again only if the benchmark failed
	t0 := time.Now()
	failed, err := f.connect(k.clients, k.parallel, k.connectCap)
	s.connectTook, s.connected = time.Since(t0), f.size()
	if err != nil || failed > 0 {
		b.Fatalf("%s: %d of %d streams opened in %s (%d failed), first error: %v", name, s.connected, k.clients, s.connectTook.Round(time.Millisecond), failed, err)
	}
	// Each stream follows the room before its first line: the server's
	// count is a cross-check.
	srv.WaitSubscribers(b, name, k.clients)
	time.Sleep(k.idle)
	s.rss1, _ = benchkit.RSS(srv.PID())
	s.idle1, _ = srv.Stats()
	s.client1, _ = benchkit.RSS(0)

	s.msgs = make([]benchkit.Sent, total)
	var sendFailed atomic.Int64
	var errOnce sync.Once
	send := func(i int) {
		req := time.Since(epoch)
		id, err := postMessage(client, srv.post(), fanRoom, i)
		if err != nil {
			sendFailed.Add(1)
			errOnce.Do(func() { s.firstSendErr = err.Error() })
			return
		}
		s.msgs[i] = benchkit.Sent{ID: id, Req: req, At: time.Since(epoch), OK: true, Measured: i >= s.warm}
	}
	sentOK := func(upTo int) (n int64) {
		for _, m := range s.msgs[:upTo] {
			if m.OK {
				n++
			}
		}
		return n
	}

	// Warm-up: one second at the rate, delivered, before the measurement.
	benchkit.Pace(k.rate, time.Hour, s.warm, k.senders, send)
	if !f.waitReceived(sentOK(s.warm)*int64(k.clients), k.drain) {
		b.Logf("%s: the warm-up was not all delivered within %s (%d of %d)", name, k.drain, f.received.Load(), sentOK(s.warm)*int64(k.clients))
	}

	s.before, _ = srv.Stats()
	cpu0 := benchkit.SampleCPU(srv.pids()...)
	stopSched := benchkit.WatchSchedDelay(int(k.dur/(5*time.Millisecond)) + 1000)
	start := time.Since(epoch)
	_, s.lag = benchkit.Pace(k.rate, k.dur+time.Second, measured, k.senders, func(i int) { send(s.warm + i) })
	s.cpu = benchkit.CPUBetween(cpu0, benchkit.SampleCPU(srv.pids()...))
	s.sched = stopSched()
	s.drained = f.waitReceived(sentOK(total)*int64(k.clients), k.drain)
	time.Sleep(500 * time.Millisecond) // duplicates would come now
	s.after, _ = srv.Stats()
	s.sendFailed = int(sendFailed.Load())
	if err := f.close(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	srv.stop()
	s.analyze(f, start)
	return s
}

// waitPushes waits until the server streams: a probe stream on a room of
// its own, and a message posted every 250 ms until one arrives (Surge's live
// consumer starts reading after /readyz answers).
func waitPushes(b *testing.B, srv *server, client *http.Client, epoch time.Time) {
	b.Helper()
	createRoom(b, client, srv.post(), "probe", "Probe")
	f := newFleet(srv.URL, "probe", epoch, 0, 1000, 0)
	defer f.close() //nolint:errcheck
	if failed, err := f.connect(1, 1, 30*time.Second); failed > 0 || err != nil {
		b.Fatalf("%s: probe stream: %v", srv.Name, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; f.received.Load() == 0; i++ {
		if time.Now().After(deadline) {
			b.Fatalf("%s: no message streamed within 60s of ready:\n%s", srv.Name, srv.Tail(30))
		}
		if _, err := postMessage(client, srv.post(), "probe", i); err != nil {
			b.Logf("%s: probe message: %v", srv.Name, err)
		}
		f.waitReceived(1, 250*time.Millisecond)
	}
}

func createRoom(b *testing.B, client *http.Client, base, id, name string) {
	b.Helper()
	res, err := client.Post(base+"/v1/rooms", "application/json", strings.NewReader(`{"id":"`+id+`","name":"`+name+`"}`))
	benchkit.Must(b, err, "create room "+id)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b.Fatalf("create room %s: %d %s", id, res.StatusCode, body)
	}
}

// messageText is message i's text: the same size for every i.
func messageText(i int) string {
	return fmt.Sprintf("bench message %06d: the quick brown fox jumps over the lazy dog", i)
}

// postMessage posts message i to room and returns the messageId of its 202.
func postMessage(client *http.Client, base, room string, i int) (string, error) {
	body := `{"userId":"user-` + strconv.Itoa(i%64) + `","text":"` + messageText(i) + `"}`
	var v struct{ MessageID string }
	err := benchkit.PostAccepted(client, base+"/v1/rooms/"+room+"/messages", strings.NewReader(body), &v,
		func() bool { return len(v.MessageID) == 36 })
	return v.MessageID, err
}

// analyze checks every stream against the messages sent: each must have
// received every message (warm-up included) once, at one position, in
// order; latencies are of the measured messages.
func (s *fanSide) analyze(f *fleet, start time.Duration) {
	posOf := make(map[uint64]int64, f.maxPos)
	for p := 1; p <= f.maxPos; p++ {
		if h := f.ids[p].Load(); h != 0 {
			posOf[h] = int64(p)
		}
	}
	placed := make([]int64, len(s.msgs)) // each message's position (0: no stream saw it)
	used := make([]bool, f.maxPos+1)
	measured := 0
	for j, m := range s.msgs {
		if !m.OK {
			continue
		}
		if m.Measured {
			measured++
		}
		if p, ok := posOf[idHash(m.ID)]; ok {
			placed[j], used[p] = p, true
		} else {
			s.unplaced++
		}
	}
	s.expected = measured * len(f.clients)
	rc := benchkit.NewReceipts(s.msgs, s.expected)
	for _, c := range f.clients {
		if c.err != "" {
			s.clientErrs++
			if s.firstClientErr == "" {
				s.firstClientErr = c.err
			}
		}
		s.dups += c.dups
		s.order += c.order
		s.unknown += c.unknown
		s.wrong += c.mismatch
		s.behind += c.behind
		s.reconnects += c.reconnects
		if c.refused {
			s.refused++
		}
		for j, m := range s.msgs {
			if !m.OK {
				continue
			}
			p := placed[j]
			if p == 0 || c.at[p] == 0 {
				s.missed++
				continue
			}
			rc.Add(j, time.Duration(c.at[p]-1))
		}
		for p := 1; p <= f.maxPos; p++ {
			if c.at[p] != 0 && !used[p] {
				s.foreign++
			}
		}
	}
	s.split = rc.Split(s.tap)
	s.early, s.late = rc.Early, rc.Late
	s.deliveries = rc.Count()
	s.window = rc.Last - start
	s.lat = rc.Latencies()
}

func (s *fanSide) perSecond() float64 { return benchkit.PerSecond(s.deliveries, s.window) }

func reportFanOut(b *testing.B, k fanKnobs, limit int, sides []*fanSide) {
	t := &benchkit.Table{
		Title: fmt.Sprintf("Chat SSE fan-out (%d streams on one room, %d messages/s for %s after %d warm-up messages, %d senders, GOMAXPROCS=%d)",
			k.clients, k.rate, k.dur, k.rate, k.senders, runtime.GOMAXPROCS(0)),
		Head: []string{"path", "messages", "deliveries", "per second", "p50", "p90", "p99", "max", "missed", "dup", "out of order", "CPU (cores)"},
	}
	m := &benchkit.Table{
		Title: "Chat SSE fan-out: memory per idle stream (before the streams -> all open and idle " + k.idle.String() + ")",
		Head:  []string{"server", "streams", "open took", "RSS before", "RSS after", "RSS/stream", "Go heap/stream", "stacks/stream", "goroutines/stream", "client RSS/stream"},
	}
	kib, mib := benchkit.KiB, benchkit.MiB
	b.ReportMetric(0, "ns/op")
	var base *fanSide
	var surges []*fanSide
	for _, s := range sides {
		if s.short == "baseline" {
			base = s
		} else {
			surges = append(surges, s)
		}
		measured := benchkit.MeasuredCount(s.msgs)
		t.Row(s.name, measured, s.deliveries, s.perSecond(), s.lat.Pct(50), s.lat.Pct(90), s.lat.Pct(99), s.lat.Max(), s.missed, s.dups, s.order, s.cpu.Short("server", "bench"))
		sp := s.split
		benchkit.SplitRow(t, "  the POST itself (sent -> 202 read)", measured, sp.Post)
		benchkit.SplitRow(t, "  per message: 202 -> its first stream", measured, sp.First)
		benchkit.SplitRow(t, "  per message: first -> last stream", measured, sp.Spread)
		if s.tap != nil {
			benchkit.SplitRow(t, "  per message: 202 -> Kafka (tap; < 0: Kafka first)", measured-sp.TapMissing, sp.ToKafka)
			benchkit.SplitRow(t, "    of which 202 -> handled (postedAt, ms)", measured-sp.TapMissing, sp.ToStamp)
			benchkit.SplitRow(t, "    of which handled -> Kafka (store, outbox, forwarder)", measured-sp.TapMissing, sp.FromStamp)
			benchkit.SplitRow(t, "  per message: Kafka (tap) -> first stream", sp.FromKafka.Len(), sp.FromKafka)
		}
		n := float64(max(1, s.connected))
		m.Row(s.name, s.connected, s.connectTook.Round(time.Millisecond), mib(s.rss0), mib(s.rss1), kib(float64(s.rss1-s.rss0)/n),
			kib((s.idle1.HeapInuse-s.idle0.HeapInuse)/n), kib((s.idle1.StackInuse-s.idle0.StackInuse)/n),
			strconv.FormatFloat((s.idle1.Goroutines-s.idle0.Goroutines)/n, 'f', 2, 64), kib(float64(s.client1-s.client0)/n))
		t.Note("%s: %d deliveries due (streams x measured messages), %d received, %.1f%%; all in within the %s drain: %v; %d (%.1f%%) more than 1 s after their 202",
			s.short, s.expected, s.deliveries, 100*float64(s.deliveries)/float64(max(1, s.expected)), k.drain, s.drained, s.late, 100*float64(s.late)/float64(max(1, s.deliveries)))
		var firstReq, lastAt time.Duration = -1, 0
		for _, msg := range s.msgs {
			if msg.OK && msg.Measured {
				if firstReq < 0 || msg.Req < firstReq {
					firstReq = msg.Req
				}
				lastAt = max(lastAt, msg.At)
			}
		}
		if firstReq >= 0 && lastAt > firstReq {
			t.Note("%s: the %d measured messages were sent in %s: %.1f/s (planned %d/s)", s.short, measured, (lastAt - firstReq).Round(time.Millisecond),
				float64(measured)/(lastAt-firstReq).Seconds(), k.rate)
		}
		t.Note("%s: pacer fell behind by at most %s; this process's wake-up delay p50 %s, p99 %s, max %s (5 ms naps while sending)",
			s.short, s.lag.Round(time.Millisecond), s.sched.Pct(50).Round(10*time.Microsecond), s.sched.Pct(99).Round(10*time.Microsecond), s.sched.Max().Round(10*time.Microsecond))
		t.Note("%s: server GC cycles while sending: %.0f; server goroutines %.0f; dropped as too slow: %.0f; stream reconnects %d, \"fell behind\" notices %d, reopenings refused (non-200: EventSource gives up) %d",
			s.short, s.after.GCs-s.before.GCs, s.after.Goroutines, s.after.Dropped, s.reconnects, s.behind, s.refused)
		if s.sendFailed > 0 {
			t.Note("%s: %d posts failed, first: %s", s.short, s.sendFailed, s.firstSendErr)
			b.Errorf("%s: %d posts failed, first: %s", s.short, s.sendFailed, s.firstSendErr)
		}
		if s.early > 0 {
			t.Note("%s: %d deliveries arrived before their 202 was read (counted as 0 ms)", s.short, s.early)
		}
		if s.unknown+s.foreign+s.wrong+s.unplaced+s.clientErrs > 0 {
			t.Note("%s: %d events at positions out of range, %d at positions of no message sent, %d with another messageId than other streams saw at the position; %d messages no stream received; %d streams ended with an error, first: %s",
				s.short, s.unknown, s.foreign, s.wrong, s.unplaced, s.clientErrs, s.firstClientErr)
		}
		if s.cpu.Noisy() {
			t.Note("%s", s.cpu.Warning(s.short))
		}
		t.Note("%s: the server's RLIMIT_NOFILE %d (this process's %d)", s.short, s.noFile, limit)
		p := s.short
		b.ReportMetric(benchkit.Ms(s.lat.Pct(50)), p+"-p50-ms")
		b.ReportMetric(benchkit.Ms(s.lat.Pct(99)), p+"-p99-ms")
		b.ReportMetric(float64(s.missed), p+"-missed")
		b.ReportMetric(s.cpu.Server, p+"-server-cores")
	}
	t.Note("latency: from the 202 read by the sender to the event read by each stream, measured messages only; missed/dup/out of order also cover the warm-up")
	t.Note("CPU column: cores busy while sending, of %d: server = the Surge or baseline process, bench = this process (streams, senders), pg = PostgreSQL, irq = softirqs (loopback)", runtime.NumCPU())
	m.Note("RSS from /proc/<pid>/status; Go heap (heap in use) and stacks from go_memstats_* of /metrics (the baseline: its /stats), without a forced GC")
	if base != nil && base.lost() > 0 {
		t.Note("baseline: %d missed, %d duplicated, %d out of order: the client or the machine cannot keep up at this size", base.missed, base.dups, base.order)
	}
	for _, surge := range surges {
		ok := surge.lost() == 0 && surge.unplaced == 0 && surge.drained && surge.sendFailed == 0
		if base != nil && base.lat.Pct(99) > 0 {
			t.Note("%s/baseline: 202 -> stream p50 %.1fx, p99 %.1fx", surge.short, float64(surge.lat.Pct(50))/float64(max(1, base.lat.Pct(50))),
				float64(surge.lat.Pct(99))/float64(base.lat.Pct(99)))
		}
		t.Note("target (%s): every stream receives every message once, in order -> %d missed, %d duplicates, %d out of order, %d foreign: %s",
			surge.short, surge.missed, surge.dups, surge.order, surge.unknown+surge.foreign+surge.wrong, benchkit.Verdict(ok))
		if !ok {
			b.Errorf("%s: %d deliveries missed, %d duplicated, %d out of order, %d foreign or wrong (%d messages no stream received; drained: %v)",
				surge.short, surge.missed, surge.dups, surge.order, surge.unknown+surge.foreign+surge.wrong, surge.unplaced, surge.drained)
		}
	}
	t.Print()
	m.Print()
}
