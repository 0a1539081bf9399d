package chatbench

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
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// server is a server process of BenchmarkChatFanOut: Surge (`surge serve`)
// or the SSE baseline (this test binary run again).
type server struct {
	name  string
	URL   string // http://127.0.0.1:port
	kafka string // Surge's Kafka broker (host:port); "" for the baseline
	// postURL is where messages are posted ("": URL); others are the
	// processes of a split deployment other than this one (the push).
	postURL  string
	others   []*server
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{} // closed when the process has exited
	stats    func() (goStats, error)
	stdin    io.Closer // the baseline's: closing it stops the process
	stopped  sync.Once
	stopping atomic.Bool
}

// goStats are a server's subscribers and Go memory, from Surge's /metrics
// or the baseline's /stats.
type goStats struct {
	Subscribers float64 `json:"subscribers"`
	Dropped     float64 `json:"dropped"`
	Goroutines  float64 `json:"goroutines"`
	HeapInuse   float64 `json:"heapInuse"`
	StackInuse  float64 `json:"stackInuse"`
	GCs         float64 `json:"gcs"`
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

// start runs cmd with its output in a log file, stopped when the benchmark
// ends (and, should this process die first, killed by the kernel:
// Pdeathsig).
func start(tb testing.TB, name string, cmd *exec.Cmd) *server {
	tb.Helper()
	s := &server{name: name, cmd: cmd, logPath: filepath.Join(tb.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that forked the child ends, not the
	// process: the goroutine that starts it keeps its thread until the
	// child has exited.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		if !s.stopping.Load() {
			fmt.Fprintf(logFile, "bench: the process exited by itself: %v\n", err)
		}
		logFile.Close()
		close(s.done)
	}()
	if err := <-started; err != nil {
		logFile.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
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
	broker := freeAddr(tb)
	return startServe(tb, "surge", "all", broker,
		"SURGE_EMBEDDED_KAFKA_ADDR="+broker, // fixed, for the benchmark's Kafka tap
		"SURGE_DATABASE_URL="+testenv.Database(tb),
		"SURGE_REDIS_PREFIX="+testenv.RedisPrefix(tb))
}

// startSplit runs Surge as three processes on one fresh database and Redis
// prefix: a Kafka broker (`surge kafka`), `surge serve --roles
// api,commands,forwarder,projections` (where messages are posted) and
// `surge serve --roles push` (where the streams are). It returns the push
// process, which knows the others.
func startSplit(tb testing.TB) *server {
	tb.Helper()
	broker := freeAddr(tb)
	k := start(tb, "kafka", exec.Command(surgeBin, "kafka", "--addr", broker))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", broker, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if k.exited() || time.Now().After(deadline) {
			tb.Fatalf("the Kafka broker is not listening on %s: %v\n%s", broker, err, k.tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	env := []string{"SURGE_KAFKA_BROKERS=" + broker, "SURGE_DATABASE_URL=" + testenv.Database(tb), "SURGE_REDIS_PREFIX=" + testenv.RedisPrefix(tb)}
	rest := startServe(tb, "surge-api", "api,commands,forwarder,projections", broker, env...)
	push := startServe(tb, "surge-push", "push", broker, env...)
	push.postURL, push.others = rest.URL, []*server{rest, k}
	return push
}

// startServe runs `surge serve --roles roles` with nothing of the
// developer's SURGE_* environment but kv, and waits for /readyz.
func startServe(tb testing.TB, name, roles, broker string, kv ...string) *server {
	tb.Helper()
	if surgeBin == "" {
		tb.Fatal("no surge binary: TestMain builds one when -test.bench is set, or set SURGE_BENCH_BIN")
	}
	addr := freeAddr(tb)
	cmd := exec.Command(surgeBin, "serve", "--roles", roles)
	cmd.Env = cleanEnv(append([]string{
		"SURGE_HTTP_ADDR=" + addr,
		"SURGE_REDIS_URL=" + testenv.RedisURL(),
		"SURGE_LOG_LEVEL=warn",
	}, kv...)...)
	s := start(tb, name, cmd)
	s.URL, s.kafka = "http://"+addr, broker
	s.stats = s.surgeStats
	s.waitHTTP(tb, "/readyz", 90*time.Second)
	return s
}

// post is where messages are posted.
func (s *server) post() string {
	if s.postURL != "" {
		return s.postURL
	}
	return s.URL
}

// pids are the server's processes.
func (s *server) pids() []int {
	out := []int{s.PID()}
	for _, o := range s.others {
		out = append(out, o.PID())
	}
	return out
}

// startBaseline runs this test binary again as the SSE baseline server.
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

// stop ends the process: SIGTERM (and, for the baseline, its stdin
// closed), then SIGKILL after 20s.
func (s *server) stop() {
	for _, o := range s.others {
		defer o.stop()
	}
	s.stopped.Do(func() {
		s.stopping.Store(true)
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

var probe = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

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
		Goroutines:  m["go_goroutines"],
		HeapInuse:   m["go_memstats_heap_inuse_bytes"],
		StackInuse:  m["go_memstats_stack_inuse_bytes"],
		GCs:         m["go_gc_duration_seconds_count"],
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

// procField reads a "Key:   value ..." line of /proc/<pid>/status or
// limits (pid 0: this process).
func procField(pid int, file, key string) (string, error) {
	path := "/proc/self/" + file
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/%s", pid, file)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(strings.TrimPrefix(rest, ":")), nil
		}
	}
	return "", errors.New("no " + key + " in " + path)
}

// rssOf is a process's VmRSS in bytes (pid 0: this process).
func rssOf(pid int) (int64, error) {
	v, err := procField(pid, "status", "VmRSS")
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	return kb << 10, err
}

// openFilesLimit is a process's soft RLIMIT_NOFILE, from /proc/<pid>/limits.
func openFilesLimit(pid int) (int, error) {
	v, err := procField(pid, "limits", "Max open files")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, errors.New("empty Max open files")
	}
	if f[0] == "unlimited" {
		return 1 << 30, nil
	}
	return strconv.Atoi(f[0])
}

// raiseNoFile makes this process's soft RLIMIT_NOFILE at least need (up to
// the hard limit) and returns the soft limit it ends with. Servers this
// process starts inherit it.
func raiseNoFile(need int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < uint64(need) && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, uint64(need))
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return int(min(lim.Cur, 1<<30)), nil
}

// --- CPU accounting (/proc; elsewhere "n/a") ---

const clockTicks = 100 // USER_HZ

type cpuSample struct {
	at                      time.Time
	tasks, irq, steal       float64 // machine-wide: user+nice+system, irq+softirq, steal
	self, server, pg, redis float64
	others                  map[int]procTicks // every other process
	ok                      bool
}

type procTicks struct {
	comm  string
	ticks float64
}

// cpuUsage is in cores (1.0 = one core busy for the whole interval).
type cpuUsage struct {
	ok                                         bool
	self, server, pg, redis, irq, other, steal float64
	busiest                                    string // the other processes that used the most, "go 0.52, e2e.test 0.31"
}

func sampleCPU(serverPIDs ...int) cpuSample {
	s := cpuSample{at: time.Now(), others: map[int]procTicks{}}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		switch i {
		case 0, 1, 2:
			s.tasks += n
		case 5, 6:
			s.irq += n
		case 7:
			s.steal += n
		}
	}
	self := os.Getpid()
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		comm, ticks, ppid, children := procStat(p)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		switch {
		case pid == self:
			s.self = ticks
		case slices.Contains(serverPIDs, pid):
			s.server += ticks
		case comm == "postgres":
			if ppid == 1 {
				ticks += children // backends that exited
			}
			s.pg += ticks
		case strings.HasPrefix(comm, "redis-server"):
			s.redis += ticks
		default:
			s.others[pid] = procTicks{comm, ticks}
		}
	}
	s.ok = true
	return s
}

