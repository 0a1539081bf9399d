//go:build e2e

// Package e2e runs the built surge binary as separate processes (the Kafka
// broker in one, Surge in another) so tests can kill them.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	binary = os.Getenv("SURGE_E2E_BIN")
	if binary == "" {
		dir, err := os.MkdirTemp("", "surge-e2e")
		if err != nil {
			panic(err)
		}
		binary = filepath.Join(dir, "surge")
		build := exec.Command("go", "build", "-o", binary, "../cmd/surge")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	removeTools()
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a running surge subcommand whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), strings.Join(args[:1], "-")+fmt.Sprintf("-%d.log", time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	// The developer's own SURGE_* settings must not reach the processes.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SURGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("last lines of %s:\n%s", logPath, strings.Join(lines, "\n"))
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(sig) //nolint:errcheck
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %s", timeout)
		return -1
	}
}

// startBroker runs `surge kafka` and waits for its READY line.
func startBroker(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := start(t, nil, "kafka", "--addr", addr)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(p.log)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "READY ") {
					f.Close()
					return addr
				}
			}
			f.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("broker not ready")
	return ""
}

// waitReady polls /readyz until 200.
func waitReady(t *testing.T, base string, p *proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case err := <-p.done:
			t.Fatalf("surge exited before ready: %v", err)
		default:
		}
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("surge not ready after 60s")
}
