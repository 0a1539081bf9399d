//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// This file: the chat flow's calls (rooms, messages, counted fetches
// classified), an SSE client that stamps each event's arrival, and the
// figures the storm tests log (latency percentiles, CPU time of processes,
// the test process's own scheduling lag).

// chatCreateRoom creates a room: 201 {"id","name"} or the test fails.
func chatCreateRoom(t *testing.T, base, id, name string) {
	t.Helper()
	status, body, err := post(base, "/v1/rooms", map[string]string{"id": id, "name": name})
	testenv.Must(t, err, "create room %s", id)
	if status != http.StatusCreated || string(body) != `{"id":"`+id+`","name":"`+name+`"}` {
		t.Fatalf("create room %s: %d %s", id, status, body)
	}
}

// chatPostMessage posts a message: 202 {"messageId"} or the test fails.
func chatPostMessage(t *testing.T, base, room, user, text string) string {
	t.Helper()
	status, body, err := post(base, "/v1/rooms/"+room+"/messages", map[string]string{"userId": user, "text": text})
	testenv.Must(t, err, "post to %s", room)
	var v struct{ MessageID string }
	if status != http.StatusAccepted || json.Unmarshal(body, &v) != nil || v.MessageID == "" {
		t.Fatalf("post to %s: %d %s", room, status, body)
	}
	return v.MessageID
}

// chatWaitMessages waits until an unthrottled fetch of the room (a client
// id of its own) shows n messages.
func chatWaitMessages(t *testing.T, base, room string, n int) {
	t.Helper()
	var last string
	waitUntil(t, 30*time.Second, func() string { return fmt.Sprintf("%d messages in %s; last page %s", n, room, last) }, func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/rooms/"+room+"/messages?after=0&limit=100", nil)
		req.Header.Set("X-Client-ID", "setup-"+room)
		res, err := alertHTTP.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		last = fmt.Sprintf("%d %s", res.StatusCode, b)
		var p struct{ Messages []json.RawMessage }
		return res.StatusCode == http.StatusOK && json.Unmarshal(b, &p) == nil && len(p.Messages) == n
	})
}

// chatEventCount counts the room's events of a type in the events table.
func chatEventCount(t *testing.T, dbURL, room, eventType string) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	testenv.Must(t, err, "open the database")
	defer db.Close()
	var n int
	testenv.Must(t, db.QueryRow(`SELECT count(*) FROM events WHERE event_type = $1 AND stream_id = $2`, eventType, "room/"+room).Scan(&n),
		"count %s of %s", eventType, room)
	return n
}

// --- fetches ---

// chatFetchKind is how a fetch was answered.
type chatFetchKind int

const (
	fetchOK        chatFetchKind = iota // 200 with a page
	fetchThrottled                      // 429 room_hot, Retry-After ≥ 1 whole seconds, Link to the stream
	fetchBad429                         // 429 without all of that
	fetch5xx                            // any 5xx
	fetchOther                          // any other status, or a 200 that is not a page
	fetchTimeout                        // the client's timeout passed
	fetchTransport                      // any other transport error
	fetchKinds                          // how many kinds there are
)

var fetchKindNames = [fetchKinds]string{"200", "429", "malformed 429", "5xx", "other status", "timeout", "transport error"}

func (k chatFetchKind) String() string { return fetchKindNames[k] }

// chatFetchResult is one fetch.
type chatFetchResult struct {
	Client     int // stormgen's thread number (0 for chatFetch)
	Kind       chatFetchKind
	Status     int
	RetryAfter int
	Sent, Done time.Time
	Detail     string // what was wrong, for anything but 200 and a well-formed 429
}

func (r chatFetchResult) Latency() time.Duration { return r.Done.Sub(r.Sent) }

// chatFetch GETs a page of the room's messages as clientID and classifies
// the answer.
func chatFetch(client *http.Client, base, room, clientID string) chatFetchResult {
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/rooms/"+room+"/messages?after=0&limit=100", nil)
	req.Header.Set("X-Client-ID", clientID)
	r := chatFetchResult{Sent: time.Now()}
	res, err := client.Do(req)
	if err != nil {
		r.Done = time.Now()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			r.Kind = fetchTimeout
		} else {
			r.Kind = fetchTransport
		}
		r.Detail = err.Error()
		return r
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	r.Done = time.Now()
	r.Status = res.StatusCode
	if err != nil {
		r.Kind, r.Detail = fetchTransport, "reading the body: "+err.Error()
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			r.Kind = fetchTimeout
		}
		return r
	}
	classifyFetch(&r, room, res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Link"), body)
	return r
}

