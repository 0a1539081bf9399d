package alertsbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// server is one side's server process: Surge or the baseline.
type server struct {
	name    string
	URL     string // http://127.0.0.1:port
	kafka   string // Surge's embedded broker (host:port); "" for the baseline
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	stats   func() (goStats, error)
	stdin   io.Closer // the baseline's: closing it stops the process
	stopped sync.Once
}

// goStats are a server's subscribers and Go memory, from Surge's /metrics
// (go_memstats_*, go_goroutines, surge_push_*) or the baseline's /stats.
type goStats struct {
	Subscribers float64 `json:"subscribers"`
	Dropped     float64 `json:"dropped"`
	Delivered   float64 `json:"delivered"`
	Goroutines  float64 `json:"goroutines"`
	HeapInuse   float64 `json:"heapInuse"`
	StackInuse  float64 `json:"stackInuse"`
	GCs         float64 `json:"gcs"`        // GC cycles so far
	GCMaxPause  float64 `json:"gcMaxPause"` // seconds: the longest of the last pauses (256 for the baseline, go_gc_duration_seconds' for Surge)
}

// mem is a server's memory at one moment.
type mem struct {
	RSS int64 // VmRSS
	goStats
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cleanEnv is this process's environment without any SURGE_* or BENCH_*
// variable, plus kv ("K=V").
func cleanEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SURGE_") && !strings.HasPrefix(e, "BENCH_") {
			env = append(env, e)
		}
	}
	return append(env, kv...)
}

// start runs cmd with its output in a log file, killed when the benchmark
// ends (and, should this process die first, by the kernel: Pdeathsig).
func start(tb testing.TB, name string, cmd *exec.Cmd) *server {
	tb.Helper()
	s := &server{name: name, cmd: cmd, logPath: filepath.Join(tb.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait() //nolint:errcheck // the exit shows in the log
		logFile.Close()
		close(s.done)
	}()
	tb.Cleanup(func() {
		s.stop()
		if tb.Failed() {
			tb.Logf("last lines of %s's log (%s):\n%s", name, s.logPath, s.tail(30))
		}
	})
	return s
}

// startSurge runs `surge serve` (all roles, embedded Kafka broker) on a
// fresh database and Redis prefix, with nothing of the developer's SURGE_*
// environment, and waits until it answers /readyz.
func startSurge(tb testing.TB) *server {
	tb.Helper()
	if surgeBin == "" {
		tb.Fatal("no surge binary: TestMain builds one when -test.bench is set, or set SURGE_BENCH_BIN")
	}
	addr, broker := freeAddr(tb), freeAddr(tb)
	cmd := exec.Command(surgeBin, "serve")
	cmd.Env = cleanEnv(
		"SURGE_HTTP_ADDR="+addr,
		"SURGE_EMBEDDED_KAFKA_ADDR="+broker, // fixed, for the benchmark's Kafka tap
		"SURGE_DATABASE_URL="+testenv.Database(tb),
		"SURGE_REDIS_URL="+testenv.RedisURL(),
		"SURGE_REDIS_PREFIX="+testenv.RedisPrefix(tb),
		"SURGE_LOG_LEVEL=warn",
	)
	s := start(tb, "surge", cmd)
	s.URL, s.kafka = "http://"+addr, broker
	s.stats = s.surgeStats
	s.waitHTTP(tb, "/readyz", 90*time.Second)
	return s
}

// startBaseline runs this test binary again as the baseline server.
func startBaseline(tb testing.TB) *server {
	tb.Helper()
	addr := freeAddr(tb)
	cmd := exec.Command(os.Args[0])
	cmd.Env = cleanEnv(baselineEnv + "=" + addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s := start(tb, "baseline", cmd)
	s.stdin = stdin
	s.URL = "http://" + addr
	s.stats = s.baselineStats
	s.waitHTTP(tb, "/stats", 30*time.Second)
	return s
}

func (s *server) PID() int { return s.cmd.Process.Pid }

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM (or, for the baseline, its stdin closed),
// then SIGKILL after 20s.
func (s *server) stop() {
	s.stopped.Do(func() {
		if s.stdin != nil {
			s.stdin.Close()
		}
		s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may have exited
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill() //nolint:errcheck
			<-s.done
		}
	})
}

var probe = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (s *server) waitHTTP(tb testing.TB, path string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.exited() {
			tb.Fatalf("%s exited before it was ready:\n%s", s.name, s.tail(30))
		}
		if res, err := probe.Get(s.URL + path); err == nil {
			io.Copy(io.Discard, res.Body) //nolint:errcheck
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s: GET %s not 200 after %s:\n%s", s.name, path, timeout, s.tail(30))
}

func (s *server) tail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mem reads the process's RSS and Go memory.
func (s *server) mem() (mem, error) {
	rss, err := rssOf(s.PID())
	if err != nil {
		return mem{}, err
	}
	st, err := s.stats()
	return mem{RSS: rss, goStats: st}, err
}

func (s *server) get(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	res, err := probe.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", path, res.StatusCode)
	}
	return b, err
}

func (s *server) baselineStats() (goStats, error) {
	var st goStats
	b, err := s.get("/stats")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

func (s *server) surgeStats() (goStats, error) {
	b, err := s.get("/metrics")
	if err != nil {
		return goStats{}, err
	}
	m := promValues(b)
	return goStats{
		Subscribers: m["surge_push_subscribers"],
		Dropped:     m["surge_push_dropped_total"],
		Delivered:   m["surge_push_delivered_total"],
		Goroutines:  m["go_goroutines"],
		HeapInuse:   m["go_memstats_heap_inuse_bytes"],
		StackInuse:  m["go_memstats_stack_inuse_bytes"],
		GCs:         m["go_gc_duration_seconds_count"],
		GCMaxPause:  m[`go_gc_duration_seconds{quantile="1"}`],
	}, nil
}

// promValues reads the series of a Prometheus text exposition, keyed by
// the name and labels as written.
func promValues(text []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// rssOf is a process's VmRSS in bytes (pid 0: this process).
func rssOf(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in " + path)
}
