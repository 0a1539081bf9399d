//go:build chaos

// The HTTP edge under abuse: made-up methods, connections that never send
// their body, header floods, and more connections than the process may hold.
// Each case runs one `surge serve --roles api` and attacks it from raw
// connections; see harness_test.go for how to run one case.
package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck
	return hex.EncodeToString(b)
}

// A method label per made-up method would let any client grow /metrics
// (and the process) without bound: 50,000 requests with random methods on
// random paths must leave /metrics within 64 KiB of where it was, with
// every method outside the standard set counted as "other".
func TestMadeUpMethodsKeepMetricsBounded(t *testing.T) {
	s := startSurge(t, nil, "api")
	before, err := s.Metrics()
	if err != nil {
		t.Fatal(err)
	}

	const total, workers = 50_000, 64
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var next, failures atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int{}
	var firstFailure error
	deadline := time.Now().Add(3 * time.Minute)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := map[int]int{}
			defer func() {
				mu.Lock()
				for k, v := range mine {
					statuses[k] += v
				}
				mu.Unlock()
			}()
			for next.Add(1) <= total && time.Now().Before(deadline) {
				req, err := http.NewRequest("X"+randomHex(4), s.URL()+"/"+randomHex(6), nil)
				if err == nil {
					var res *http.Response
					if res, err = client.Do(req); err == nil {
						io.Copy(io.Discard, res.Body) //nolint:errcheck
						res.Body.Close()
						mine[res.StatusCode]++
						continue
					}
				}
				if failures.Add(1) == 1 {
					mu.Lock()
					firstFailure = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	answered := 0
	for code, n := range statuses {
		answered += n
		if code < 400 {
			t.Errorf("%d made-up requests answered %d", n, code)
		}
	}
	t.Logf("%d requests with made-up methods in %s (%.0f/s): statuses %v, %d transport failures (first: %v)",
		answered, elapsed.Round(time.Millisecond), float64(answered)/elapsed.Seconds(), statuses, failures.Load(), firstFailure)
	if answered+int(failures.Load()) < total {
		t.Fatalf("only %d of %d requests were sent within the time bound", answered+int(failures.Load()), total)
	}
	if failures.Load() > 0 {
		t.Errorf("%d requests failed at the transport (first: %v)", failures.Load(), firstFailure)
	}

	after, err := s.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/metrics: %d bytes before, %d after (+%d)", len(before), len(after), len(after)-len(before))
	if len(after) >= len(before)+64<<10 {
		t.Errorf("/metrics grew by %d bytes, want < %d", len(after)-len(before), 64<<10)
	}
	allowed := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "other": true}
	methods := map[string]float64{}
	for _, sm := range metricSamples(after, "surge_http_requests_total") {
		methods[sm.Labels["method"]] += sm.Value
	}
	var foreign []string
	for m := range methods {
		if !allowed[m] {
			foreign = append(foreign, m)
		}
	}
	sort.Strings(foreign)
	t.Logf("surge_http_requests_total: %d method labels; other=%.0f", len(methods), methods["other"])
	if len(foreign) > 0 {
		t.Errorf("surge_http_requests_total has %d method labels outside {GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS,other}, e.g. %q",
			len(foreign), foreign[:min(5, len(foreign))])
	}
}

// slowConn is one connection of the slow-body attack and what became of it.
type slowConn struct {
	conn     net.Conn
	openedAt time.Time
	closedAt time.Time // zero: still open at its deadline
	answer   string    // first line of a response, if one came
}

// Connections that send their headers and never the body must neither
// starve the server (a new connection's /healthz answers within 1 s) nor
// stay: each is closed within SURGE_HTTP_READ_TIMEOUT (5 s) + 2 s of being
// opened. The test opens as many as its own file limit allows, up to 19,000.
func TestSlowBodyConnectionsNeitherStarveNorLinger(t *testing.T) {
	const (
		readTimeout = 5 * time.Second
		grace       = 2 * time.Second
		want        = 19_000
		openers     = 8
	)
	s := startSurge(t, map[string]string{"SURGE_HTTP_READ_TIMEOUT": readTimeout.String()}, "api")
	headers := "POST /v1/campaigns/x/applications HTTP/1.1\r\nHost: " + s.Addr() +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

	var (
		mu       sync.Mutex
		conns    []*slowConn
		dialErrs = map[string]int{}
		stop     atomic.Bool
		emfile   atomic.Bool
		next     atomic.Int64
		open     atomic.Int64 // opened and not yet seen closed
		readers  sync.WaitGroup
		openWG   sync.WaitGroup
	)
	defer func() {
		for _, c := range conns {
			c.conn.Close()
		}
	}()
	// read waits for the server to close c (or answer), until c's deadline.
	read := func(c *slowConn) {
		defer readers.Done()
		c.conn.SetReadDeadline(c.openedAt.Add(readTimeout + grace)) //nolint:errcheck
		buf := make([]byte, 512)
		for {
			n, err := c.conn.Read(buf)
			if n > 0 && c.answer == "" {
				c.answer, _, _ = strings.Cut(string(buf[:n]), "\r\n")
			}
			if err != nil {
				if isClosedErr(err) {
					c.closedAt = time.Now()
					open.Add(-1)
				}
				return
			}
		}
	}
	start := time.Now()
	for o := 0; o < openers; o++ {
		openWG.Add(1)
		go func() {
			defer openWG.Done()
			for !stop.Load() && next.Add(1) <= want {
				conn, err := net.DialTimeout("tcp", s.Addr(), 3*time.Second)
				if err == nil {
					_, err = io.WriteString(conn, headers)
					if err != nil {
						conn.Close()
					}
				}
				if err != nil {
					mu.Lock()
					dialErrs[dialErrKind(err)]++
					failed := 0
					for _, n := range dialErrs {
						failed += n
					}
					mu.Unlock()
					if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
						emfile.Store(true)
						stop.Store(true)
					}
					if failed >= 100 {
						stop.Store(true)
					}
					continue
				}
				c := &slowConn{conn: conn, openedAt: time.Now()}
				open.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				readers.Add(1)
				go read(c)
			}
		}()
	}
	openWG.Wait()
	opening := time.Since(start)
	t.Logf("opened %d slow-body connections in %s (stopped early on EMFILE: %v; dial errors: %v); %d still open",
		len(conns), opening.Round(time.Millisecond), emfile.Load(), dialErrs, open.Load())
	if len(conns) < 1000 {
		t.Fatalf("could open only %d connections", len(conns))
	}

	// While they are open, a new connection is served at once.
	health := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var took []time.Duration
	for i := 0; i < 5; i++ {
		stillOpen := open.Load()
		t0 := time.Now()
		res, err := health.Get(s.URL() + "/healthz")
		d := time.Since(t0)
		took = append(took, d.Round(time.Microsecond))
		if err != nil {
			t.Errorf("healthz %d (with %d slow connections open): %v after %s", i+1, stillOpen, err, d)
			continue
		}
		io.Copy(io.Discard, res.Body) //nolint:errcheck
		res.Body.Close()
		if res.StatusCode != http.StatusOK || d >= time.Second {
			t.Errorf("healthz %d (with %d slow connections open): %d in %s, want 200 within 1s", i+1, stillOpen, res.StatusCode, d)
		}
	}
	t.Logf("healthz on a new connection while they were open: %v", took)

	// Each must be closed within the read timeout + 2 s of being opened.
	readers.Wait()
	var closed, lingered, answered int
	var lifetimes []time.Duration
	answers := map[string]int{}
	for _, c := range conns {
		if c.answer != "" {
			answered++
			answers[c.answer]++
		}
		if c.closedAt.IsZero() {
			lingered++
			continue
		}
		closed++
		lifetimes = append(lifetimes, c.closedAt.Sub(c.openedAt))
	}
	slices.Sort(lifetimes)
	if len(lifetimes) > 0 {
		t.Logf("closed by the server: %d of %d (answered first: %d, %v); lifetime min %s, median %s, max %s",
			closed, len(conns), answered, answers, lifetimes[0].Round(time.Millisecond),
			lifetimes[len(lifetimes)/2].Round(time.Millisecond), lifetimes[len(lifetimes)-1].Round(time.Millisecond))
	}
	if lingered > 0 {
		t.Errorf("%d of %d connections were still open %s after they were opened (read timeout %s + %s)",
			lingered, len(conns), readTimeout+grace, readTimeout, grace)
	}
}