// classifyFetch sorts an answer into its kind.
func classifyFetch(r *chatFetchResult, room string, status int, retryAfter, link string, body []byte) {
	r.Status = status
	switch {
	case status == http.StatusOK:
		// A page (gin writes the keys in order: hot, messages, position).
		if !bytes.HasPrefix(body, []byte(`{"hot":`)) || !bytes.Contains(body, []byte(`"messages":[`)) {
			r.Kind, r.Detail = fetchOther, "200 "+string(body)
		}
	case status == http.StatusTooManyRequests:
		r.Kind = fetchThrottled
		ra, raErr := strconv.Atoi(retryAfter)
		r.RetryAfter = ra
		var e struct{ Error struct{ Code string } }
		switch {
		case raErr != nil || ra < 1:
			r.Kind, r.Detail = fetchBad429, fmt.Sprintf("Retry-After %q", retryAfter)
		case !strings.Contains(link, "</v1/rooms/"+room+"/stream>"):
			r.Kind, r.Detail = fetchBad429, fmt.Sprintf("Link %q", link)
		case json.Unmarshal(body, &e) != nil || e.Error.Code != "room_hot":
			r.Kind, r.Detail = fetchBad429, "body "+string(body)
		}
	case status >= 500:
		r.Kind, r.Detail = fetch5xx, fmt.Sprintf("%d %s", status, body)
	default:
		r.Kind, r.Detail = fetchOther, fmt.Sprintf("%d %s", status, body)
	}
}

// stormPlan is a JMeter thread group: clients threads started evenly over
// rampUp, each fetching loops times, once every think.
type stormPlan struct {
	clients, loops         int
	rampUp, think, timeout time.Duration
	clientPrefix           string // X-Client-ID is this, a dash and the thread's number
}

// stormRun is e2e/stormgen running a plan, a process of its own built
// without -race (see its doc).
type stormRun struct {
	room   string
	want   int       // fetches: clients × loops
	began  time.Time // the ramp-up's start
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// stormResult is what e2e/stormgen reported: every fetch, classified.
type stormResult struct {
	began   time.Time
	fetches []chatFetchResult
	cpu     time.Duration // the generator's own
}

// tools are the e2e tests' own programs (./stormgen, ./baseline), each
// built once, without -race.
var tools struct {
	sync.Mutex
	dir   string            // where they are built (removeTools)
	built map[string]string // name -> binary
}

// removeTools removes the tools built (TestMain, after the tests).
func removeTools() {
	tools.Lock()
	defer tools.Unlock()
	if tools.dir != "" {
		os.RemoveAll(tools.dir)
	}
}

func tool(t *testing.T, name string) string {
	t.Helper()
	tools.Lock()
	defer tools.Unlock()
	if bin, ok := tools.built[name]; ok {
		return bin
	}
	if tools.dir == "" {
		dir, err := os.MkdirTemp("", "surge-e2e-tools")
		testenv.Must(t, err, "a directory for the tools")
		tools.dir = dir
	}
	bin := filepath.Join(tools.dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, "./"+name).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v: %s", name, err, out)
	}
	if tools.built == nil {
		tools.built = map[string]string{}
	}
	tools.built[name] = bin
	return bin
}

// chatPageBody is the body of GET /v1/rooms/{room}/messages?after=0&limit=100.
func chatPageBody(t *testing.T, base, room string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/rooms/"+room+"/messages?after=0&limit=100", nil)
	req.Header.Set("X-Client-ID", "page-copier")
	res, err := alertHTTP.Do(req)
	testenv.Must(t, err, "fetch %s", room)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	testenv.Must(t, err, "read the page of %s", room)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET the page of %s: %d %s", room, res.StatusCode, body)
	}
	return body
}

// startBaseline serves pages, the bodies of rooms' pages keyed by room id,
// from e2e/baseline (a bare gin endpoint reading one Redis key, a process
// of its own) until the test ends, and returns its URL.
func startBaseline(t *testing.T, pages map[string][]byte) string {
	t.Helper()
	prefix := testenv.RedisPrefix(t)
	for room, body := range pages {
		testenv.Must(t, testenv.Redis(t).Set(context.Background(), prefix+"page:"+room, body, time.Hour).Err(), "the page of %s", room)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(tool(t, "baseline"), "-addr", addr, "-redis", testenv.RedisURL(), "-prefix", prefix)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // closed, or this process gone: the baseline stops
	testenv.Must(t, err, "the baseline's stdin")
	testenv.Must(t, cmd.Start(), "start the baseline")
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait() //nolint:errcheck // it may have ended
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := alertHTTP.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			stdin.Close()
			cmd.Wait() //nolint:errcheck // and its stderr is whole
			t.Fatalf("the baseline did not come up on %s: %s", addr, stderr.Bytes())
		}
	}
}

