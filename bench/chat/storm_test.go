package chatbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/testenv"
)

// stormKnobs are BenchmarkChatStorm's settings (BENCH_CHAT_STORM_*).
type stormKnobs struct {
	clients, fetches, neighbours, messages int
	sustainedMax                           int
	every, quiet, maxDur, timeout          time.Duration
	sustained, think, rampUp               time.Duration
	sides                                  []string
	shapes                                 []stormShape
	settings                               []string // extra Surge settings, "K", "V", ...
}

// stormShape is one storm: clients fetching room fetches times each, or
// until dur has passed since the storm began (0: no time limit but the
// cap). Client c starts c/clients of the ramp-up after the storm began; with
// a think time, its fetch k is sent think*k after it started (or at once if
// the client is late), else back to back.
type stormShape struct {
	name, room         string
	fetches            int
	dur, think, rampUp time.Duration
}

// The room next door.
const nextDoor = "next-door"

// fetchKind is how a fetch was answered.
type fetchKind uint8

const (
	fetchOK        fetchKind = iota // 200 with a page
	fetchThrottled                  // 429 room_hot with Retry-After >= 1 and a Link to the stream
	fetchBad429                     // 429 without all of that
	fetch5xx                        // any 5xx
	fetchOther                      // another status, or a 200 that is not a page
	fetchTimeout                    // the client's timeout or the storm's cap
	fetchTransport                  // any other transport error
	fetchKinds
)

var fetchKindNames = [fetchKinds]string{"200", "429", "malformed 429", "5xx", "other status", "timeout", "transport error"}

// fetch is one fetch: when it was sent and answered (since the side's
// epoch), how, and whether the page said the room was hot.
type fetch struct {
	sent, done time.Duration
	kind       fetchKind
	hot        bool
	detail     string // for anything but 200 and a well-formed 429
}

func (f fetch) latency() time.Duration { return f.done - f.sent }

// stormSide is what one endpoint did under the storm.
type stormSide struct {
	name, short     string
	shape           stormShape
	throttled       bool // Surge with SURGE_HOT_FETCH_RATE > 0
	surge           bool
	storm           []fetch // every storm fetch (client*fetches + k); unsent ones are zero
	quiet, around   []fetch // the room next door: before the storm; from before to after it
	during          []fetch // of around, those sent while the storm ran
	stormStart      time.Duration
	stormEnd        time.Duration
	timedOut        bool
	cpu             benchkit.CPUUsage
	hotEvent        time.Duration // the observer stream's hot event (since the epoch; 0: none)
	hotEventRate    float64
	room            roomView // GET /v1/rooms/{the storm's room} after the storm
	hotListed       bool     // in GET /v1/rooms?hot=true
	nextDoorHot     bool
	firstHot        time.Duration // the first 200 answered with "hot":true (done; 0: none)
	first429        time.Duration
	afterHot        int // storm fetches sent after the first hot answer or 429
	epoch           time.Time
	counts, ncounts [fetchKinds]int
	examples        map[fetchKind]string
	lat, ok, thr    benchkit.Dist // every answered storm fetch; the 200s; the 429s
	nlat, quietLat  benchkit.Dist // the room next door during the storm; before it
	retryAfter      map[int]int
}

type roomView struct {
	ID               string  `json:"id"`
	Hot              bool    `json:"hot"`
	HotSince         string  `json:"hotSince"`
	FetchesPerSecond float64 `json:"fetchesPerSecond"`
}

