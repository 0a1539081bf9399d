//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// syncBuffer is make's output, read while make writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `make run` is what a new user types. It must stop, cleanly and with its
// vendor simulator, on SIGTERM to make's own PID (what a process manager
// or `kill` sends) and on Ctrl-C (SIGINT to the whole foreground process
// group), and say nothing like "make: *** ... Error" on the way out.
func TestMakeRunStopsCleanlyOnSignals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group bool // signal the process group (Ctrl-C), not make alone
		sig   syscall.Signal
	}{
		{"SIGTERM to make", false, syscall.SIGTERM},
		{"SIGINT to make", false, syscall.SIGINT},
		{"Ctrl-C", true, syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			simAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			cmd := exec.Command("make", "--no-print-directory", "run")
			cmd.Dir = ".."
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "SURGE_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env,
				"SURGE_HTTP_ADDR="+httpAddr,
				"SURGE_DATABASE_URL="+testenv.Database(t),
				"SURGE_REDIS_PREFIX="+testenv.RedisPrefix(t),
				"VENDOR_SIM_ADDR="+simAddr,
			)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's job
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
				if t.Failed() {
					t.Logf("make run printed:\n%s", out.String())
				}
			})

			ready := false
			for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(100 * time.Millisecond) {
				select {
				case err := <-done:
					t.Fatalf("make run exited before it was ready: %v", err)
				default:
				}
				if res, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
					res.Body.Close()
					ready = res.StatusCode == http.StatusOK
				}
			}
			if !ready {
				t.Fatal("make run did not answer /healthz within 90s")
			}
			if res, err := http.Get("http://" + simAddr + "/stats"); err != nil {
				t.Fatalf("the vendor simulator is not running: %v", err)
			} else {
				res.Body.Close()
			}

			pid := cmd.Process.Pid
			if tc.group {
				pid = -pid
			}
			t0 := time.Now()
			if err := syscall.Kill(pid, tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("make run still running 30s after %s", tc.name)
			}
			took := time.Since(t0)
			text := out.String()
			t.Logf("%s: make exited (%s) in %s", tc.name, cmd.ProcessState, took.Round(time.Millisecond))
			if strings.Contains(text, "make: ***") || strings.Contains(text, "Error ") {
				t.Errorf("make run printed an error on the way out:\n%s", lastLines(text, 10))
			}
			if !strings.Contains(text, "stopped") {
				t.Errorf("surge did not log its graceful stop:\n%s", lastLines(text, 10))
			}
			// Nothing of the group is left: serve and the vendor simulator
			// stopped with make.
			gone := time.Now().Add(3 * time.Second)
			for syscall.Kill(-cmd.Process.Pid, 0) == nil && time.Now().Before(gone) {
				time.Sleep(50 * time.Millisecond)
			}
			if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
				t.Errorf("processes of make's group are still running after %s", tc.name)
			}
			if res, err := http.Get("http://" + simAddr + "/stats"); err == nil {
				res.Body.Close()
				t.Errorf("the vendor simulator still answers after %s", tc.name)
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
