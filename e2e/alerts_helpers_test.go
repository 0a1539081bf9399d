//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// This file: processes started with a clean environment (none of the
// developer's SURGE_* settings), and the alert flow's HTTP calls.

const alertLogTail = 60 // lines of each process log shown when a test fails

// startCleanProc runs the binary with args, with env on top of this
// process's environment minus every SURGE_* variable; its output goes to a
// log file whose last lines are shown if the test fails. It is killed
// (SIGKILL) when the test ends.
func startCleanProc(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SURGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("last %d lines of %s (pid %d, %s):\n%s", alertLogTail, name, cmd.Process.Pid, logPath, fileTail(logPath, alertLogTail))
		}
	})
	return p
}

func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(b), n)
}

// logHas says whether the process logged a line containing s.
func (p *proc) logHas(s string) bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte(s))
}

// exited says whether the process has ended (without waiting).
func (p *proc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err // for wait
		return true
	default:
		return false
	}
}

// startCleanBroker runs `surge kafka` and waits for its READY line.
func startCleanBroker(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startCleanProc(t, "kafka", nil, "kafka", "--addr", addr)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(p.log); bytes.HasPrefix(b, []byte("READY ")) || bytes.Contains(b, []byte("\nREADY ")) {
			return addr
		}
		if p.exited() {
			t.Fatalf("the broker exited before it was ready:\n%s", fileTail(p.log, alertLogTail))
		}
	}
	t.Fatal("the broker printed no READY line within 30s")
	return ""
}

// alertStack is what the Surge processes of a test share: one database, one
// Redis prefix, one broker.
type alertStack struct {
	env map[string]string
}

func newAlertStack(t *testing.T) *alertStack {
	t.Helper()
	return &alertStack{env: map[string]string{
		"SURGE_DATABASE_URL":  testenv.Database(t),
		"SURGE_REDIS_URL":     testenv.RedisURL(),
		"SURGE_REDIS_PREFIX":  testenv.RedisPrefix(t),
		"SURGE_KAFKA_BROKERS": startCleanBroker(t),
		"SURGE_LOG_FORMAT":    "json",
		"SURGE_LOG_LEVEL":     "info",
		"SURGE_ADMIN_TOKEN":   "e2e-admin-token",
	}}
}

// serving is a running `surge serve` and its base URL.
type serving struct {
	*proc
	name string
	URL  string // http://127.0.0.1:PORT
}

// serve runs `surge serve [--roles roles]` ("" for every role) on the
// stack, on a port of its own, and waits until it is ready: /readyz answers
// 200 and it logged "surge is running".
func (s *alertStack) serve(t *testing.T, name, roles string) *serving {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := maps.Clone(s.env)
	env["SURGE_HTTP_ADDR"] = addr
	args := []string{"serve"}
	if roles != "" {
		args = append(args, "--roles", roles)
	}
	sv := &serving{proc: startCleanProc(t, name, env, args...), name: name, URL: "http://" + addr}
	probe := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	httpReady := false
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sv.exited() {
			t.Fatalf("%s exited before it was ready", name)
		}
		if !httpReady {
			if res, err := probe.Get(sv.URL + "/readyz"); err == nil {
				io.Copy(io.Discard, res.Body) //nolint:errcheck
				res.Body.Close()
				httpReady = res.StatusCode == http.StatusOK
			}
		}
		if httpReady && sv.logHas(`"msg":"surge is running"`) {
			return sv
		}
	}
	t.Fatalf("%s not ready within 90s (readyz 200: %v)", name, httpReady)
	return nil
}

// alertHTTP is a client of the alert API.
var alertHTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// post sends a JSON body and returns the status and the body.
func post(base, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	res, err := alertHTTP.Post(base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// raised is an alert the API answered 202 for.
type raised struct {
	ID      string
	Complex string
	House   string
	Text    string
	Sent    time.Time // the request was sent
	At      time.Time // the 202 was read
}

// raise raises an alert; anything but a 202 {"alertId","status":"raised"}
// is an error.
func raise(base, complex, house, text string, lat, lng float64) (raised, error) {
	r := raised{Complex: complex, House: house, Text: text, Sent: time.Now()}
	status, body, err := post(base, "/v1/complexes/"+complex+"/alerts", map[string]any{"house": house, "text": text, "lat": lat, "lng": lng})
	r.At = time.Now()
	if err != nil {
		return r, fmt.Errorf("raise in %s: %w", complex, err)
	}
	var v struct{ AlertID, Status string }
	if status != http.StatusAccepted || json.Unmarshal(body, &v) != nil || v.AlertID == "" || v.Status != "raised" {
		return r, fmt.Errorf("raise in %s: %d %s", complex, status, body)
	}
	r.ID = v.AlertID
	return r, nil
}

func mustRaise(t *testing.T, base, complex, house, text string) raised {
	t.Helper()
	r, err := raise(base, complex, house, text, 37.51, 127.02)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// alertFeed is GET /v1/complexes/{c}/alerts?after=0&limit=500: the events
// as the bytes served, and the last position.
func alertFeed(t *testing.T, base, complex string) ([]json.RawMessage, int64) {
	t.Helper()
	res, err := alertHTTP.Get(base + "/v1/complexes/" + complex + "/alerts?after=0&limit=500")
	testenv.Must(t, err, "feed of %s", complex)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	testenv.Must(t, err, "feed of %s", complex)
	var v struct {
		Events   []json.RawMessage `json:"events"`
		Position int64             `json:"position"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("feed of %s: %d %s", complex, res.StatusCode, body)
	}
	return v.Events, v.Position
}

// waitUntil polls cond every 10ms until it holds or timeout passes; it
// fails the test with what() then.
func waitUntil(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
