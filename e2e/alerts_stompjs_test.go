//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// residentEvent is one line node/alerts_residents.mjs printed.
type residentEvent struct {
	Ev   string  `json:"ev"`
	At   float64 `json:"at"` // wall clock, milliseconds since the epoch
	Name string  `json:"name"`
	Conn int     `json:"conn"`

	// connected
	Path      string  `json:"path"`
	Version   string  `json:"version"`
	HeartBeat string  `json:"heartBeat"`
	Server    string  `json:"server"`
	Protocol  string  `json:"protocol"`
	XAfter    *string `json:"xAfter"`

	// message
	Sub     string            `json:"sub"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`

	// ws-close, stomp-error, ws-error, fatal
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	Deliberate bool   `json:"deliberate"`
	Message    string `json:"message"`
}

func (e residentEvent) time() time.Time {
	sec, frac := math.Modf(e.At / 1000)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// stompjsResidents is the Node process with its residents.
type stompjsResidents struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan error
	mu     sync.Mutex
	events []residentEvent
	raw    []string // every line, for the failure log
}

// startStompjsResidents runs node node/alerts_residents.mjs against base.
func startStompjsResidents(t *testing.T, base string) *stompjsResidents {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: this test drives the server with @stomp/stompjs on Node (20 or later)")
	}
	script, err := filepath.Abs(filepath.Join("node", "alerts_residents.mjs"))
	testenv.Must(t, err, "script path")
	if _, err := os.Stat(filepath.Join("node", "node_modules", "@stomp", "stompjs")); err != nil {
		t.Fatal("e2e/node/node_modules is missing: run `npm ci --prefix e2e/node` (make e2e does)")
	}
	cmd := exec.Command(nodeBin, script, base)
	cmd.Dir = "node"
	stdin, err := cmd.StdinPipe()
	testenv.Must(t, err, "stdin")
	stdout, err := cmd.StdoutPipe()
	testenv.Must(t, err, "stdout")
	stderrPath := filepath.Join(t.TempDir(), "node-stderr.log")
	stderr, err := os.Create(stderrPath)
	testenv.Must(t, err, "stderr")
	cmd.Stderr = stderr
	testenv.Must(t, cmd.Start(), "start node")
	r := &stompjsResidents{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var e residentEvent
			err := json.Unmarshal([]byte(line), &e)
			r.mu.Lock()
			r.raw = append(r.raw, line)
			if err == nil {
				r.events = append(r.events, e)
			} else {
				r.events = append(r.events, residentEvent{Ev: "fatal", Message: "not JSON: " + line})
			}
			r.mu.Unlock()
		}
	}()
	go func() { <-read; r.done <- cmd.Wait(); stderr.Close() }()
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // exited already after a quit
		if t.Failed() {
			r.mu.Lock()
			raw := strings.Join(r.raw, "\n")
			r.mu.Unlock()
			t.Logf("node printed:\n%s\nnode's stderr:\n%s", lastLines(raw, 80), fileTail(stderrPath, 40))
		}
	})
	r.waitEvent(t, 30*time.Second, "node ready", func(e residentEvent) bool { return e.Ev == "ready" })
	return r
}

func (r *stompjsResidents) send(t *testing.T, cmd map[string]any) {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := r.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("node: %v", err)
	}
}

func (r *stompjsResidents) connect(t *testing.T, name, path, complex, probe string, resume bool) {
	t.Helper()
	r.send(t, map[string]any{"op": "connect", "name": name, "path": path, "complex": complex, "probe": probe, "resume": resume})
}