// startStorm starts the plan against a room; wait collects it.
func startStorm(t *testing.T, base, room string, plan stormPlan) *stormRun {
	t.Helper()
	bin := tool(t, "stormgen")                                                                                 // built first: the plan's clock starts after
	r := &stormRun{room: room, want: plan.clients * plan.loops, began: time.Now().Add(100 * time.Millisecond)} // the process is up by then
	r.cmd = exec.Command(bin, "-addr", strings.TrimPrefix(base, "http://"), "-room", room,
		"-clients", strconv.Itoa(plan.clients), "-rampup", plan.rampUp.String(), "-loops", strconv.Itoa(plan.loops),
		"-think", plan.think.String(), "-timeout", plan.timeout.String(), "-client-prefix", plan.clientPrefix,
		"-start", strconv.FormatInt(r.began.UnixNano(), 10))
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill() //nolint:errcheck // it may have ended
			r.cmd.Wait()         //nolint:errcheck
		}
	})
	return r
}

// exited waits for the run to end.
func (r *stormRun) exited(t *testing.T) {
	t.Helper()
	if r.cmd.ProcessState != nil {
		return
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("stormgen: %v: %s", err, r.stderr.Bytes())
	}
}

// wait waits for the run to end and classifies its fetches.
func (r *stormRun) wait(t *testing.T) stormResult {
	t.Helper()
	r.exited(t)
	res := stormResult{began: r.began, cpu: r.cmd.ProcessState.UserTime() + r.cmd.ProcessState.SystemTime()}
	dec := json.NewDecoder(&r.stdout)
	for dec.More() {
		var f struct {
			Client                 int
			Sent, Done             int64
			Status                 int
			RetryAfter, Link, Body string
			Error                  string
			Timeout                bool
		}
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("stormgen's output: %v", err)
		}
		fr := chatFetchResult{Client: f.Client, Sent: time.Unix(0, f.Sent), Done: time.Unix(0, f.Done)}
		switch {
		case f.Timeout:
			fr.Kind, fr.Detail = fetchTimeout, f.Error
		case f.Error != "":
			fr.Kind, fr.Detail = fetchTransport, f.Error
		default:
			classifyFetch(&fr, r.room, f.Status, f.RetryAfter, f.Link, []byte(f.Body))
		}
		res.fetches = append(res.fetches, fr)
	}
	if len(res.fetches) != r.want {
		t.Fatalf("stormgen reported %d fetches, want %d", len(res.fetches), r.want)
	}
	// A generator that started late sends its overdue fetches at once: not
	// the plan.
	first := res.fetches[0].Sent
	for _, f := range res.fetches {
		if f.Sent.Before(first) {
			first = f.Sent
		}
	}
	if late := first.Sub(r.began); late > 100*time.Millisecond {
		t.Fatalf("stormgen sent its first fetch %s after the plan's start: its clients would catch up at once", late)
	}
	return res
}

// chatTally counts fetches by kind and keeps a few examples of each
// failure.
type chatTally struct {
	mu       sync.Mutex
	n        [fetchKinds]int
	examples map[chatFetchKind][]string
	retry    map[int]int // Retry-After values of the well-formed 429s
}

func (c *chatTally) add(r chatFetchResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Kind]++
	if r.Kind == fetchThrottled {
		if c.retry == nil {
			c.retry = map[int]int{}
		}
		c.retry[r.RetryAfter]++
	}
	if r.Detail != "" {
		if c.examples == nil {
			c.examples = map[chatFetchKind][]string{}
		}
		if len(c.examples[r.Kind]) < 5 {
			d := r.Detail
			if len(d) > 300 {
				d = d[:300] + "…"
			}
			c.examples[r.Kind] = append(c.examples[r.Kind], d)
		}
	}
}

func (c *chatTally) count(k chatFetchKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *chatTally) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := 0
	for _, n := range c.n {
		s += n
	}
	return s
}

