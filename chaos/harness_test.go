//go:build chaos

// Package chaos drives the BUILT surge binary through failures the tests
// control: the Kafka broker runs in its own process (`surge kafka`, which a
// test can SIGKILL and restart empty), PostgreSQL and Redis can sit behind
// TCP proxies (testenv.Proxy: Cut, Blackhole, Restore), and the HTTP edge is
// attacked over raw connections.
//
// Run the whole suite (builds bin/surge first):
//
//	make chaos
//
// Run one case against a binary you built:
//
//	go build -o bin/surge ./cmd/surge
//	SURGE_CHAOS_BIN=$PWD/bin/surge go test -count=1 -tags chaos -timeout 15m -v \
//	    -run '^TestConnectionCapAnswersFast503$' ./chaos/
//
// With SURGE_CHAOS_BIN empty, TestMain builds ../cmd/surge into a temporary
// directory first. Each test gets its own broker process, database, Redis
// key prefix and surge processes, removed when it ends; when a test fails,
// the last 60 log lines of every process it started are printed.
//
// Writing a case: newStack(t, stackOptions{...}) gives the shared backends
// (and the proxies in front of PostgreSQL and Redis when asked for);
// stack.startSurge(t, env, roles) starts `surge serve` on them and waits
// until it is ready, and startSurge(t, env, roles) does both for a
// single-process case. surgeProc methods (Do, Metrics, Poison, RSS,
// LogLines, Kill, Wait) return errors instead of failing the test, so they
// are safe in load goroutines.
package chaos

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/poison"
	"github.com/surge-platform/surge/internal/testenv"
)

// binary is the surge binary every case runs.
var binary string

// adminToken is the bearer token of /v1/admin/* in every surge process.
const adminToken = "chaos-admin-token"

// logTailLines is how much of each process's log a failed test prints.
const logTailLines = 60

func TestMain(m *testing.M) {
	binary = os.Getenv("SURGE_CHAOS_BIN")
	var tmp string
	if binary == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "surge-chaos"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			os.Exit(1)
		}
		binary = filepath.Join(tmp, "surge")
		build := exec.Command("go", "build", "-o", binary, "../cmd/surge")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: build surge:", err)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// --- processes ---

// proc is a running surge subcommand; stdout and stderr go to one log file,
// which is kept until the test ends.
type proc struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{} // closed when the process has exited
	exitCode int           // valid once done is closed
}

// startProc runs `surge args...` with env on top of this process's
// environment minus every SURGE_* variable (so a developer's settings do
// not leak into a case). It is killed (SIGKILL) when the test ends.
func startProc(t testing.TB, name string, env map[string]string, args ...string) (*proc, error) {
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SURGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // the exit code is read from ProcessState
		logFile.Close()
		p.exitCode = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill(syscall.SIGKILL)  //nolint:errcheck // may have exited already
		p.Wait(10 * time.Second) //nolint:errcheck
		if t.Failed() {
			t.Logf("last %d lines of %s (pid %d, %s):\n%s", logTailLines, p.name, p.PID(), p.logPath, p.tail(logTailLines))
		}
	})
	return p, nil
}

// PID is the process id.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// Kill sends sig to the process (nil if it has exited already).
func (p *proc) Kill(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if it was killed by a signal).
func (p *proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.exitCode, nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s (pid %d) still running after %s", p.name, p.PID(), timeout)
	}
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogLines returns the JSON log lines that contain match.
func (p *proc) LogLines(match string) []string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "{") && strings.Contains(line, match) {
			out = append(out, line)
		}
	}
	return out
}

// hasLine reports whether any line of the log (JSON or not) satisfies match.
func (p *proc) hasLine(match func(string) bool) bool {
	f, err := os.Open(p.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if match(sc.Text()) {
			return true
		}
	}
	return false
}

func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RSS is the process's resident set size in bytes (VmRSS).
func (p *proc) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status (process gone?)")
}

// --- the Kafka broker ---

