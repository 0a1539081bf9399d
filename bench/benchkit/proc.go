package benchkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Server is a server process a benchmark started (Surge or a baseline): its
// output goes to a log file, whose last lines are logged if the benchmark
// fails, and it is stopped when the benchmark ends.
type Server struct {
	Name  string
	URL   string // http://127.0.0.1:port
	Kafka string // Surge's Kafka broker (host:port); "" for a baseline
	// Stats reads the server's subscribers and Go memory (SurgeStats or
	// BaselineStats).
	Stats func() (GoStats, error)

	cmd      *exec.Cmd
	logPath  string
	done     chan struct{} // closed when the process has exited
	stdin    io.Closer     // closed first by Stop: a baseline serves until it is
	stopped  sync.Once
	stopping atomic.Bool
}

// FreeAddr is a 127.0.0.1 address with a port free at the moment.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// CleanEnv is this process's environment without any SURGE_* or BENCH_*
// variable, plus kv ("K=V").
func CleanEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SURGE_") && !strings.HasPrefix(e, "BENCH_") {
			env = append(env, e)
		}
	}
	return append(env, kv...)
}

// StartProcess runs cmd as the server name, its output in a log file,
// stopped when the benchmark ends and, should this process die first, killed
// by the kernel (Pdeathsig).
//
// Pdeathsig fires when the thread that forked the child ends, not the
// process: cmd is started from a goroutine locked to its OS thread, which
// keeps it until the child has exited, so that the Go runtime cannot retire
// that thread and take the child with it mid-run.
func StartProcess(tb testing.TB, name string, cmd *exec.Cmd) *Server {
	tb.Helper()
	s := &Server{Name: name, cmd: cmd, logPath: filepath.Join(tb.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
		s.Stop()
		if tb.Failed() {
			tb.Logf("last lines of %s's log (%s):\n%s", name, s.logPath, s.Tail(30))
		}
	})
	return s
}

// PID is the process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Exited says whether the process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGTERM (and, for a baseline, its stdin closed),
// then SIGKILL after 20s. Later calls do nothing.
func (s *Server) Stop() {
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

// probe is the client of readiness checks and stats: a connection a
// request, so that it holds none of the server's connections.
var probe = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// WaitHTTP waits until GET path answers 200, failing the benchmark (with
// the log's last lines) if the process exits first or timeout passes.
func (s *Server) WaitHTTP(tb testing.TB, path string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.Exited() {
			tb.Fatalf("%s exited before it was ready:\n%s", s.Name, s.Tail(30))
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
	tb.Fatalf("%s: GET %s not 200 after %s:\n%s", s.Name, path, timeout, s.Tail(30))
}

// Tail is the last n lines of the process's log.
func (s *Server) Tail(n int) string {
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

// Get reads GET path's body; an answer other than 200 is an error.
func (s *Server) Get(path string) ([]byte, error) {
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

// WaitSubscribers waits up to 60s until the server counts at least want
// subscribers (its Stats), else fails the benchmark as "what: ...".
func (s *Server) WaitSubscribers(tb testing.TB, what string, want int) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := s.Stats()
		if err == nil && int(st.Subscribers) >= want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %v subscribers after 60s, want %d (err %v)", what, st.Subscribers, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