// BenchmarkChatStorm is the seed's storm against one Surge instance: 700
// clients (an X-Client-ID each) fetching one room back to back
// (GET /v1/rooms/{id}/messages?after=0&limit=100, a page of 10 messages; a
// 429 is counted and the client fetches again at once, as the seed's
// JMeter plan does), while 10 other clients fetch the room next door once
// per 100 ms each (100 fetches/s, half the threshold: it never turns hot).
// Two storms, one after the other, each on a room of its own:
//
//   - seed: the seed's "threads 700, 1, loop 10": the clients started
//     evenly over a ramp-up of 1 s, 10 fetches each (7,000), one every
//     200 ms (JMeter's threads with a think time, as e2e/chat_storm_test.go:
//     about 3 s; back to back, this machine answers all 7,000 in about a
//     second, before a detector that looks once a second has made the room
//     hot);
//   - sustained: back to back for 8 s, so that the room is hot for most of
//     the storm whatever the machine's speed.
//
// Each storm runs against, in the same run:
//
//   - Surge with the default hot settings (throttling on: a hot room's
//     clients get 1 fetch/s, burst 2; beyond it 429 room_hot),
//   - Surge with SURGE_HOT_FETCH_RATE=0 (throttling off: the room still
//     turns hot, nothing is throttled),
//   - the baseline: a bare gin endpoint in this process doing one Redis GET
//     of one key (a page of the same size) per fetch, under the same load.
//
// Each Surge side is a fresh instance (its own database, Redis prefix and
// Kafka broker), wired by internal/app as `surge serve` wires it and served
// on 127.0.0.1 in this process, like the baseline: the client shares the
// two cores with the server on every side alike. It reports fetch p50/p90/
// p99/max, the answers by kind (2xx, 429, 5xx, timeouts), the room next
// door's p50/p99 during the storm beside its p99 before the storms, the
// ratios to the baseline, and when the room turned hot: the hot event on a
// stream of the room, the room's hotSince, the first answer saying hot, the
// first 429, and GET /v1/rooms/{id} and the hot list afterwards.
//
// What must hold (b.Errorf otherwise): every fetch answered (the seed
// storm: all 7,000), no 5xx, timeout or transport error; the room turns hot
// in every Surge storm; throttling on, sustained storm: 429s, each well
// formed; throttling off: no 429; the room next door always 200, never
// hot; the baseline always 200.
//
// Knobs: BENCH_CHAT_STORM_CLIENTS (700), BENCH_CHAT_STORM_FETCHES (10, the
// seed storm's per client), BENCH_CHAT_STORM_THINK (200ms, the seed storm's;
// 0: back to back), BENCH_CHAT_STORM_RAMPUP (1s, the seed storm's; 0: every
// client at once), BENCH_CHAT_SUSTAINED (8s) and
// BENCH_CHAT_SUSTAINED_MAX (2000 fetches per client, a cap),
// BENCH_CHAT_NEIGHBOURS (10), BENCH_CHAT_NEIGHBOUR_EVERY (100ms),
// BENCH_CHAT_QUIET (5s: the room next door measured alone first),
// BENCH_CHAT_MESSAGES (10 in each room; a fetch reads them all),
// BENCH_CHAT_STORM_TIMEOUT (10s per fetch), BENCH_CHAT_STORM_MAX (60s: cap
// of a storm), BENCH_CHAT_STORM_SIDES ("baseline,on,off"),
// BENCH_CHAT_STORM_SHAPES ("seed,sustained"), BENCH_CHAT_STORM_SETTINGS
// (extra settings of both Surge sides, "K=V,K=V": e.g.
// SURGE_CHAT_ROOM_CONCURRENCY=0 to measure without the room bulkhead).
func BenchmarkChatStorm(b *testing.B) {
	k := stormKnobs{
		clients:      benchkit.EnvInt(b, "BENCH_CHAT_STORM_CLIENTS", 700),
		fetches:      benchkit.EnvInt(b, "BENCH_CHAT_STORM_FETCHES", 10),
		sustained:    benchkit.EnvDuration(b, "BENCH_CHAT_SUSTAINED", 8*time.Second),
		sustainedMax: benchkit.EnvInt(b, "BENCH_CHAT_SUSTAINED_MAX", 2000),
		think:        benchkit.EnvDurationOrZero(b, "BENCH_CHAT_STORM_THINK", 200*time.Millisecond),
		rampUp:       benchkit.EnvDurationOrZero(b, "BENCH_CHAT_STORM_RAMPUP", time.Second),
		neighbours:   benchkit.EnvInt(b, "BENCH_CHAT_NEIGHBOURS", 10),
		messages:     benchkit.EnvInt(b, "BENCH_CHAT_MESSAGES", 10),
		every:        benchkit.EnvDuration(b, "BENCH_CHAT_NEIGHBOUR_EVERY", 100*time.Millisecond),
		quiet:        benchkit.EnvDuration(b, "BENCH_CHAT_QUIET", 5*time.Second),
		timeout:      benchkit.EnvDuration(b, "BENCH_CHAT_STORM_TIMEOUT", 10*time.Second),
		maxDur:       benchkit.EnvDuration(b, "BENCH_CHAT_STORM_MAX", 60*time.Second),
	}
	for _, s := range strings.Split(envOr("BENCH_CHAT_STORM_SIDES", "baseline,on,off"), ",") {
		if s = strings.TrimSpace(s); s == "baseline" || s == "on" || s == "off" {
			k.sides = append(k.sides, s)
		} else if s != "" {
			b.Fatalf("BENCH_CHAT_STORM_SIDES: unknown side %q (want baseline, on, off)", s)
		}
	}
	for _, s := range strings.Split(envOr("BENCH_CHAT_STORM_SHAPES", "seed,sustained"), ",") {
		switch s = strings.TrimSpace(s); s {
		case "seed":
			k.shapes = append(k.shapes, stormShape{name: "seed", room: "storm", fetches: k.fetches, think: k.think, rampUp: k.rampUp})
		case "sustained":
			k.shapes = append(k.shapes, stormShape{name: "sustained", room: "storm-sustained", fetches: k.sustainedMax, dur: k.sustained})
		case "":
		default:
			b.Fatalf("BENCH_CHAT_STORM_SHAPES: unknown shape %q (want seed, sustained)", s)
		}
	}
	for _, kv := range strings.Split(os.Getenv("BENCH_CHAT_STORM_SETTINGS"), ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		key, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(key, "SURGE_") {
			b.Fatalf("BENCH_CHAT_STORM_SETTINGS: %q is not SURGE_...=value", kv)
		}
		k.settings = append(k.settings, key, v)
	}
	limit, err := raiseNoFile(2*(k.clients+k.neighbours) + 1024)
	benchkit.Must(b, err, "RLIMIT_NOFILE")
	if limit < 2*(k.clients+k.neighbours)+256 {
		b.Fatalf("%d storm clients need both ends of their connections in this process: the file limit %d is too low", k.clients, limit)
	}
	gin.SetMode(gin.ReleaseMode)

	b.ResetTimer()
	var sides []*stormSide
	for _, name := range k.sides {
		switch name {
		case "baseline":
			sides = append(sides, runBaselineStorm(b, k)...)
		case "on":
			sides = append(sides, runSurgeStorm(b, k, true)...)
		case "off":
			sides = append(sides, runSurgeStorm(b, k, false)...)
		}
	}
	b.StopTimer()
	reportStorm(b, k, sides)
}

