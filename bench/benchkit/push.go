package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Helpers of the push benchmarks (bench/alerts, bench/chat): opening a
// fleet of client connections, waiting for what they receive, and posting
// what they should receive.

// Connect opens n client connections with open(ctx, i), parallel at a time,
// and stops starting them at timeout (ctx ends then). It returns how many
// failed and the first error, "<what> i: err", or, if the cap stopped it
// with connections neither open nor failed, "connecting stopped at the
// <timeout> cap".
func Connect(n, parallel int, timeout time.Duration, what string, open func(ctx context.Context, i int) error) (failed int, firstErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	opened := 0
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := open(ctx, i)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("%s %d: %w", what, i, err)
					}
				} else {
					opened++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if ctx.Err() != nil && opened+failed < n && firstErr == nil {
		firstErr = fmt.Errorf("connecting stopped at the %s cap", timeout)
	}
	return failed, firstErr
}

// WaitCount waits until counter reaches want, or timeout (false).
func WaitCount(counter *atomic.Int64, want int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for counter.Load() < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// WaitReaders waits up to 30s for the readers of a fleet whose connections
// were closed (wg: one a reader).
func WaitReaders(wg *sync.WaitGroup, what string) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New(what + " readers still running 30s after their connections were closed")
	}
}

// PostAccepted POSTs body as JSON to url, with a 30s timeout, and decodes
// the answer into v. An answer other than 202, one that does not decode, or
// one that valid rejects is an error "status N: <body>".
func PostAccepted(client *http.Client, url string, body io.Reader, v any, valid func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusAccepted || json.Unmarshal(b, v) != nil || !valid() {
		return fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// Sent is one notice a push benchmark sent (an alert raised, a message
// posted) through its POST.
type Sent struct {
	ID       string
	Req, At  time.Duration // its POST sent, its 202 read (since the epoch)
	OK       bool          // accepted
	Measured bool          // false: warm-up
}

// MeasuredCount is how many of sent were accepted and measured.
func MeasuredCount(sent []Sent) int {
	n := 0
	for _, m := range sent {
		if m.OK && m.Measured {
			n++
		}
	}
	return n
}

// Receipts gathers the clients' receipts of the notices sent: per notice its
// first and last receipt, and per receipt of a measured notice its latency
// from the 202 (a receipt before the 202 was read counts as 0).
type Receipts struct {
	sent            []Sent
	firstAt, lastAt []time.Duration // per notice: its first and last receipt (+1 ns: 0 = none)
	lat             []time.Duration
	Early           int           // receipts of measured notices before their 202 was read
	Late            int           // receipts of measured notices more than a second after their 202
	Last            time.Duration // the last receipt of a measured notice
}

// NewReceipts gathers receipts of sent, expecting about expected of
// measured notices.
func NewReceipts(sent []Sent, expected int) *Receipts {
	return &Receipts{sent: sent, firstAt: make([]time.Duration, len(sent)), lastAt: make([]time.Duration, len(sent)),
		lat: make([]time.Duration, 0, expected)}
}

// Add notes a receipt of notice j at at (since the epoch).
func (r *Receipts) Add(j int, at time.Duration) {
	if r.firstAt[j] == 0 || at+1 < r.firstAt[j] {
		r.firstAt[j] = at + 1
	}
	r.lastAt[j] = max(r.lastAt[j], at+1)
	if m := r.sent[j]; m.Measured {
		d := at - m.At
		if d < 0 {
			r.Early++
			d = 0
		}
		r.lat = append(r.lat, d)
		r.Last = max(r.Last, at)
		if d > time.Second {
			r.Late++
		}
	}
}

// PerSecond is n receipts over window: 0 without a window.
func PerSecond(n int, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return float64(n) / window.Seconds()
}

// Count is how many receipts of measured notices were noted.
func (r *Receipts) Count() int { return len(r.lat) }

// Latencies are the receipts' latencies from their notice's 202.
func (r *Receipts) Latencies() Dist { return NewDist(r.lat) }

// Split is the way of the measured notices, one sample a notice: the
// diagnostic rows under a push benchmark's latency.
type Split struct {
	Post   Dist // POST sent -> 202 read
	First  Dist // 202 -> its first receipt
	Spread Dist // first -> last receipt
	// With a Kafka tap: 202 -> Kafka, Kafka -> first receipt and, with its
	// StampKey, 202 -> the event's stamp and stamp -> Kafka.
	ToKafka, FromKafka Dist
	ToStamp, FromStamp Dist
	TapMissing         int // measured notices the tap did not see
}

// Split is the receipts' Split; tap may be nil.
func (r *Receipts) Split(tap *KafkaTap) Split {
	var post, first, spread, toKafka, fromKafka, toStamp, fromStamp []time.Duration
	var sp Split
	for j, m := range r.sent {
		if !m.OK || !m.Measured {
			continue
		}
		post = append(post, m.At-m.Req)
		if r.firstAt[j] > 0 {
			first = append(first, max(0, r.firstAt[j]-1-m.At))
			spread = append(spread, r.lastAt[j]-r.firstAt[j])
		}
		if tap == nil {
			continue
		}
		e, ok := tap.Arrival(m.ID)
		if !ok {
			sp.TapMissing++
			continue
		}
		toKafka = append(toKafka, e.At-m.At)
		if stamp := tap.Since(e.Stamp); !e.Stamp.IsZero() && stamp >= 0 {
			toStamp, fromStamp = append(toStamp, stamp-m.At), append(fromStamp, e.At-stamp)
		}
		if r.firstAt[j] > 0 {
			fromKafka = append(fromKafka, r.firstAt[j]-1-e.At)
		}
	}
	sp.Post, sp.First, sp.Spread = NewDist(post), NewDist(first), NewDist(spread)
	sp.ToKafka, sp.FromKafka = NewDist(toKafka), NewDist(fromKafka)
	sp.ToStamp, sp.FromStamp = NewDist(toStamp), NewDist(fromStamp)
	return sp
}

// SplitRow adds a diagnostic row to a push benchmark's latency table (path,
// notices, deliveries, per second, p50, p90, p99, max, missed, dup, out of
// order, CPU): label, n notices and d's percentiles.
func SplitRow(t *Table, label string, n int, d Dist) {
	t.Row(label, n, "", "", d.Pct(50), d.Pct(90), d.Pct(99), d.Max(), "", "", "", "")
}
