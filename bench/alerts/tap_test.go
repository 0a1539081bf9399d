package alertsbench

import (
	"bytes"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/flows"
)

// kafkaTap reads alerts.events from Surge's embedded broker with a plain
// Sarama consumer (no group, every partition, the eager fetch the app's
// consumers use) and notes when each alertId's AlertRaised arrived. It
// splits Surge's latency into 202 -> Kafka (store, outbox, forwarder,
// produce) and Kafka -> subscriber (live consumer, hub, session, socket).
// A diagnostic: one more consumer of 100 messages/s.
type kafkaTap struct {
	epoch    time.Time
	consumer sarama.Consumer
	mu       sync.Mutex
	at       map[[36]byte]time.Duration
}

func startKafkaTap(broker string, epoch time.Time) (*kafkaTap, error) {
	cfg := kafka.SaramaConfig()
	cfg.ClientID = "surge-bench-alerts-tap"
	consumer, err := sarama.NewConsumer([]string{broker}, cfg)
	if err != nil {
		return nil, err
	}
	t := &kafkaTap{epoch: epoch, consumer: consumer, at: map[[36]byte]time.Duration{}}
	partitions, err := consumer.Partitions(flows.AlertEvents)
	if err != nil {
		consumer.Close()
		return nil, err
	}
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(flows.AlertEvents, p, sarama.OffsetNewest)
		if err != nil {
			consumer.Close()
			return nil, err
		}
		go func() {
			for m := range pc.Messages() {
				at := time.Since(epoch)
				i := bytes.Index(m.Value, alertIDKey)
				if i < 0 || len(m.Value) < i+len(alertIDKey)+36 {
					continue
				}
				var id [36]byte
				copy(id[:], m.Value[i+len(alertIDKey):])
				t.mu.Lock()
				if _, dup := t.at[id]; !dup {
					t.at[id] = at
				}
				t.mu.Unlock()
			}
		}()
	}
	return t, nil
}

// arrival is when alertId reached Kafka (false: not seen).
func (t *kafkaTap) arrival(id string) (time.Duration, bool) {
	var key [36]byte
	copy(key[:], id)
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.at[key]
	return at, ok
}

func (t *kafkaTap) close() { t.consumer.Close() }
