package chatbench

import (
	"testing"

	"github.com/surge-platform/surge/bench/benchkit"
)

// baselineEnv, when set (to a host:port), makes this test binary the SSE
// fan-out baseline server instead of running tests: see runBaseline.
const baselineEnv = "BENCH_CHAT_BASELINE_ADDR"

// TestMain is the SSE baseline server, or builds the surge binary
// BenchmarkChatFanOut runs (SURGE_BENCH_BIN, else ./cmd/surge) and runs the
// tests.
func TestMain(m *testing.M) { benchkit.ProcessMain(m, "chatbench", baselineEnv, runBaseline) }
