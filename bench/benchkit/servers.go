package benchkit

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// surgeBin is the surge binary StartSurge runs: set by ProcessMain.
var surgeBin string

// baselineEnv is the variable StartBaseline hands the baseline its address
// in: set by ProcessMain.
var baselineEnv string

// ProcessMain is the TestMain of a benchmark package whose servers run in
// processes of their own (name, e.g. "alertsbench", prefixes its errors).
// With baselineAddrEnv set (to a host:port), this test binary is the
// baseline server that StartBaseline started: it runs runBaseline(addr) and
// exits with its code. Otherwise, when a benchmark may run (-test.bench set;
// plain `go test ./...` runs none, and building takes a while), it finds the
// surge binary StartSurge runs: SURGE_BENCH_BIN, or ./cmd/surge built into a
// temporary directory. Then it runs the tests and exits.
func ProcessMain(m *testing.M, name, baselineAddrEnv string, runBaseline func(addr string) int) {
	baselineEnv = baselineAddrEnv
	if addr := os.Getenv(baselineAddrEnv); addr != "" {
		os.Exit(runBaseline(addr))
	}
	flag.Parse()
	var tmp string
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		surgeBin = os.Getenv("SURGE_BENCH_BIN")
		if surgeBin == "" {
			var err error
			if tmp, err = os.MkdirTemp("", "surge-"+name); err != nil {
				fmt.Fprintln(os.Stderr, name+":", err)
				os.Exit(1)
			}
			surgeBin = filepath.Join(tmp, "surge")
			build := exec.Command("go", "build", "-o", surgeBin, "github.com/surge-platform/surge/cmd/surge")
			build.Stdout, build.Stderr = os.Stdout, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, name+": build surge:", err)
				os.RemoveAll(tmp)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// StartSurge runs `surge serve` (all roles, its embedded Kafka broker on a
// port of its own, in Kafka, for a tap) as "surge" on a fresh database and
// Redis prefix, and waits until it answers /readyz.
func StartSurge(tb testing.TB) *Server {
	tb.Helper()
	broker := FreeAddr(tb)
	return StartSurgeRoles(tb, "surge", "all", broker,
		"SURGE_EMBEDDED_KAFKA_ADDR="+broker,
		"SURGE_DATABASE_URL="+testenv.Database(tb),
		"SURGE_REDIS_PREFIX="+testenv.RedisPrefix(tb))
}

// StartSurgeRoles runs `surge serve --roles roles` as name, with nothing of
// the developer's SURGE_* environment but its HTTP address, the test Redis,
// warnings-only logs and kv ("K=V"), notes broker (the Kafka it uses) in
// Kafka, and waits until it answers /readyz.
func StartSurgeRoles(tb testing.TB, name, roles, broker string, kv ...string) *Server {
	tb.Helper()
	cmd := SurgeCommand(tb, "serve", "--roles", roles)
	addr := FreeAddr(tb)
	cmd.Env = CleanEnv(append([]string{
		"SURGE_HTTP_ADDR=" + addr,
		"SURGE_REDIS_URL=" + testenv.RedisURL(),
		"SURGE_LOG_LEVEL=warn",
	}, kv...)...)
	s := StartProcess(tb, name, cmd)
	s.URL, s.Kafka = "http://"+addr, broker
	s.Stats = s.SurgeStats
	s.WaitHTTP(tb, "/readyz", 90*time.Second)
	return s
}

// SurgeCommand is the surge binary with args, for StartProcess.
func SurgeCommand(tb testing.TB, args ...string) *exec.Cmd {
	tb.Helper()
	if surgeBin == "" {
		tb.Fatal("no surge binary: ProcessMain (the package's TestMain) builds one when -test.bench is set, or set SURGE_BENCH_BIN")
	}
	return exec.Command(surgeBin, args...)
}

// StartBaseline runs this test binary again as the package's baseline
// server (ProcessMain's baseline branch) and waits until it answers /stats.
func StartBaseline(tb testing.TB) *Server {
	tb.Helper()
	if baselineEnv == "" {
		tb.Fatal("no baseline: the package's TestMain must be benchkit.ProcessMain")
	}
	addr := FreeAddr(tb)
	cmd := exec.Command(os.Args[0])
	cmd.Env = CleanEnv(baselineEnv + "=" + addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s := StartProcess(tb, "baseline", cmd)
	s.stdin = stdin
	s.URL = "http://" + addr
	s.Stats = s.BaselineStats
	s.WaitHTTP(tb, "/stats", 30*time.Second)
	return s
}

// ServeBaseline is a baseline server's body: it serves h on addr until its
// standard input closes (the benchmark process holds the other end: when it
// stops the baseline, or dies, so does this) or SIGTERM, and returns the
// exit code, errors on stderr.
func ServeBaseline(addr string, h http.Handler) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // returns when the parent closes the pipe or dies
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	return 0
}