// inProcess is a Surge instance served in this process.
type inProcess struct {
	URL  string
	stop func()
}

// startInProcess runs every role on fresh backends (testenv.Config) with
// the flow settings kv ("K", "V", ...), until stop or the benchmark's end.
func startInProcess(b *testing.B, kv ...string) *inProcess {
	b.Helper()
	cfg := testenv.Config(b)
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Set(kv[i], kv[i+1])
	}
	// Errors only, and none once stopping: closing the forwarders cancels
	// their queries in flight, which watermill-sql logs as errors that mean
	// nothing here.
	logger, quiet := benchkit.QuietLogger(slog.LevelError)
	a, stopApp := benchkit.StartApp(b, cfg, app.AllRoles, logger)
	stop := sync.OnceFunc(func() {
		quiet.Store(true)
		if !stopApp(30 * time.Second) {
			b.Logf("surge did not stop within 30s")
		}
	})
	b.Cleanup(stop)
	return &inProcess{URL: "http://" + a.Addr(), stop: stop}
}

// rooms are the rooms the storms fetch, and the room next door.
func (k stormKnobs) rooms() []string {
	out := []string{nextDoor}
	for _, sh := range k.shapes {
		out = append(out, sh.room)
	}
	return out
}

func runSurgeStorm(b *testing.B, k stormKnobs, throttled bool) []*stormSide {
	b.Helper()
	name, short := "Surge, throttling on (1/s, burst 2)", "on"
	kv := k.settings
	if !throttled {
		name, short = "Surge, throttling off (SURGE_HOT_FETCH_RATE=0)", "off"
		kv = append([]string{"SURGE_HOT_FETCH_RATE", "0"}, kv...)
	}
	srv := startInProcess(b, kv...)
	defer srv.stop()
	setup := &http.Client{Timeout: 30 * time.Second}
	defer setup.CloseIdleConnections()
	for _, room := range k.rooms() {
		createRoom(b, setup, srv.URL, room, room)
		for i := range k.messages {
			if _, err := postMessage(setup, srv.URL, room, i); err != nil {
				b.Fatalf("%s: post to %s: %v", name, room, err)
			}
		}
		waitMessages(b, setup, srv.URL, room, k.messages)
	}
	epoch := time.Now()
	nclient := neighbourClient(k)
	defer nclient.CloseIdleConnections()
	quiet := measureQuiet(nclient, srv.URL, k, epoch)
	var out []*stormSide
	for i, sh := range k.shapes {
		if i > 0 {
			time.Sleep(2 * time.Second) // the last storm's heat settles
		}
		s := &stormSide{name: name + ", " + sh.name + " storm", short: short + "-" + sh.name, shape: sh, throttled: throttled, surge: true, epoch: epoch, quiet: quiet}
		// A stream of the storm's room notes when its hot event arrives.
		var hotAt atomic.Int64
		var hotRate atomic.Uint64
		obs := newFleet(srv.URL, sh.room, epoch, int64(k.messages), 1000, 3)
		obs.onEvent = func(kind string, _ int64, at time.Duration, data []byte) {
			if kind == chat.EventHot && hotAt.CompareAndSwap(0, int64(at)) {
				var v struct{ Rate float64 }
				if json.Unmarshal(data, &v) == nil {
					hotRate.Store(uint64(v.Rate * 1000))
				}
			}
		}
		if failed, err := obs.connect(1, 1, 30*time.Second); failed > 0 || err != nil {
			b.Fatalf("%s: the storm room's stream: %v", s.name, err)
		}
		runStorm(s, srv.URL, k, nclient)
		// The hot event may still be on its way.
		for deadline := time.Now().Add(10 * time.Second); hotAt.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		obs.close() //nolint:errcheck
		s.hotEvent, s.hotEventRate = time.Duration(hotAt.Load()), float64(hotRate.Load())/1000
		var err error
		s.room, err = getRoom(setup, srv.URL, sh.room)
		benchkit.Must(b, err, s.name+": GET the storm's room")
		nd, err := getRoom(setup, srv.URL, nextDoor)
		benchkit.Must(b, err, s.name+": GET the room next door")
		s.nextDoorHot = nd.Hot
		s.hotListed, err = hotListed(setup, srv.URL, sh.room)
		benchkit.Must(b, err, s.name+": GET the hot list")
		out = append(out, s)
	}
	return out
}

