package benchkit

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvInt reads a positive integer from the environment, def if unset.
func EnvInt(tb testing.TB, key string, def int) int {
	v := strings.TrimSpace(os.Getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q must be a positive integer", key, v)
	}
	return n
}

// EnvDuration reads a positive duration ("30s") from the environment, def if
// unset.
func EnvDuration(tb testing.TB, key string, def time.Duration) time.Duration {
	return envDuration(tb, key, def, false)
}

// EnvDurationOrZero is EnvDuration that also accepts 0.
func EnvDurationOrZero(tb testing.TB, key string, def time.Duration) time.Duration {
	return envDuration(tb, key, def, true)
}

func envDuration(tb testing.TB, key string, def time.Duration, zeroOK bool) time.Duration {
	v := strings.TrimSpace(os.Getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case zeroOK && (err != nil || d < 0):
		tb.Fatalf("%s=%q must be a duration like 30s", key, v)
	case !zeroOK && (err != nil || d <= 0):
		tb.Fatalf("%s=%q must be a positive duration like 30s", key, v)
	}
	return d
}

// EnvInts reads a comma-separated list of positive integers, def if unset
// ("" = none).
func EnvInts(tb testing.TB, key, def string) []int {
	v, ok := os.LookupEnv(key)
	if !ok {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			tb.Fatalf("%s=%q must be a comma-separated list of positive integers", key, v)
		}
		out = append(out, n)
	}
	return out
}

// Must fails the benchmark with "what: err" if err is not nil.
func Must(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
