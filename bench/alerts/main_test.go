package alertsbench

import (
	"testing"

	"github.com/surge-platform/surge/bench/benchkit"
)

// baselineEnv, when set (to a host:port), makes this test binary the
// baseline server instead of running tests: see runBaseline.
const baselineEnv = "BENCH_ALERTS_BASELINE_ADDR"

// TestMain is the baseline server, or builds the surge binary the
// benchmark runs (SURGE_BENCH_BIN, else ./cmd/surge) and runs the tests.
func TestMain(m *testing.M) { benchkit.ProcessMain(m, "alertsbench", baselineEnv, runBaseline) }