// runBaselineStorm serves the bare endpoint: GET /v1/rooms/:roomId/messages
// answers the bytes of one Redis key, a page like Surge's (the same
// messages' sizes), with the gin settings of api.NewHandler (release mode,
// gin.New) and the Redis client settings of redis.Connect.
func runBaselineStorm(b *testing.B, k stormKnobs) []*stormSide {
	b.Helper()
	ctx := context.Background()
	rdb, err := redis.Connect(ctx, testenv.RedisURL(), 500*time.Millisecond)
	benchkit.Must(b, err, "redis")
	defer rdb.Close()
	prefix := testenv.RedisPrefix(b)
	for _, room := range k.rooms() {
		benchkit.Must(b, rdb.Set(ctx, prefix+"page:"+room, pageBody(k.messages), time.Hour).Err(), "set the page")
	}
	r := gin.New()
	r.GET("/v1/rooms/:roomId/messages", func(c *gin.Context) {
		body, err := rdb.Get(c.Request.Context(), prefix+"page:"+c.Param("roomId")).Bytes()
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Must(b, err, "listen")
	// The app's server settings (api.NewServer with config's defaults).
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on shutdown
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	}()
	base := "http://" + ln.Addr().String()
	epoch := time.Now()
	nclient := neighbourClient(k)
	defer nclient.CloseIdleConnections()
	quiet := measureQuiet(nclient, base, k, epoch)
	var out []*stormSide
	for i, sh := range k.shapes {
		if i > 0 {
			time.Sleep(2 * time.Second) // as for Surge
		}
		s := &stormSide{name: "bare gin + one Redis GET (baseline), " + sh.name + " storm", short: "baseline-" + sh.name, shape: sh, epoch: epoch, quiet: quiet}
		runStorm(s, base, k, nclient)
		out = append(out, s)
	}
	return out
}

// pageBody is a page of n messages as Surge writes it (gin.H, keys in
// order: hot, messages, position).
func pageBody(n int) []byte {
	at := time.Now().UTC().Truncate(time.Millisecond)
	msgs := make([]chat.MessageView, n)
	for i := range msgs {
		msgs[i] = chat.MessageView{MessageID: uuid.NewString(), UserID: "user-" + strconv.Itoa(i%64), Text: messageText(i),
			Reactions: map[string]int{}, Position: int64(i + 1), At: at}
	}
	body, _ := json.Marshal(gin.H{"messages": msgs, "position": n, "hot": false})
	return body
}

// neighbourClient is the room next door's: connections of its own (as its
// own users would have), never queued behind the storm's.
func neighbourClient(k stormKnobs) *http.Client {
	return &http.Client{Timeout: k.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * k.neighbours, DisableCompression: true}}
}

