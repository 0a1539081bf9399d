package benchkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
)

// GoStats are a server's push subscribers and Go memory, from Surge's
// /metrics (surge_push_*, go_goroutines, go_memstats_*, go_gc_*) or a
// baseline's /stats (Hub.ServeStats).
type GoStats struct {
	Subscribers float64 `json:"subscribers"`
	Dropped     float64 `json:"dropped"`   // subscribers dropped as too slow
	Delivered   float64 `json:"delivered"` // notices handed to subscribers
	Goroutines  float64 `json:"goroutines"`
	HeapInuse   float64 `json:"heapInuse"`
	StackInuse  float64 `json:"stackInuse"`
	GCs         float64 `json:"gcs"`        // GC cycles so far
	GCMaxPause  float64 `json:"gcMaxPause"` // seconds: the longest of the last pauses (256 for a baseline, go_gc_duration_seconds' for Surge)
}

// SurgeStats reads the server's GoStats from Surge's /metrics.
func (s *Server) SurgeStats() (GoStats, error) {
	b, err := s.Get("/metrics")
	if err != nil {
		return GoStats{}, err
	}
	m := PromValues(b)
	return GoStats{
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

// BaselineStats reads the server's GoStats from a baseline's /stats.
func (s *Server) BaselineStats() (GoStats, error) {
	var st GoStats
	b, err := s.Get("/stats")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

// PromValues reads the series of a Prometheus text exposition, keyed by
// the name and labels as written.
func PromValues(text []byte) map[string]float64 {
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

// RuntimeStats are this process's Go figures of GoStats (no forced GC, as
// Surge's /metrics): a baseline's, for its /stats.
func RuntimeStats() GoStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var maxPause uint64
	for _, p := range ms.PauseNs {
		maxPause = max(maxPause, p)
	}
	return GoStats{
		Goroutines: float64(runtime.NumGoroutine()),
		HeapInuse:  float64(ms.HeapInuse),
		StackInuse: float64(ms.StackInuse),
		GCs:        float64(ms.NumGC),
		GCMaxPause: float64(maxPause) / 1e9,
	}
}

// WriteStats answers a baseline's GET /stats with st as JSON.
func WriteStats(w http.ResponseWriter, st GoStats) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st) //nolint:errcheck
}
