package chatbench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// baselineEnv, when set (to a host:port), makes this test binary the SSE
// fan-out baseline server instead of running tests: see runBaseline.
const baselineEnv = "BENCH_CHAT_BASELINE_ADDR"

// surgeBin is the surge binary BenchmarkChatFanOut runs: SURGE_BENCH_BIN,
// or built by TestMain into a temporary directory when a benchmark is asked
// for.
var surgeBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv(baselineEnv); addr != "" {
		os.Exit(runBaseline(addr))
	}
	flag.Parse()
	var tmp string
	// Building takes a while: only when a benchmark may run (plain
	// `go test ./...` runs none here).
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		surgeBin = os.Getenv("SURGE_BENCH_BIN")
		if surgeBin == "" {
			var err error
			if tmp, err = os.MkdirTemp("", "surge-bench-chat"); err != nil {
				fmt.Fprintln(os.Stderr, "chatbench:", err)
				os.Exit(1)
			}
			surgeBin = filepath.Join(tmp, "surge")
			build := exec.Command("go", "build", "-o", surgeBin, "../../cmd/surge")
			build.Stdout, build.Stderr = os.Stdout, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "chatbench: build surge:", err)
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