// measureQuiet fetches the room next door alone for k.quiet.
func measureQuiet(client *http.Client, base string, k stormKnobs, epoch time.Time) []fetch {
	quiet := startNeighbours(client, base, k, epoch, "quiet")
	time.Sleep(k.quiet)
	return quiet.end()
}

// runStorm runs one storm with the room next door fetched meanwhile.
func runStorm(s *stormSide, base string, k stormKnobs, nclient *http.Client) {
	sclient := &http.Client{Timeout: k.timeout, Transport: &http.Transport{MaxIdleConns: 2 * k.clients, MaxIdleConnsPerHost: 2 * k.clients, DisableCompression: true}}
	defer sclient.CloseIdleConnections()
	perClient := make([][]fetch, k.clients)
	ctx, cancel := context.WithTimeout(context.Background(), k.maxDur)
	defer cancel()
	during := startNeighbours(nclient, base, k, s.epoch, s.short)
	time.Sleep(2 * k.every) // the room next door is being fetched when the storm starts
	cpu0 := benchkit.SampleCPU()
	release := make(chan struct{})
	var wg sync.WaitGroup
	var began time.Time
	for c := range k.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("storm-client-%03d", c)
			mine := make([]fetch, 0, min(s.shape.fetches, 64))
			<-release
			// JMeter starts the threads of a ramp-up evenly over it.
			first := began.Add(time.Duration(c) * s.shape.rampUp / time.Duration(k.clients))
			for i := 0; i < s.shape.fetches && ctx.Err() == nil; i++ {
				if s.shape.dur > 0 && time.Since(began) >= s.shape.dur {
					break
				}
				time.Sleep(time.Until(first.Add(time.Duration(i) * s.shape.think)))
				mine = append(mine, doFetch(ctx, sclient, base, s.shape.room, id, s.epoch))
			}
			perClient[c] = mine
		}()
	}
	began = time.Now()
	close(release)
	wg.Wait()
	s.timedOut = ctx.Err() != nil
	s.cpu = benchkit.CPUBetween(cpu0, benchkit.SampleCPU())
	time.Sleep(2 * k.every) // and still after it ends
	s.around = during.end()
	for _, mine := range perClient {
		s.storm = append(s.storm, mine...)
	}
	s.analyze()
}

// neighbours fetch the room next door, each once every k.every (paced to a
// schedule: a late fetch is sent at once, not skipped), until end.
type neighbours struct {
	mu      sync.Mutex
	samples []fetch
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startNeighbours(client *http.Client, base string, k stormKnobs, epoch time.Time, tag string) *neighbours {
	n := &neighbours{stop: make(chan struct{})}
	start := time.Now()
	for c := range k.neighbours {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			id := fmt.Sprintf("neighbour-%s-%02d", tag, c)
			next := start.Add(time.Duration(c) * k.every / time.Duration(k.neighbours)) // spread over the period
			for {
				select {
				case <-n.stop:
					return
				case <-time.After(time.Until(next)):
				}
				f := doFetch(context.Background(), client, base, nextDoor, id, epoch)
				n.mu.Lock()
				n.samples = append(n.samples, f)
				n.mu.Unlock()
				next = next.Add(k.every)
			}
		}()
	}
	return n
}

func (n *neighbours) end() []fetch {
	close(n.stop)
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.samples
}

var (
	pageHot   = []byte(`{"hot":true,`)
	pageCold  = []byte(`{"hot":false,`)
	pageMsgs  = []byte(`"messages":[`)
	roomHotID = []byte(`"room_hot"`)
)

