package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoopResult is one ClosedLoop run.
type LoopResult struct {
	OK       int           // calls that returned nil
	Failed   int           // calls that returned an error before the time cap
	FirstErr error         // the first failure, for the log
	Elapsed  time.Duration // first call started .. last one returned
	TimedOut bool          // stopped by the time cap before the count
}

// ClosedLoop runs fn(ctx, i) for i = 0..n-1 from workers goroutines, each
// starting its next call when the previous one returns (closed loop), until
// all n are done or maxDur passes; ctx is cancelled at maxDur. Errors
// returned after the cap are not counted.
func ClosedLoop(n, workers int, maxDur time.Duration, fn func(ctx context.Context, i int) error) LoopResult {
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	var next, good, bad atomic.Int64
	var once sync.Once
	var res LoopResult
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					if ctx.Err() == nil {
						bad.Add(1)
						once.Do(func() { res.FirstErr = err })
					}
					continue
				}
				good.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.TimedOut = ctx.Err() != nil && int(next.Load()) < n
	res.OK, res.Failed = int(good.Load()), int(bad.Load())
	return res
}

// NewHTTPClient is a keep-alive client for workers concurrent connections
// to one host.
func NewHTTPClient(workers int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        2 * workers,
			MaxIdleConnsPerHost: 2 * workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Request builds request i of a load run.
type Request func(ctx context.Context, i int) (*http.Request, error)

// PostJSON is a Request that POSTs body(i) to url as JSON.
func PostJSON(url string, body func(i int) []byte) Request {
	return func(ctx context.Context, i int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body(i)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}

// Get is a Request that GETs url(i).
func Get(url func(i int) string) Request {
	return func(ctx context.Context, i int) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url(i), nil)
	}
}

// LoadResult is one RunLoad run.
type LoadResult struct {
	OK        int           // responses with an accepted status
	ByStatus  map[int]int   // of the OK responses
	Failed    int           // transport errors and unexpected statuses
	FirstErr  string        // the first failure, for the log
	Elapsed   time.Duration // first request sent .. last response read
	TimedOut  bool          // stopped by the time cap before the count
	Latencies Dist          // of the OK requests
}

// RPS is OK responses per second.
func (r LoadResult) RPS() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// RunLoad sends up to n requests req(ctx, i) with client from workers
// goroutines in a closed loop (see ClosedLoop), stopping at n requests or
// after maxDur, whichever comes first. A response is OK if its status is one
// of accept.
func RunLoad(client *http.Client, req Request, n, workers int, maxDur time.Duration, accept ...int) LoadResult {
	lat := make([]time.Duration, n)
	status := make([]int, n)
	lr := ClosedLoop(n, workers, maxDur, func(ctx context.Context, i int) error {
		r, err := req(ctx, i)
		if err != nil {
			return err
		}
		t0 := time.Now()
		resp, err := client.Do(r)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !slices.Contains(accept, resp.StatusCode) {
			return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		lat[i] = time.Since(t0)
		status[i] = resp.StatusCode
		return nil
	})
	res := LoadResult{ByStatus: map[int]int{}, Failed: lr.Failed, Elapsed: lr.Elapsed, TimedOut: lr.TimedOut}
	if lr.FirstErr != nil {
		res.FirstErr = lr.FirstErr.Error()
	}
	var samples []time.Duration
	for i, s := range status {
		if s != 0 {
			samples = append(samples, lat[i])
			res.ByStatus[s]++
		}
	}
	res.OK = len(samples)
	res.Latencies = NewDist(samples)
	return res
}