// startBroker runs `surge kafka` on a free port in its own process and
// waits for its READY line. stop SIGKILLs it and waits until it is gone;
// restart SIGKILLs it and starts a fresh, EMPTY broker on the same address
// (topics exist, every message and consumer offset is lost). Both report a
// failure with t.Errorf, so either may run on any goroutine.
func startBroker(t *testing.T) (addr string, stop func(), restart func()) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var mu sync.Mutex
	var current *proc
	launch := func() error {
		// The port of a killed broker is free at once (Go listeners set
		// SO_REUSEADDR), but a bind can still lose a race: try a few times.
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			var p *proc
			if p, err = startProc(t, "kafka", nil, "kafka", "--addr", addr); err != nil {
				return err
			}
			if err = waitBrokerReady(p, 20*time.Second); err == nil {
				current = p
				return nil
			}
			p.Kill(syscall.SIGKILL) //nolint:errcheck
			p.Wait(5 * time.Second) //nolint:errcheck
			time.Sleep(200 * time.Millisecond)
		}
		return err
	}
	kill := func() error {
		if current == nil {
			return nil
		}
		if err := current.Kill(syscall.SIGKILL); err != nil {
			return err
		}
		_, err := current.Wait(10 * time.Second)
		current = nil
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := launch(); err != nil {
		t.Fatalf("kafka broker: %v", err)
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if err := kill(); err != nil {
			t.Errorf("stop kafka broker: %v", err)
		}
	}
	restart = func() {
		mu.Lock()
		defer mu.Unlock()
		if err := kill(); err != nil {
			t.Errorf("kill kafka broker: %v", err)
			return
		}
		if err := launch(); err != nil {
			t.Errorf("restart kafka broker on %s: %v", addr, err)
		}
	}
	return addr, stop, restart
}