// procStat reads comm, utime+stime, the parent's pid and cutime+cstime.
func procStat(path string) (comm string, ticks float64, ppid int, children float64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0, 0
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, 0, 0
	}
	f := strings.Fields(string(b[end+1:])) // f[0] = state (field 3)
	if len(f) < 15 {
		return string(b[open+1 : end]), 0, 0, 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	cu, _ := strconv.ParseFloat(f[13], 64)
	cs, _ := strconv.ParseFloat(f[14], 64)
	ppid, _ = strconv.Atoi(f[1])
	return string(b[open+1 : end]), u + st, ppid, cu + cs
}

func cpuBetween(a, b cpuSample) cpuUsage {
	if !a.ok || !b.ok {
		return cpuUsage{}
	}
	secs := b.at.Sub(a.at).Seconds()
	per := func(d float64) float64 { return max(0, d) / clockTicks / secs }
	u := cpuUsage{ok: true, self: per(b.self - a.self), server: per(b.server - a.server), pg: per(b.pg - a.pg),
		redis: per(b.redis - a.redis), irq: per(b.irq - a.irq), steal: per(b.steal - a.steal)}
	u.other = max(0, per(b.tasks-a.tasks)-u.self-u.server-u.pg-u.redis)
	byComm := map[string]float64{}
	for pid, e := range b.others {
		if d := per(e.ticks - a.others[pid].ticks); d > 0 {
			byComm[e.comm] += d
		}
	}
	type top struct {
		comm  string
		cores float64
	}
	var tops []top
	for c, v := range byComm {
		if v >= 0.02 {
			tops = append(tops, top{c, v})
		}
	}
	sort.Slice(tops, func(i, j int) bool { return tops[i].cores > tops[j].cores })
	var parts []string
	for i, t := range tops {
		if i == 4 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", t.comm, t.cores))
	}
	u.busiest = strings.Join(parts, ", ")
	return u
}

// short renders "server 1.21 client 0.40 pg 0.05 redis 0.01 irq 0.08 other 0.02".
func (u cpuUsage) short(server string) string {
	if !u.ok {
		return "n/a"
	}
	s := ""
	if server != "" {
		s = fmt.Sprintf("%s %.2f ", server, u.server)
	}
	s += fmt.Sprintf("bench %.2f pg %.2f redis %.2f irq %.2f other %.2f", u.self, u.pg, u.redis, u.irq, u.other)
	if u.steal >= 0.01 {
		s += fmt.Sprintf(" steal %.2f", u.steal)
	}
	return s
}

// noisy says another workload used enough CPU to distort a run.
func (u cpuUsage) noisy() bool { return u.ok && u.other+u.steal > 0.15 }

// schedDelay measures how late this process's goroutines are woken: a 5 ms
// sleep, over and over, until stop (at most limit times). A client short of
// CPU shows here before it shows in the latencies.
func schedDelay(stop <-chan struct{}, out chan<- []time.Duration, limit int) {
	const nap = 5 * time.Millisecond
	var delays []time.Duration
	for i := 0; i < limit; i++ {
		select {
		case <-stop:
			out <- delays
			return
		default:
		}
		t := time.Now()
		time.Sleep(nap)
		delays = append(delays, max(0, time.Since(t)-nap))
	}
	<-stop
	out <- delays
}