func (r *stompjsResidents) snapshot() []residentEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitEvent waits for an event matching ok and returns it; a fatal event
// from node fails the test at once.
func (r *stompjsResidents) waitEvent(t *testing.T, timeout time.Duration, what string, ok func(residentEvent) bool) residentEvent {
	t.Helper()
	var found residentEvent
	waitUntil(t, timeout, func() string { return "node: " + what }, func() bool {
		for _, e := range r.snapshot() {
			if e.Ev == "fatal" {
				t.Fatalf("node: %s", e.Message)
			}
			if ok(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// lineMessages are the MESSAGE frames of a resident's line subscription on
// its connection conn (0: every connection).
func (r *stompjsResidents) lineMessages(name string, conn int) []residentEvent {
	var out []residentEvent
	for _, e := range r.snapshot() {
		if e.Ev == "message" && e.Name == name && e.Sub == "line" && (conn == 0 || e.Conn == conn) {
			out = append(out, e)
		}
	}
	return out
}

// waitLine waits until the resident's connection conn has n line messages.
func (r *stompjsResidents) waitLine(t *testing.T, name string, conn, n int) []residentEvent {
	t.Helper()
	waitUntil(t, 20*time.Second, func() string {
		return fmt.Sprintf("%s (connection %d) has %d of %d line messages: %s", name, conn, len(r.lineMessages(name, conn)), n, positionsOf(r.lineMessages(name, conn)))
	}, func() bool { return len(r.lineMessages(name, conn)) >= n })
	return r.lineMessages(name, conn)
}

func orNone(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

func positionsOf(msgs []residentEvent) string {
	var p []string
	for _, m := range msgs {
		p = append(p, m.Headers["destination"]+"@"+m.Headers["position"])
	}
	return "[" + strings.Join(p, " ") + "]"
}

// quit asks node to deactivate every client and waits for it to exit 0.
func (r *stompjsResidents) quit(t *testing.T) {
	t.Helper()
	r.send(t, map[string]any{"op": "quit"})
	r.stdin.Close()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("node exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node did not exit within 20s of quit")
	}
}

// checkNotice checks a MESSAGE's headers as stompjs exposes them and
// decodes its body.
func checkNotice(t *testing.T, m residentEvent, complex, typ string, position int64) map[string]any {
	t.Helper()
	pos := fmt.Sprint(position)
	h := m.Headers
	if h["destination"] != "/sub/line/"+complex || h["subscription"] != "line" || h["content-type"] != "application/json" ||
		h["type"] != typ || h["position"] != pos || h["message-id"] != complex+"-"+pos {
		t.Fatalf("%s: MESSAGE headers %v; want destination /sub/line/%s, subscription line, content-type application/json, type %s, position %s, message-id %s-%s",
			m.Name, h, complex, typ, pos, complex, pos)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
		t.Fatalf("%s: body %q: %v", m.Name, m.Body, err)
	}
	if body["type"] != typ || body["complexId"] != complex || body["position"] != float64(position) || body["at"] == nil || body["at"] == "" {
		t.Fatalf("%s: body %s; want type %s, complexId %s, position %d, at", m.Name, m.Body, typ, complex, position)
	}
	return body
}

func checkAlertBody(t *testing.T, name string, body map[string]any, a raised) {
	t.Helper()
	if body["alertId"] != a.ID || body["house"] != a.House || body["text"] != a.Text || body["lat"] != 37.51 || body["lng"] != 127.02 {
		t.Fatalf("%s: alert body %v; want alertId %s, house %s, text %q, lat 37.51, lng 127.02", name, body, a.ID, a.House, a.Text)
	}
}

// A browser's STOMP client, @stomp/stompjs 7 on Node over `ws`, against the
// built binary (every role in one process, open: no resident tokens). Three
// residents of complex A (one on /an-ws) and one of B: an alert raised in A
// reaches every resident of A within 1 s of its 202 and never B; the
// acceptance reaches all of A naming the acceptor; a resident who was away
// (deactivate) comes back with a new Client subscribing with x-after:<the
// last position it saw> and gets exactly the two alerts it missed, in
// order, once each, before anything live.
func TestAlertsReachStompJSResidents(t *testing.T) {
	stack := newAlertStack(t)
	surge := stack.serve(t, "surge-all", "")
	node := startStompjsResidents(t, surge.URL)

	// The residents connect. Each also follows a probe line from position
	// 0: its first notice there means the server has served the line's
	// SUBSCRIBE before it (a session serves its frames in order), so
	// whatever is raised from then on is live for them.
	type resident struct{ name, path, complex string }
	all := []resident{{"a1", "/ws", "A"}, {"a2", "/an-ws", "A"}, {"a3", "/ws", "A"}, {"b1", "/ws", "B"}}
	for _, r := range all {
		node.connect(t, r.name, r.path, r.complex, "probe", false)
	}
	for _, r := range all {
		c := node.waitEvent(t, 20*time.Second, r.name+" connected", func(e residentEvent) bool { return e.Ev == "connected" && e.Name == r.name })
		if c.Version != "1.2" || c.HeartBeat != "10000,10000" || c.Server != "surge" || c.Protocol != "v12.stomp" || c.XAfter != nil {
			t.Fatalf("%s: CONNECTED version %q heart-beat %q server %q, subprotocol %q, x-after %v; want 1.2, 10000,10000, surge, v12.stomp, none",
				r.name, c.Version, c.HeartBeat, c.Server, c.Protocol, orNone(c.XAfter))
		}
	}
	mustRaise(t, surge.URL, "probe", "000-0000", "probe")
	for _, r := range all {
		m := node.waitEvent(t, 20*time.Second, r.name+" probe notice", func(e residentEvent) bool { return e.Ev == "message" && e.Name == r.name && e.Sub == "probe" })
		if m.Headers["destination"] != "/sub/line/probe" || m.Headers["position"] != "1" {
			t.Fatalf("%s: probe notice %v", r.name, m.Headers)
		}
	}

	// An alert in A: the three residents of A, within 1 s of the 202.
	a1 := mustRaise(t, surge.URL, "A", "101-1203", "smoke on 12F")
	var first string
	for _, name := range []string{"a1", "a2", "a3"} {
		m := node.waitLine(t, name, 1, 1)[0]
		body := checkNotice(t, m, "A", "alert", 1)
		checkAlertBody(t, name, body, a1)
		if first == "" {
			first = m.Body
		} else if m.Body != first {
			t.Fatalf("%s got another body than a1:\n%s\n%s", name, m.Body, first)
		}
		latency := m.time().Sub(a1.At)
		t.Logf("alert 1 reached %s %s after the 202 (%s after the request was sent)", name, latency.Round(100*time.Microsecond), m.time().Sub(a1.Sent).Round(100*time.Microsecond))
		if latency > time.Second {
			t.Errorf("alert 1 reached %s %s after the 202; the bound is 1s", name, latency)
		}
	}

	// The first acceptance: 202 naming the acceptor, a later one 409; every
	// resident of A is told, with the raiser as the target.
	status, body, err := post(surge.URL, "/v1/alerts/"+a1.ID+"/acceptances", map[string]string{"house": "102-0501"})
	testenv.Must(t, err, "accept")
	var acc struct{ AlertID, Status, AcceptedBy string }
	if status != http.StatusAccepted || json.Unmarshal(body, &acc) != nil || acc.AlertID != a1.ID || acc.Status != "accepted" || acc.AcceptedBy != "102-0501" {
		t.Fatalf("accept: %d %s", status, body)
	}
	acceptedAt := time.Now()
	status, body, err = post(surge.URL, "/v1/alerts/"+a1.ID+"/acceptances", map[string]string{"house": "103-0101"})
	testenv.Must(t, err, "second accept")
	var conflict struct{ Error struct{ Code string } }
	if status != http.StatusConflict || json.Unmarshal(body, &conflict) != nil || conflict.Error.Code != "already_accepted" {
		t.Fatalf("second accept: %d %s; want 409 already_accepted", status, body)
	}
	for _, name := range []string{"a1", "a2", "a3"} {
		m := node.waitLine(t, name, 1, 2)[1]
		b := checkNotice(t, m, "A", "accept", 2)
		if b["alertId"] != a1.ID || b["acceptedBy"] != "102-0501" || b["target"] != "101-1203" {
			t.Fatalf("%s: accept body %s; want alertId %s, acceptedBy 102-0501, target 101-1203", name, m.Body, a1.ID)
		}
		t.Logf("the acceptance reached %s %s after its 202", name, m.time().Sub(acceptedAt).Round(100*time.Microsecond))
	}

	// a3 leaves; two alerts are raised while it is away.
	node.send(t, map[string]any{"op": "disconnect", "name": "a3"})
	node.waitEvent(t, 20*time.Second, "a3 disconnected", func(e residentEvent) bool { return e.Ev == "disconnected" && e.Name == "a3" })
	missed := []raised{
		mustRaise(t, surge.URL, "A", "104-0101", "water leak, 4F"),
		mustRaise(t, surge.URL, "A", "105-0707", "elevator stuck"),
	}
	for _, name := range []string{"a1", "a2"} {
		msgs := node.waitLine(t, name, 1, 4)
		for i, a := range missed {
			checkAlertBody(t, name, checkNotice(t, msgs[2+i], "A", "alert", int64(3+i)), a)
			t.Logf("alert %d reached %s %s after the 202", 3+i, name, msgs[2+i].time().Sub(a.At).Round(100*time.Microsecond))
		}
	}

	// a3 comes back with a new Client, x-after:2 (its last position): the
	// two it missed, in order, once each; then a live one. A duplicate or
	// anything else would have come before the live one (a session sends in
	// order, and the live notices come in the complex's order).
	node.connect(t, "a3", "/ws", "A", "", true)
	c := node.waitEvent(t, 20*time.Second, "a3 reconnected", func(e residentEvent) bool { return e.Ev == "connected" && e.Name == "a3" && e.Conn == 2 })
	if c.XAfter == nil || *c.XAfter != "2" {
		t.Fatalf("a3 resubscribed with x-after %s, want 2 (the last position it received)", orNone(c.XAfter))
	}
	back := node.waitLine(t, "a3", 2, 2)
	for i, a := range missed {
		checkAlertBody(t, "a3", checkNotice(t, back[i], "A", "alert", int64(3+i)), a)
		if want := node.lineMessages("a1", 1)[2+i].Body; back[i].Body != want {
			t.Fatalf("a3's catch-up of position %d differs from what a1 was pushed:\n%s\n%s", 3+i, back[i].Body, want)
		}
	}
	// B's resident hears B (and, below, A's residents do not).
	b1 := mustRaise(t, surge.URL, "B", "201-0101", "gas smell")
	mb := node.waitLine(t, "b1", 1, 1)[0]
	checkAlertBody(t, "b1", checkNotice(t, mb, "B", "alert", 1), b1)

	live := mustRaise(t, surge.URL, "A", "106-0101", "all clear")
	for _, name := range []string{"a1", "a2"} {
		m := node.waitLine(t, name, 1, 5)[4]
		checkAlertBody(t, name, checkNotice(t, m, "A", "alert", 5), live)
	}
	m := node.waitLine(t, "a3", 2, 3)[2]
	checkAlertBody(t, "a3", checkNotice(t, m, "A", "alert", 5), live)
	t.Logf("alert 5 reached a3 (resumed) %s after the 202", m.time().Sub(live.At).Round(100*time.Microsecond))

	// What each connection got, exactly, up to the last notice of A (raised
	// after B's alert had reached b1: had B's alert gone to a resident of A
	// too, it would have come before that last notice):
	want := map[string]map[int][]string{
		"a1": {1: {"1", "2", "3", "4", "5"}},
		"a2": {1: {"1", "2", "3", "4", "5"}},
		"a3": {1: {"1", "2"}, 2: {"3", "4", "5"}},
		"b1": {1: {"1"}},
	}
	for name, conns := range want {
		for conn, positions := range conns {
			var got []string
			for _, m := range node.lineMessages(name, conn) {
				got = append(got, m.Headers["destination"]+"@"+m.Headers["position"])
			}
			complex := strings.ToUpper(name[:1])
			var exp []string
			for _, p := range positions {
				exp = append(exp, "/sub/line/"+complex+"@"+p)
			}
			if !slices.Equal(got, exp) {
				t.Fatalf("%s (connection %d) got %v, want %v", name, conn, got, exp)
			}
		}
	}
	// Nothing went wrong on any connection: no ERROR frame, no close the
	// test did not ask for, one probe notice each (it was unsubscribed).
	probes := map[string]int{}
	for _, e := range node.snapshot() {
		if e.Ev == "message" && e.Sub == "probe" {
			probes[e.Name]++
		}
		switch {
		case e.Ev == "stomp-error" || e.Ev == "ws-error" || e.Ev == "fatal":
			t.Fatalf("%s (connection %d): %s %s %s", e.Name, e.Conn, e.Ev, e.Message, e.Body)
		case e.Ev == "ws-close" && !e.Deliberate:
			t.Fatalf("%s (connection %d): the server closed the WebSocket (%d %s)", e.Name, e.Conn, e.Code, e.Reason)
		}
	}
	if want := map[string]int{"a1": 1, "a2": 1, "a3": 1, "b1": 1}; !maps.Equal(probes, want) {
		t.Fatalf("probe notices per resident %v, want %v", probes, want)
	}

	// The catch-up feed serves exactly the bytes that were pushed.
	events, pos := alertFeed(t, surge.URL, "A")
	if pos != 5 || len(events) != 5 {
		t.Fatalf("feed of A: %d events, position %d; want 5 and 5", len(events), pos)
	}
	for i, m := range node.lineMessages("a1", 1) {
		if string(events[i]) != m.Body {
			t.Fatalf("feed of A, position %d:\n%s\npushed:\n%s", i+1, events[i], m.Body)
		}
	}

	node.quit(t)
}