func waitBrokerReady(p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.hasLine(func(l string) bool { return strings.HasPrefix(l, "READY ") }) {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("broker exited with %d before READY:\n%s", p.exitCode, p.tail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("broker not READY after %s", timeout)
}

// --- the backends a test's surge processes share ---

// stackOptions choose which backends sit behind a proxy the test controls.
type stackOptions struct {
	ProxyPostgres bool
	ProxyRedis    bool
}

// stack is one test's backends: a broker process, a fresh database, a Redis
// key prefix, and the proxies asked for. Every surge process started on it
// shares them.
type stack struct {
	Broker        string // the broker's address
	StopBroker    func()
	RestartBroker func() // SIGKILL, then an empty broker on the same address
	DatabaseURL   string // direct; what the test reads through
	RedisPrefix   string
	Postgres      *testenv.Proxy // nil unless ProxyPostgres
	Redis         *testenv.Proxy // nil unless ProxyRedis

	dbOnce sync.Once
	db     *sql.DB
	dbErr  error
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	s := &stack{DatabaseURL: testenv.Database(t), RedisPrefix: testenv.RedisPrefix(t)}
	s.Broker, s.StopBroker, s.RestartBroker = startBroker(t)
	if opts.ProxyPostgres {
		s.Postgres = testenv.NewProxy(t, hostOf(t, s.DatabaseURL))
	}
	if opts.ProxyRedis {
		s.Redis = testenv.NewProxy(t, hostOf(t, testenv.RedisURL()))
	}
	t.Cleanup(func() {
		if s.db != nil {
			s.db.Close()
		}
	})
	return s
}

// env is what every surge process of the stack gets: its backends (through
// the proxies when there are some), JSON logs at info, and the fast retries
// the in-process tests use (testenv.Config).
func (s *stack) env(t testing.TB) map[string]string {
	dbURL, redisURL := s.DatabaseURL, testenv.RedisURL()
	if s.Postgres != nil {
		dbURL = withHost(t, dbURL, s.Postgres.Addr())
	}
	if s.Redis != nil {
		redisURL = withHost(t, redisURL, s.Redis.Addr())
	}
	return map[string]string{
		"SURGE_KAFKA_BROKERS":          s.Broker,
		"SURGE_DATABASE_URL":           dbURL,
		"SURGE_REDIS_URL":              redisURL,
		"SURGE_REDIS_PREFIX":           s.RedisPrefix,
		"SURGE_HTTP_ADDR":              fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"SURGE_METRICS_ADDR":           fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"SURGE_ADMIN_TOKEN":            adminToken,
		"SURGE_LOG_FORMAT":             "json",
		"SURGE_LOG_LEVEL":              "info",
		"SURGE_RETRY_MAX":              "3",
		"SURGE_RETRY_INITIAL_INTERVAL": "20ms",
		"SURGE_RETRY_MAX_INTERVAL":     "100ms",
		"SURGE_RETRY_MAX_ELAPSED":      "5s",
		"SURGE_SHUTDOWN_TIMEOUT":       "10s",
	}
}

// DB is a connection to the stack's database, not through any proxy.
func (s *stack) DB() (*sql.DB, error) {
	s.dbOnce.Do(func() { s.db, s.dbErr = sql.Open("pgx", s.DatabaseURL) })
	return s.db, s.dbErr
}

// CountEvents counts the stored events of a type ("coupon.issued.v1").
func (s *stack) CountEvents(eventType string) (int, error) {
	db, err := s.DB()
	if err != nil {
		return 0, err
	}
	var n int
	err = db.QueryRow(`SELECT count(*) FROM events WHERE event_type = $1`, eventType).Scan(&n)
	return n, err
}

// Publish sends one message to a Kafka topic through Surge's own publisher
// (infra/kafka), with exactly the metadata given: messaging.NameKey
// ("name") is the wire name handlers dispatch on, kafka.PartitionKeyMetadata
// ("partition_key") the Kafka key.
func (s *stack) Publish(topic, messageID string, payload []byte, metadata map[string]string) error {
	pub, err := kafka.NewPublisher([]string{s.Broker}, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("kafka publisher: %w", err)
	}
	defer pub.Close()
	msg := message.NewMessage(messageID, payload)
	maps.Copy(msg.Metadata, metadata)
	if err := pub.Publish(topic, msg); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

func hostOf(t testing.TB, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	return u.Host
}

func withHost(t testing.TB, rawURL, host string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	u.Host = host
	return u.String()
}

// --- surge serve ---

// surgeProc is a running `surge serve`.
type surgeProc struct {
	*proc
	Stack  *stack
	Env    map[string]string // what it was started with
	url    string            // "" without the api role
	client *http.Client
}

// startSurge starts `surge serve` on a stack of its own (no proxies).
func startSurge(t *testing.T, env map[string]string, roles string) *surgeProc {
	t.Helper()
	return newStack(t, stackOptions{}).startSurge(t, env, roles)
}

// startSurge runs `surge serve --roles roles` ("" for all) on the stack,
// with env over the stack's settings, and waits until it is ready: /readyz
// answers 200 (api role) and it logged "surge is running" (its router and
// forwarders run).
func (s *stack) startSurge(t *testing.T, env map[string]string, roles string) *surgeProc {
	t.Helper()
	vars := s.env(t)
	maps.Copy(vars, env)
	args := []string{"serve"}
	if roles != "" {
		args = append(args, "--roles", roles)
	}
	p, err := startProc(t, "surge-"+strings.NewReplacer(",", "+").Replace(cmpOr(roles, "all")), vars, args...)
	if err != nil {
		t.Fatal(err)
	}
	sp := &surgeProc{proc: p, Stack: s, Env: vars,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if hasRole(roles, "api") {
		sp.url = "http://" + vars["SURGE_HTTP_ADDR"]
	}
	t.Cleanup(sp.client.CloseIdleConnections)
	if err := sp.waitReady(60 * time.Second); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return sp
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func hasRole(roles, role string) bool {
	if roles == "" {
		return true
	}
	for _, r := range strings.Split(roles, ",") {
		if r = strings.TrimSpace(r); r == role || r == "all" {
			return true
		}
	}
	return false
}

func (s *surgeProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	// Readiness probes use a connection each, closed at once, so they do not
	// linger in the server's connection count.
	probe := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	httpReady := s.url == ""
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("exited with %d before ready", s.exitCode)
		}
		if !httpReady {
			if res, err := probe.Get(s.url + "/readyz"); err == nil {
				io.Copy(io.Discard, res.Body) //nolint:errcheck
				res.Body.Close()
				httpReady = res.StatusCode == http.StatusOK
			}
		}
		if httpReady && len(s.LogLines(`"msg":"surge is running"`)) > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", timeout)
}

// URL is the API's base URL ("http://127.0.0.1:PORT"); "" without the api role.
func (s *surgeProc) URL() string { return s.url }

// Addr is the API's host:port.
func (s *surgeProc) Addr() string { return strings.TrimPrefix(s.url, "http://") }

// Do sends one request. body is sent as is if it is a string or []byte and
// as JSON otherwise (nil: no body); a body gets Content-Type
// application/json unless headers set one. headers are name, value pairs.
func (s *surgeProc) Do(method, path string, body any, headers ...string) (int, []byte, http.Header, error) {
	if s.url == "" {
		return 0, nil, nil, errors.New("this surge process has no api role")
	}
	if len(headers)%2 != 0 {
		return 0, nil, nil, fmt.Errorf("headers must be name, value pairs: %q", headers)
	}
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			return 0, nil, nil, err
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequest(method, s.url+path, reader)
	if err != nil {
		return 0, nil, nil, err
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, res.Header, err
}

// MetricsAt is the text of /metrics of a process without the api role
// (served on SURGE_METRICS_ADDR).
func (s *surgeProc) MetricsAt() (string, error) {
	res, err := s.client.Get("http://" + s.Env["SURGE_METRICS_ADDR"] + "/metrics")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics on %s: %d", s.Env["SURGE_METRICS_ADDR"], res.StatusCode)
	}
	return string(b), err
}

// Metrics is the text of /metrics.
func (s *surgeProc) Metrics() (string, error) {
	status, body, _, err := s.Do(http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", status)
	}
	return string(body), nil
}

// Poison lists the poison queue through GET /v1/admin/poison.
func (s *surgeProc) Poison() ([]poison.Entry, error) {
	status, body, _, err := s.Do(http.MethodGet, "/v1/admin/poison?limit=1000", nil, "Authorization", "Bearer "+adminToken)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/admin/poison: %d %s", status, body)
	}
	var entries []poison.Entry
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, fmt.Errorf("poison list %s: %w", body, err)
	}
	return entries, nil
}

// CouponStatus is GET /v1/campaigns/{campaign}/coupons/{user}'s "status"
// ("" with the HTTP status when there is none).
func (s *surgeProc) CouponStatus(campaign, user string) (string, error) {
	status, body, _, err := s.Do(http.MethodGet, "/v1/campaigns/"+campaign+"/coupons/"+url.PathEscape(user), nil)
	if err != nil {
		return "", err
	}
	if status == http.StatusNotFound {
		return "", nil
	}
	var v struct {
		Status string `json:"status"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return "", fmt.Errorf("coupon %s/%s: %d %s", campaign, user, status, body)
	}
	return v.Status, nil
}

// --- Prometheus text ---

// sample is one series of a metric.
type sample struct {
	Labels map[string]string
	Value  float64
}

// metricSamples returns every series of the metric name in a /metrics text.
func metricSamples(text, name string) []sample {
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels := map[string]string{}
		if rest[0] == '{' {
			var ok bool
			if labels, rest, ok = parseLabels(rest[1:]); !ok {
				continue
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out = append(out, sample{Labels: labels, Value: v})
	}
	return out
}

// parseLabels reads `a="x",b="y"}` and returns the labels and what follows.
func parseLabels(s string) (map[string]string, string, bool) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], true
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return nil, "", false
		}
		name := s[:eq]
		s = s[eq+2:]
		var value strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					value.WriteByte('\n')
				default:
					value.WriteByte(s[i])
				}
				continue
			}
			value.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", false
		}
		labels[name] = value.String()
		s = s[i+1:]
	}
}

// metricValue sums the series of name whose labels include every given
// name, value pair.
func metricValue(text, name string, labels ...string) float64 {
	var sum float64
	for _, s := range metricSamples(text, name) {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				match = false
				break
			}
		}
		if match {
			sum += s.Value
		}
	}
	return sum
}

// --- raw HTTP/1.1 connections ---

// rawConn is a client connection the test writes bytes to by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(addr string, timeout time.Duration) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// roundTrip writes req and reads one response (body included) before
// deadline.
func (c *rawConn) roundTrip(req string, deadline time.Time) (*http.Response, []byte, error) {
	c.SetDeadline(deadline)          //nolint:errcheck
	defer c.SetDeadline(time.Time{}) //nolint:errcheck
	if _, err := io.WriteString(c, req); err != nil {
		return nil, nil, err
	}
	return c.readResponse()
}

func (c *rawConn) readResponse() (*http.Response, []byte, error) {
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// errorCode is the "code" of a {"error":{"code":...}} body ("" if none).
func errorCode(body []byte) string {
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(body, &v) //nolint:errcheck
	return v.Error.Code
}

// isClosedErr reports whether a read error means the peer closed the
// connection (FIN or RST), as opposed to our own deadline.
func isClosedErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// eventually polls cond every 10ms until it holds or timeout passes; it
// returns how long that took, or an error saying what never happened.
func eventually(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return time.Since(start), nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			if lastErr != nil {
				return time.Since(start), fmt.Errorf("%s: not within %s (last error: %w)", what, timeout, lastErr)
			}
			return time.Since(start), fmt.Errorf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