func (c *chatTally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for k, n := range c.n {
		fmt.Fprintf(&b, "%s: %d; ", fetchKindNames[k], n)
	}
	if len(c.retry) > 0 {
		fmt.Fprintf(&b, "Retry-After values %v; ", c.retry)
	}
	for k, ex := range c.examples {
		fmt.Fprintf(&b, "e.g. %s: %q; ", k, ex)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// latencies are fetch latencies.
type latencies []time.Duration

// latestSent is when the last of fetches was sent.
func latestSent(fetches []chatFetchResult) time.Time {
	var last time.Time
	for _, r := range fetches {
		if r.Sent.After(last) {
			last = r.Sent
		}
	}
	return last
}

// overTheRate lists the clients that, among their fetches sent from from
// on, got more 200s than a limiter of perSecond with burst lets through
// (burst + perSecond × the span of those fetches, and one for the edges).
func overTheRate(fetches []chatFetchResult, from time.Time, perSecond float64, burst int) []string {
	type span struct {
		ok          int
		first, last time.Time
	}
	clients := map[int]*span{}
	for _, r := range fetches {
		if r.Sent.Before(from) {
			continue
		}
		c := clients[r.Client]
		if c == nil {
			c = &span{first: r.Sent, last: r.Sent}
			clients[r.Client] = c
		}
		if r.Sent.Before(c.first) {
			c.first = r.Sent
		}
		if r.Sent.After(c.last) {
			c.last = r.Sent
		}
		if r.Kind == fetchOK {
			c.ok++
		}
	}
	var over []string
	for id, c := range clients {
		if allowed := burst + int(perSecond*c.last.Sub(c.first).Seconds()) + 1; c.ok > allowed {
			over = append(over, fmt.Sprintf("client %d: %d 200s in %s (at most %d)", id, c.ok, c.last.Sub(c.first).Round(time.Millisecond), allowed))
		}
	}
	slices.Sort(over)
	return over
}

// slowest lists the n slowest fetches sent from start to end: each one's
// latency, when it was sent after start and how far into its second (the
// detector reads the counts 50ms after each second boundary).
func slowest(fetches []chatFetchResult, start, end time.Time, n int) string {
	var in []chatFetchResult
	for _, r := range fetches {
		if !r.Sent.Before(start) && !r.Sent.After(end) {
			in = append(in, r)
		}
	}
	slices.SortFunc(in, func(a, b chatFetchResult) int { return cmp.Compare(b.Latency(), a.Latency()) })
	var out []string
	for _, r := range in[:min(n, len(in))] {
		out = append(out, fmt.Sprintf("%s at +%s (%s into its second)", r.Latency().Round(10*time.Microsecond),
			r.Sent.Sub(start).Round(time.Millisecond), r.Sent.Sub(r.Sent.Truncate(time.Second)).Round(time.Millisecond)))
	}
	return strings.Join(out, ", ")
}

// pct is the q-quantile (nearest rank) of the latencies.
func (l latencies) pct(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) String() string {
	if len(l) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(l),
		l.pct(0.5).Round(10*time.Microsecond), l.pct(0.9).Round(10*time.Microsecond),
		l.pct(0.99).Round(10*time.Microsecond), l.pct(1).Round(10*time.Microsecond))
}

// --- SSE ---

// chatSSEEvent is one Server-Sent Event and when it was read.
type chatSSEEvent struct {
	ID    int64
	Event string
	Data  string
	At    time.Time
}

// chatStream reads a room's stream in the background.
type chatStream struct {
	url    string
	mu     sync.Mutex
	events []chatSSEEvent
	ended  error
	done   chan struct{}
	cancel context.CancelFunc
}

// openChatStream GETs url as an event stream and returns once it answered
// 200 and its first line ("retry: ...") arrived.
func openChatStream(t *testing.T, url string) *chatStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	// A client of its own: the stream's connection is never shared with, nor
	// queued behind, the load.
	res, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("open stream %s: %d %s %s", url, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &chatStream{url: url, done: make(chan struct{}), cancel: cancel}
	t.Cleanup(s.close)
	first := make(chan struct{})
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		rd := bufio.NewReader(res.Body)
		var cur chatSSEEvent
		seenFirst := false
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				s.mu.Lock()
				s.ended = err
				s.mu.Unlock()
				if !seenFirst {
					close(first)
				}
				return
			}
			if !seenFirst {
				seenFirst = true
				close(first)
			}
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			switch {
			case line == "":
				if cur.Event != "" {
					cur.At = time.Now()
					s.mu.Lock()
					s.events = append(s.events, cur)
					s.mu.Unlock()
				}
				cur = chatSSEEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.ID, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				cur.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.Data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(15 * time.Second):
		t.Fatalf("stream %s: no first line within 15s", url)
	}
	return s
}

