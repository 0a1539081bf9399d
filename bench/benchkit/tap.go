package benchkit

import (
	"bytes"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/surge-platform/surge/infra/kafka"
)

// TapSpec says what a KafkaTap reads.
type TapSpec struct {
	Broker   string // host:port
	ClientID string
	Topic    string
	// IDKey precedes the 36-character id the tap notes events by, e.g.
	// `"alertId":"`; events without it are passed over.
	IDKey []byte
	// StampKey, if set, precedes an RFC 3339 time of the event's own, e.g.
	// `"postedAt":"`, noted as Tapped.Stamp.
	StampKey []byte
}

// KafkaTap reads a topic of Surge's broker with a plain Sarama consumer (no
// group, every partition from the newest offset, the eager fetch the app's
// consumers use) and notes when each event first arrived. A benchmark's
// diagnostic, to split Surge's latency at Kafka: one more consumer.
type KafkaTap struct {
	epoch    time.Time
	spec     TapSpec
	consumer sarama.Consumer
	mu       sync.Mutex
	at       map[[36]byte]Tapped
}

// Tapped is what a KafkaTap noted of an event.
type Tapped struct {
	At    time.Duration // its arrival in Kafka, since the epoch
	Stamp time.Time     // its StampKey time (zero: none found, or none asked for)
}

// StartKafkaTap starts tapping spec.Topic; arrivals are since epoch.
func StartKafkaTap(spec TapSpec, epoch time.Time) (*KafkaTap, error) {
	cfg := kafka.SaramaConfig()
	cfg.ClientID = spec.ClientID
	consumer, err := sarama.NewConsumer([]string{spec.Broker}, cfg)
	if err != nil {
		return nil, err
	}
	t := &KafkaTap{epoch: epoch, spec: spec, consumer: consumer, at: map[[36]byte]Tapped{}}
	partitions, err := consumer.Partitions(spec.Topic)
	if err != nil {
		consumer.Close()
		return nil, err
	}
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(spec.Topic, p, sarama.OffsetNewest)
		if err != nil {
			consumer.Close()
			return nil, err
		}
		go func() {
			for m := range pc.Messages() {
				t.note(time.Since(epoch), m.Value)
			}
		}()
	}
	return t, nil
}

func (t *KafkaTap) note(at time.Duration, v []byte) {
	key := t.spec.IDKey
	i := bytes.Index(v, key)
	if i < 0 || len(v) < i+len(key)+36 {
		return
	}
	var id [36]byte
	copy(id[:], v[i+len(key):])
	e := Tapped{At: at}
	if sk := t.spec.StampKey; len(sk) > 0 {
		if j := bytes.Index(v, sk); j >= 0 {
			s := v[j+len(sk):]
			if end := bytes.IndexByte(s, '"'); end > 0 {
				e.Stamp, _ = time.Parse(time.RFC3339Nano, string(s[:end]))
			}
		}
	}
	t.mu.Lock()
	if _, dup := t.at[id]; !dup {
		t.at[id] = e
	}
	t.mu.Unlock()
}

// Arrival is what the tap noted of the event with id (false: not seen).
func (t *KafkaTap) Arrival(id string) (Tapped, bool) {
	var key [36]byte
	copy(key[:], id)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.at[key]
	return e, ok
}

// Since is t (a Stamp) as a duration since the tap's epoch.
func (t *KafkaTap) Since(at time.Time) time.Duration { return at.Sub(t.epoch) }

// Close stops the tap.
func (t *KafkaTap) Close() { t.consumer.Close() }