// doFetch GETs a page of the room's messages as clientID and classifies
// the answer.
func doFetch(ctx context.Context, client *http.Client, base, room, clientID string, epoch time.Time) fetch {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/rooms/"+room+"/messages?after=0&limit=100", nil)
	req.Header.Set("X-Client-ID", clientID)
	f := fetch{sent: time.Since(epoch)}
	res, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	f.done = time.Since(epoch)
	if err != nil {
		var ne net.Error
		f.kind, f.detail = fetchTransport, err.Error()
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			f.kind = fetchTimeout
		}
		return f
	}
	switch {
	case res.StatusCode == http.StatusOK:
		switch {
		case !bytes.Contains(body, pageMsgs):
			f.kind, f.detail = fetchOther, "200 "+string(body)
		case bytes.HasPrefix(body, pageHot):
			f.hot = true
		case !bytes.HasPrefix(body, pageCold):
			f.kind, f.detail = fetchOther, "200 "+string(body)
		}
	case res.StatusCode == http.StatusTooManyRequests:
		f.kind = fetchThrottled
		ra, raErr := strconv.Atoi(res.Header.Get("Retry-After"))
		switch {
		case raErr != nil || ra < 1:
			f.kind, f.detail = fetchBad429, fmt.Sprintf("Retry-After %q", res.Header.Get("Retry-After"))
		case !strings.Contains(res.Header.Get("Link"), "</v1/rooms/"+room+"/stream>"):
			f.kind, f.detail = fetchBad429, fmt.Sprintf("Link %q", res.Header.Get("Link"))
		case !bytes.Contains(body, roomHotID):
			f.kind, f.detail = fetchBad429, "body "+string(body)
		default:
			f.detail = strconv.Itoa(ra) // the Retry-After, tallied
		}
	case res.StatusCode >= 500:
		f.kind, f.detail = fetch5xx, fmt.Sprintf("%d %s", res.StatusCode, body)
	default:
		f.kind, f.detail = fetchOther, fmt.Sprintf("%d %s", res.StatusCode, body)
	}
	return f
}

func (s *stormSide) analyze() {
	s.examples = map[fetchKind]string{}
	s.retryAfter = map[int]int{}
	s.stormStart, s.stormEnd = -1, 0
	var all, ok, thr []time.Duration
	for _, f := range s.storm {
		if f.sent == 0 && f.done == 0 {
			continue // never sent: the cap
		}
		s.counts[f.kind]++
		if s.stormStart < 0 || f.sent < s.stormStart {
			s.stormStart = f.sent
		}
		s.stormEnd = max(s.stormEnd, f.done)
		switch f.kind {
		case fetchOK:
			all, ok = append(all, f.latency()), append(ok, f.latency())
			if f.hot && (s.firstHot == 0 || f.done < s.firstHot) {
				s.firstHot = f.done
			}
		case fetchThrottled:
			all, thr = append(all, f.latency()), append(thr, f.latency())
			if s.first429 == 0 || f.done < s.first429 {
				s.first429 = f.done
			}
			n, _ := strconv.Atoi(f.detail)
			s.retryAfter[n]++
		default:
			if _, seen := s.examples[f.kind]; !seen {
				d := f.detail
				if len(d) > 200 {
					d = d[:200] + "..."
				}
				s.examples[f.kind] = d
			}
		}
	}
	if s.stormStart < 0 {
		s.stormStart = 0
	}
	hot := s.firstHot
	if s.first429 != 0 && (hot == 0 || s.first429 < hot) {
		hot = s.first429
	}
	if hot != 0 {
		for _, f := range s.storm {
			if f.done != 0 && f.sent >= hot {
				s.afterHot++
			}
		}
	}
	s.lat, s.ok, s.thr = benchkit.NewDist(all), benchkit.NewDist(ok), benchkit.NewDist(thr)
	var quiet, during []time.Duration
	for _, f := range s.quiet {
		if f.kind == fetchOK {
			quiet = append(quiet, f.latency())
		}
	}
	for _, f := range s.around {
		s.ncounts[f.kind]++
		if f.sent >= s.stormStart && f.sent <= s.stormEnd {
			s.during = append(s.during, f)
			during = append(during, f.latency())
		}
	}
	s.quietLat, s.nlat = benchkit.NewDist(quiet), benchkit.NewDist(during)
}