func dialErrKind(err error) string {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EADDRNOTAVAIL, syscall.EPIPE} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// floodConn is one connection of the header flood and what became of it.
type floodConn struct {
	conn    net.Conn
	sent    atomic.Int64
	stopped atomic.Bool // a write failed: the server closed it
	answer  string      // first response line, if any
	closed  bool        // the server closed it (FIN/RST) before the deadline
}

// 1,000 connections each send about 1 MiB of header lines, in 16 KiB
// chunks and never the blank line that ends them. The server must answer
// 431 (or close) once a connection passes SURGE_HTTP_MAX_HEADER_BYTES
// (16 KiB by default) rather than buffer the lot: its RSS at the peak stays
// under what it was before + 150 MiB.
func TestHeaderFloodKeepsMemoryBounded(t *testing.T) {
	const (
		conns      = 1000
		chunkSize  = 16 << 10
		chunks     = 64 // 1 MiB a connection
		writers    = 16
		lineLength = 1024
		budget     = 150 << 20
	)
	s := startSurge(t, nil, "api")
	// Chunks are whole header lines with names unique per connection's
	// stream, so nothing collapses into one header.
	chunkData := make([][]byte, chunks)
	for i := range chunkData {
		var b strings.Builder
		for l := 0; l < chunkSize/lineLength; l++ {
			prefix := fmt.Sprintf("X-Flood-%02d-%02d: ", i, l)
			b.WriteString(prefix)
			b.WriteString(strings.Repeat("a", lineLength-len(prefix)-2))
			b.WriteString("\r\n")
		}
		chunkData[i] = []byte(b.String())
	}
	requestLine := "GET /healthz HTTP/1.1\r\nHost: " + s.Addr() + "\r\n"

	rssBefore, err := s.RSS()
	if err != nil {
		t.Fatal(err)
	}
	// Sample RSS every 100 ms until told to stop.
	var peak atomic.Int64
	peak.Store(rssBefore)
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
				if rss, err := s.RSS(); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() { close(sampling); <-sampled })
	defer stopSampling()

	start := time.Now()
	deadline := start.Add(60 * time.Second)
	fc := make([]*floodConn, 0, conns)
	defer func() {
		for _, c := range fc {
			c.conn.Close()
		}
	}()
	var readers sync.WaitGroup
	for i := 0; i < conns; i++ {
		conn, err := net.DialTimeout("tcp", s.Addr(), 3*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c := &floodConn{conn: conn}
		fc = append(fc, c)
		if _, err := io.WriteString(conn, requestLine); err != nil {
			c.stopped.Store(true)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			conn.SetReadDeadline(deadline) //nolint:errcheck
			buf := make([]byte, 4096)
			for {
				n, err := conn.Read(buf)
				if n > 0 && c.answer == "" {
					c.answer, _, _ = strings.Cut(string(buf[:n]), "\r\n")
				}
				if err != nil {
					c.closed = isClosedErr(err)
					return
				}
			}
		}()
	}
	// Round robin: every connection gets chunk i before any gets chunk i+1,
	// so all 1,000 headers are unfinished at the same time.
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < chunks; i++ {
				for j := w; j < conns; j += writers {
					c := fc[j]
					if c.stopped.Load() {
						continue
					}
					c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
					n, err := c.conn.Write(chunkData[i])
					c.sent.Add(int64(n))
					if err != nil {
						c.stopped.Store(true)
					}
				}
			}
		}()
	}
	wg.Wait()
	flooded := time.Since(start)
	var sent int64
	var stoppedEarly int
	for _, c := range fc {
		sent += c.sent.Load()
		if c.stopped.Load() {
			stoppedEarly++
		}
	}
	t.Logf("flood: %d connections, %s of header lines sent in %s; writes refused on %d connections", conns, mib(sent), flooded.Round(time.Millisecond), stoppedEarly)

	// RSS five seconds after the flood is a measurement the case reports,
	// not a condition it waits for, so it is taken at a fixed time.
	time.Sleep(time.Until(start.Add(flooded + 5*time.Second)))
	rssAfter, err := s.RSS()
	if err != nil {
		t.Fatal(err)
	}
	stopSampling()
	// Nothing more is written; each reader ends when its connection closes
	// or at the deadline.
	readers.Wait()
	answers := map[string]int{}
	var openAtEnd int
	for _, c := range fc {
		switch {
		case c.answer != "":
			answers[c.answer]++
		case c.closed:
			answers["closed without an answer"]++
		default:
			openAtEnd++
		}
	}
	t.Logf("RSS before %s, peak %s (+%s), 5 s after the flood %s; outcomes %v, %d still open at %s",
		mib(rssBefore), mib(peak.Load()), mib(peak.Load()-rssBefore), mib(rssAfter), answers, openAtEnd, deadline.Sub(start))
	for answer, n := range answers {
		if answer != "closed without an answer" && !strings.Contains(answer, " 431 ") {
			t.Errorf("%d connections were answered %q, want 431 or a close", n, answer)
		}
	}
	if openAtEnd > 0 {
		t.Errorf("%d connections neither got 431 nor were closed", openAtEnd)
	}
	if peak.Load() >= rssBefore+budget {
		t.Errorf("peak RSS %s is %s over the %s before the flood, want < %s", mib(peak.Load()), mib(peak.Load()-rssBefore), mib(rssBefore), mib(budget))
	}
	// And the server still serves.
	if status, _, _, err := s.Do(http.MethodGet, "/healthz", nil); err != nil || status != http.StatusOK {
		t.Errorf("healthz after the flood: %d, %v", status, err)
	}
}

