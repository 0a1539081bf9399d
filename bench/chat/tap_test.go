package chatbench

import (
	"bytes"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/flows"
)

// kafkaTap reads chat.events from Surge's embedded broker with a plain
// Sarama consumer (no group, every partition) and notes when each
// messageId's MessagePosted arrived, and its postedAt (the command
// handler's clock when it recorded the message). It splits the fan-out's
// latency into 202 -> handled (command consumed, the handler's
// transaction begun), handled -> Kafka (stored in PostgreSQL, outbox,
// forwarder, produce) and Kafka -> first stream (live consumer, hub,
// stream, socket). A diagnostic: one more consumer of 50 messages/s.
type kafkaTap struct {
	epoch    time.Time
	consumer sarama.Consumer
	mu       sync.Mutex
	at       map[[36]byte]tapped
}

type tapped struct {
	at      time.Duration // arrival in Kafka, since the epoch
	handled time.Time     // the event's postedAt (zero: none found)
}

var postedAtKey = []byte(`"postedAt":"`)

func startKafkaTap(broker string, epoch time.Time) (*kafkaTap, error) {
	cfg := kafka.SaramaConfig()
	cfg.ClientID = "surge-bench-chat-tap"
	consumer, err := sarama.NewConsumer([]string{broker}, cfg)
	if err != nil {
		return nil, err
	}
	t := &kafkaTap{epoch: epoch, consumer: consumer, at: map[[36]byte]tapped{}}
	partitions, err := consumer.Partitions(flows.ChatEvents)
	if err != nil {
		consumer.Close()
		return nil, err
	}
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(flows.ChatEvents, p, sarama.OffsetNewest)
		if err != nil {
			consumer.Close()
			return nil, err
		}
		go func() {
			for m := range pc.Messages() {
				at := time.Since(epoch)
				i := bytes.Index(m.Value, messageIDAt)
				if i < 0 || len(m.Value) < i+len(messageIDAt)+36 {
					continue
				}
				var id [36]byte
				copy(id[:], m.Value[i+len(messageIDAt):])
				e := tapped{at: at}
				if j := bytes.Index(m.Value, postedAtKey); j >= 0 {
					v := m.Value[j+len(postedAtKey):]
					if end := bytes.IndexByte(v, '"'); end > 0 {
						e.handled, _ = time.Parse(time.RFC3339Nano, string(v[:end]))
					}
				}
				t.mu.Lock()
				if _, dup := t.at[id]; !dup {
					t.at[id] = e
				}
				t.mu.Unlock()
			}
		}()
	}
	return t, nil
}

// arrival is when messageId reached Kafka and when its handler recorded
// it, both since the epoch (handled < 0: unknown; ok false: not seen).
func (t *kafkaTap) arrival(id string) (at, handled time.Duration, ok bool) {
	var key [36]byte
	copy(key[:], id)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.at[key]
	handled = -1
	if !e.handled.IsZero() {
		handled = e.handled.Sub(t.epoch)
	}
	return e.at, handled, ok
}

func (t *kafkaTap) close() { t.consumer.Close() }
