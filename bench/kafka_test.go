package bench

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/infra/kafka"
)

// tap reads every partition of a topic with a plain Sarama consumer (no
// consumer group, so no rebalance to wait for) and records when each message
// key (a stream id) first arrived. Keys are grouped by their part before
// the last '/', e.g. "coupon/bench-lat/42" -> "coupon/bench-lat".
type tap struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	count   map[string]int
	last    map[string]time.Time
}

func startTap(b *testing.B, brokers []string, topic string) *tap {
	return startTapFetching(b, brokers, topic, 1, 0)
}

// startBulkTap is a tap that fetches in bulk: the broker answers once
// minBytes are there or maxWait passed. Throughput runs use it so that the
// instrument does not answer a fetch per produced batch on the same 2 cores
// as the system it measures; arrival times are late by up to maxWait.
func startBulkTap(b *testing.B, brokers []string, topic string) *tap {
	return startTapFetching(b, brokers, topic, 64<<10, 20*time.Millisecond)
}

func startTapFetching(b *testing.B, brokers []string, topic string, minBytes int32, maxWait time.Duration) *tap {
	b.Helper()
	t := &tap{arrived: map[string]time.Time{}, count: map[string]int{}, last: map[string]time.Time{}}
	cfg := kafka.SaramaConfig()
	cfg.ClientID = "surge-bench-tap"
	cfg.Consumer.Fetch.Min = minBytes
	if maxWait > 0 {
		cfg.Consumer.MaxWaitTime = maxWait
	}
	consumer, err := sarama.NewConsumer(brokers, cfg)
	benchkit.Must(b, err, "kafka consumer")
	b.Cleanup(func() { consumer.Close() })
	partitions, err := consumer.Partitions(topic)
	benchkit.Must(b, err, "partitions")
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		benchkit.Must(b, err, "consume partition")
		go func() {
			for m := range pc.Messages() {
				t.record(string(m.Key), time.Now())
			}
		}()
	}
	return t
}

func group(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return key
}

func (t *tap) record(key string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.arrived[key]; dup {
		return // at-least-once: count the first arrival only
	}
	t.arrived[key] = at
	g := group(key)
	t.count[g]++
	t.last[g] = at
}

// arrivals returns how many keys of group g arrived and when the latest did.
func (t *tap) arrivals(g string) (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count[g], t.last[g]
}

// at returns when key arrived.
func (t *tap) at(key string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.arrived[key]
	return a, ok
}

// wait polls until n keys of group g arrived or timeout passes; it returns
// how many did.
func (t *tap) wait(g string, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got, _ := t.arrivals(g)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}