// askHealthz sends GET /healthz on c and reads the answer, waiting at most
// until deadline. A server that refuses a connection may answer before it
// reads anything: if an answer arrives first, the request is not sent (so
// the server never closes with unread bytes, which would turn its answer
// into a reset).
func askHealthz(c *rawConn, deadline time.Time) (*http.Response, []byte, error) {
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) //nolint:errcheck
	_, err := c.r.Peek(1)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, nil, err
		}
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: chaos\r\n\r\n"); err != nil {
			return nil, nil, err
		}
	}
	c.SetDeadline(deadline)          //nolint:errcheck
	defer c.SetDeadline(time.Time{}) //nolint:errcheck
	return c.readResponse()
}

// With SURGE_HTTP_MAX_CONNS=100 and 100 idle keep-alive connections held,
// connection 101 is answered 503 too_many_connections within 1 s instead of
// waiting in the backlog; once 10 are closed, 10 new ones are served, and the
// cap holds again after them.
func TestConnectionCapAnswersFast503(t *testing.T) {
	const maxConns = 100
	s := startSurge(t, map[string]string{"SURGE_HTTP_MAX_CONNS": fmt.Sprint(maxConns)}, "api")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var held []*rawConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// hold opens a connection and gets a 200 on it, retrying while the server
	// still counts connections that were just closed.
	hold := func() error {
		var last string
		_, err := eventually(ctx, 3*time.Second, "a served connection", func() (bool, error) {
			c, err := dialRaw(s.Addr(), time.Second)
			if err != nil {
				return false, err
			}
			res, _, err := askHealthz(c, time.Now().Add(2*time.Second))
			if err == nil && res.StatusCode == http.StatusOK {
				held = append(held, c)
				return true, nil
			}
			c.Close()
			if err == nil {
				last = res.Status
			}
			return false, err
		})
		if err != nil && last != "" {
			err = fmt.Errorf("%w (last answer %s)", err, last)
		}
		return err
	}
	for i := 0; i < maxConns; i++ {
		if err := hold(); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, maxConns, err)
		}
	}

	// over checks that one more connection is refused fast and clearly.
	over := func(which string) {
		t.Helper()
		t0 := time.Now()
		c, err := dialRaw(s.Addr(), time.Second)
		if err != nil {
			t.Errorf("%s: dial: %v", which, err)
			return
		}
		defer c.Close()
		res, body, err := askHealthz(c, t0.Add(3*time.Second))
		took := time.Since(t0)
		if err != nil {
			t.Errorf("%s: no answer after %s: %v", which, took.Round(time.Millisecond), err)
			return
		}
		t.Logf("%s: %s %s in %s", which, res.Status, body, took.Round(time.Microsecond))
		if res.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "too_many_connections" || took >= time.Second {
			t.Errorf("%s: %d %s in %s, want 503 too_many_connections within 1s", which, res.StatusCode, body, took)
		}
	}
	over(fmt.Sprintf("connection %d", maxConns+1))

	for _, c := range held[:10] {
		c.Close()
	}
	held = held[10:]
	t0 := time.Now()
	for i := 0; i < 10; i++ {
		if err := hold(); err != nil {
			t.Fatalf("new connection %d after closing 10: %v", i+1, err)
		}
	}
	t.Logf("10 new connections served %s after 10 were closed", time.Since(t0).Round(time.Millisecond))
	over("one more after the 10 new ones")
}