func (s *stormSide) answered() int {
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

func (s *stormSide) took() time.Duration { return s.stormEnd - s.stormStart }

func (s *stormSide) failures() int {
	return s.counts[fetch5xx] + s.counts[fetchTimeout] + s.counts[fetchTransport] + s.counts[fetchOther] + s.counts[fetchBad429]
}

// waitMessages waits until a fetch of the room (a client id of its own)
// shows n messages.
func waitMessages(b *testing.B, client *http.Client, base, room string, n int) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/rooms/"+room+"/messages?after=0&limit=100", nil)
		req.Header.Set("X-Client-ID", "setup-"+room)
		res, err := client.Do(req)
		var last string
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var p struct{ Messages []json.RawMessage }
			if res.StatusCode == http.StatusOK && json.Unmarshal(body, &p) == nil && len(p.Messages) == n {
				return
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d messages not there after 30s; last answer %s", room, n, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getRoom(client *http.Client, base, room string) (roomView, error) {
	var v roomView
	res, err := client.Get(base + "/v1/rooms/" + room)
	if err != nil {
		return v, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%d %s", res.StatusCode, body)
	}
	return v, json.Unmarshal(body, &v)
}

func hotListed(client *http.Client, base, room string) (bool, error) {
	res, err := client.Get(base + "/v1/rooms?hot=true")
	if err != nil {
		return false, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var v struct{ Rooms []roomView }
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return false, fmt.Errorf("%d %s", res.StatusCode, body)
	}
	for _, r := range v.Rooms {
		if r.ID == room {
			return true, nil
		}
	}
	return false, nil
}

func reportStorm(b *testing.B, k stormKnobs, sides []*stormSide) {
	t := &benchkit.Table{
		Title: fmt.Sprintf("Chat storm (%d clients fetching one room: seed = started over %s, %d fetches each, one per %s; sustained = back to back for %s; %d clients each fetching the room next door every %s; client and server in this process, GOMAXPROCS=%d%s)",
			k.clients, k.rampUp, k.fetches, k.think, k.sustained, k.neighbours, k.every, runtime.GOMAXPROCS(0), settingsNote(k.settings)),
		Head: []string{"endpoint", "fetches", "took", "fetches/s", "p50", "p90", "p99", "max", "2xx", "429", "5xx", "timeout/err", "next door p50", "next door p99", "next door quiet p99", "p50/base", "p99/base", "next door p99/base"},
	}
	h := &benchkit.Table{
		Title: "Chat storm: by answer, and when the room turned hot (times from the storm's first request)",
		Head:  []string{"endpoint", "200 p50", "200 p99", "429 p50", "429 p99", "hot event", "hotSince", "first hot:true", "first 429", "sent after hot", "GET room: hot", "fetches/s", "hot list"},
	}
	bases := map[string]*stormSide{} // by shape
	for _, s := range sides {
		if !s.surge {
			bases[s.shape.name] = s
		}
	}
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64) + "x"
	}
	since := func(s *stormSide, at time.Duration) string {
		if at == 0 {
			return "never"
		}
		return (at - s.stormStart).Round(time.Millisecond).String()
	}
	b.ReportMetric(0, "ns/op")
	for _, s := range sides {
		base := bases[s.shape.name]
		r50, r99, rn := "", "", ""
		if base != nil && s != base {
			r50, r99, rn = ratio(s.lat.Pct(50), base.lat.Pct(50)), ratio(s.lat.Pct(99), base.lat.Pct(99)), ratio(s.nlat.Pct(99), base.nlat.Pct(99))
		}
		n := s.answered()
		t.Row(s.name, n, s.took().Round(time.Millisecond), float64(n)/max(1e-9, s.took().Seconds()), s.lat.Pct(50), s.lat.Pct(90), s.lat.Pct(99), s.lat.Max(),
			s.counts[fetchOK], s.counts[fetchThrottled], s.counts[fetch5xx], s.counts[fetchTimeout]+s.counts[fetchTransport]+s.counts[fetchOther]+s.counts[fetchBad429],
			s.nlat.Pct(50), s.nlat.Pct(99), s.quietLat.Pct(99), r50, r99, rn)
		if s.surge {
			hotSince := "-"
			if at, err := time.Parse(time.RFC3339Nano, s.room.HotSince); err == nil {
				hotSince = (at.Sub(s.epoch) - s.stormStart).Round(time.Millisecond).String()
			}
			h.Row(s.name, s.ok.Pct(50), s.ok.Pct(99), s.thr.Pct(50), s.thr.Pct(99), since(s, s.hotEvent), hotSince, since(s, s.firstHot), since(s, s.first429),
				fmt.Sprintf("%d (%.0f%%)", s.afterHot, 100*float64(s.afterHot)/float64(max(1, n))), s.room.Hot, s.room.FetchesPerSecond, s.hotListed)
		}
		t.Note("%s: CPU during the storm %s; next door: %d fetches during the storm (%d in all around it: %v), %d before it", s.short, s.cpu.Short("", "bench"),
			len(s.during), len(s.around), tally(s.ncounts), len(s.quiet))
		if len(s.retryAfter) > 0 {
			t.Note("%s: Retry-After values of the 429s: %v", s.short, s.retryAfter)
		}
		if s.hotEvent != 0 {
			t.Note("%s: the hot event said rate %.1f fetches/s", s.short, s.hotEventRate)
		}
		for kind, ex := range s.examples {
			t.Note("%s: e.g. %s: %s", s.short, fetchKindNames[kind], ex)
		}
		if s.cpu.Noisy() {
			t.Note("WARNING: other processes took %.2f cores during %q (%s): its figures are disturbed", s.cpu.Other+s.cpu.Steal, s.short, s.cpu.Busiest)
		}
		p := s.short
		b.ReportMetric(benchkit.Ms(s.lat.Pct(50)), p+"-p50-ms")
		b.ReportMetric(benchkit.Ms(s.lat.Pct(99)), p+"-p99-ms")
		b.ReportMetric(benchkit.Ms(s.nlat.Pct(99)), p+"-nextdoor-p99-ms")
		b.ReportMetric(float64(s.counts[fetchThrottled]), p+"-429s")
		b.ReportMetric(float64(s.counts[fetch5xx]), p+"-5xx")

		// What must hold.
		want := k.clients * s.shape.fetches
		if s.shape.dur > 0 {
			want = n // as many as the time allowed
		}
		if n != want || n == 0 || s.timedOut {
			b.Errorf("%s: %d of %d storm fetches answered (stopped at the %s cap: %v)", s.short, n, k.clients*s.shape.fetches, k.maxDur, s.timedOut)
		}
		if f := s.failures(); f > 0 {
			b.Errorf("%s: %d storm fetches failed: %v", s.short, f, tally(s.counts))
		}
		if s.ncounts[fetchOK] != len(s.around) || len(s.quiet) == 0 || len(s.during) == 0 {
			b.Errorf("%s: the room next door was not always answered 200: %v (quiet %d, during %d)", s.short, tally(s.ncounts), len(s.quiet), len(s.during))
		}
		switch {
		case !s.surge:
			if s.counts[fetchOK] != n {
				b.Errorf("%s: %d of %d fetches 200", s.short, s.counts[fetchOK], n)
			}
		default:
			if s.hotEvent == 0 || !s.room.Hot || !s.hotListed {
				b.Errorf("%s: the room did not turn hot (hot event %v, GET room hot %v, hot list %v)", s.short, s.hotEvent != 0, s.room.Hot, s.hotListed)
			}
			if s.nextDoorHot {
				b.Errorf("%s: the room next door turned hot", s.short)
			}
			if s.throttled && s.shape.dur > 0 && s.counts[fetchThrottled] == 0 {
				b.Errorf("%s: no fetch of the sustained storm was throttled", s.short)
			}
			if !s.throttled && s.counts[fetchThrottled]+s.counts[fetchBad429] > 0 {
				b.Errorf("%s: %d fetches throttled with throttling off", s.short, s.counts[fetchThrottled]+s.counts[fetchBad429])
			}
		}
	}
	t.Note("latency: sent -> body read, every answered storm fetch (200 and 429); next door: its fetches sent while the storm ran; quiet: the %s before the storms", k.quiet)
	t.Note("ratios: to the baseline's figure in the same storm (p50/base: fetch p50 / baseline fetch p50, and so on)")
	t.Note("Surge: the flow's defaults but SURGE_HOT_FETCH_RATE on the off side (threshold 200/s over 3 s, 1 fetch/s burst 2 when hot, room bulkhead SURGE_CHAT_ROOM_CONCURRENCY 8 unless set above)")
	for _, s := range sides {
		if !s.surge {
			continue
		}
		floor := max(s.quietLat.Pct(99), 5*time.Millisecond)
		t.Note("%s: next door p99 during the storm %.2f ms vs 2 x its quiet p99 (floor 5 ms) = %.2f ms: %s", s.short,
			benchkit.Ms(s.nlat.Pct(99)), benchkit.Ms(2*floor), benchkit.Verdict(s.nlat.Pct(99) <= 2*floor))
	}
	h.Note("hot event: its arrival on a stream of the room; hotSince: the detector's time in GET /v1/rooms/{id}; first hot:true: the first page saying so; sent after hot: storm fetches sent after the first hot:true or 429")
	t.Print()
	h.Print()
}

// tally renders counts as "200: 6991, 429: 9".
func tally(c [fetchKinds]int) string {
	var parts []string
	for k, n := range c {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", fetchKindNames[k], n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func settingsNote(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	return "; Surge with " + strings.Join(parts, " ")
}