func (s *chatStream) close() {
	s.cancel()
	<-s.done
}

func (s *chatStream) all() []chatSSEEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// first is the first event of the kind, if it arrived.
func (s *chatStream) first(kind string) (chatSSEEvent, bool) {
	for _, e := range s.all() {
		if e.Event == kind {
			return e, true
		}
	}
	return chatSSEEvent{}, false
}

// count is how many events of the kind arrived.
func (s *chatStream) count(kind string) int {
	n := 0
	for _, e := range s.all() {
		if e.Event == kind {
			n++
		}
	}
	return n
}

// waitFor waits for the first event of the kind; the stream ending fails
// the test.
func (s *chatStream) waitFor(t *testing.T, kind string, timeout time.Duration) chatSSEEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if e, ok := s.first(kind); ok {
			return e
		}
		s.mu.Lock()
		ended := s.ended
		s.mu.Unlock()
		if ended != nil {
			t.Fatalf("stream %s ended (%v) before a %q event; events %s", s.url, ended, kind, s.summary())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q event on %s within %s; events %s", kind, s.url, timeout, s.summary())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *chatStream) summary() string {
	var b strings.Builder
	for _, e := range s.all() {
		fmt.Fprintf(&b, "[%d %s %s] ", e.ID, e.Event, e.At.Format("15:04:05.000"))
	}
	return b.String()
}

// --- what the machine was doing ---

// cpuTime is the user+system CPU time a process used so far (from
// /proc/<pid>/stat; 0 where there is no /proc).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command may hold spaces: the fields start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// machineLoad is the 1-minute load average.
func machineLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// lagProbe measures this process's scheduling lag: a goroutine that asks
// to sleep 2ms, over and over, and records by how much it overslept. A
// load generator starved of CPU shows here (its own latencies include the
// lag).
type lagProbe struct {
	mu   sync.Mutex
	lags latencies
	stop chan struct{}
	done chan struct{}
}

func startLagProbe() *lagProbe {
	p := &lagProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(2 * time.Millisecond)
			lag := time.Since(t0) - 2*time.Millisecond
			p.mu.Lock()
			p.lags = append(p.lags, lag)
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *lagProbe) end() latencies {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lags
}

// logLineTime is the "time" of the first log line of the process that
// contains s (slog JSON), if there is one.
func logLineTime(path, s string) (time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, s) {
			continue
		}
		var v struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && !v.Time.IsZero() {
			return v.Time, true
		}
	}
	return time.Time{}, false
}

// logLineCount counts the process's log lines that contain s.
func logLineCount(path, s string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(s))
}

// metricValue reads one unlabelled sample from a /metrics page (-1 if
// absent).
func metricValue(base, name string) float64 {
	res, err := alertHTTP.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// atomicMax raises v to x if x is higher.
func atomicMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// redisCPU is the CPU time the Redis server used so far (INFO cpu: user +
// sys), or 0 if it cannot be read.
func redisCPU(t *testing.T) time.Duration {
	t.Helper()
	info, err := testenv.Redis(t).Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// serverHistogram reads the cumulative buckets of a histogram's series from
// a /metrics page: upper bound (seconds, +Inf as a huge number) -> count.
func serverHistogram(base, series string) map[float64]float64 {
	res, err := alertHTTP.Get(base + "/metrics")
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	out := map[float64]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, series+",le=\"")
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, "\"} ")
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err = 1e9, nil
		}
		n, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil && err2 == nil {
			out[bound] = n
		}
	}
	return out
}

// histogramDelta describes what a histogram counted between two reads:
// how many per bucket, and the bucket the median and the p99 fall in.
func histogramDelta(before, after map[float64]float64) string {
	bounds := slices.Sorted(func(yield func(float64) bool) {
		for b := range after {
			if !yield(b) {
				return
			}
		}
	})
	if len(bounds) == 0 {
		return "no histogram"
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	var b strings.Builder
	fmt.Fprintf(&b, "%.0f requests; cumulative:", total)
	p50, p99 := "", ""
	for _, le := range bounds {
		n := after[le] - before[le]
		name := time.Duration(le * float64(time.Second)).String()
		if le >= 1e9 {
			name = "+Inf"
		}
		fmt.Fprintf(&b, " ≤%s %.0f", name, n)
		if p50 == "" && n >= 0.5*total {
			p50 = name
		}
		if p99 == "" && n >= 0.99*total {
			p99 = name
		}
	}
	fmt.Fprintf(&b, "; p50 ≤ %s, p99 ≤ %s", p50, p99)
	return b.String()
}
