package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	gometrics "github.com/rcrowley/go-metrics"
)

// Sarama records its client metrics in go-metrics histograms and meters,
// which nothing here exports (Surge's metrics are Watermill's, in
// Prometheus); keeping them cost about 5 % of the CPU of moving the outbox
// to Kafka (docs/benchmarks.md). Nil metrics turn them into no-ops.
func init() { gometrics.UseNilMetrics = true }

// PartitionKeyMetadata is the metadata key whose value becomes the Kafka
// message key: the aggregate (stream) id, so one aggregate stays in order.
const PartitionKeyMetadata = "partition_key"

// Marshaler keys every message by its partition_key metadata.
var Marshaler = kafka.NewWithPartitioningMarshaler(func(_ string, msg *message.Message) (string, error) {
	return msg.Metadata.Get(PartitionKeyMetadata), nil
})

// SaramaConfig is shared by producers and consumers: an idempotent producer
// with acks=all, consumers that start at the earliest offset when their group
// is new (a handler added later still sees every message).
func SaramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	// 2.3 is the newest protocol level whose consumer-group requests Sarama
	// 1.43 and kfake agree on (2.4+ fails to decode); Kafka 3.x and 4.x accept it.
	c.Version = sarama.V2_3_0_0
	c.ClientID = "surge"
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 250 * time.Millisecond
	c.Consumer.Group.Rebalance.Retry.Backoff = 250 * time.Millisecond
	c.Consumer.Group.Heartbeat.Interval = time.Second
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	return c
}

// NewPublisher creates a synchronous Watermill publisher: Publish returns once
// every replica acknowledged the message.
func NewPublisher(brokers []string, logger watermill.LoggerAdapter) (*kafka.Publisher, error) {
	return kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:               brokers,
		Marshaler:             Marshaler,
		OverwriteSaramaConfig: SaramaConfig(),
	}, logger)
}

// NewSubscriber creates a subscriber in the given consumer group. Handler
// names are consumer groups, so renaming a handler replays its topic.
func NewSubscriber(brokers []string, consumerGroup string, logger watermill.LoggerAdapter) (*kafka.Subscriber, error) {
	return kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               brokers,
		Unmarshaler:           Marshaler,
		OverwriteSaramaConfig: SaramaConfig(),
		ConsumerGroup:         consumerGroup,
		NackResendSleep:       50 * time.Millisecond,
		ReconnectRetrySleep:   500 * time.Millisecond,
	}, logger)
}

// NewLiveSubscriber reads every partition of a topic from its end, with no
// consumer group: each process that runs one sees every message published
// from then on (fan-out to the process's own clients), and nothing is left
// in the cluster when it stops. What it missed while down is filled in by
// its users from the event store.
func NewLiveSubscriber(brokers []string, logger watermill.LoggerAdapter) (*kafka.Subscriber, error) {
	cfg := SaramaConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	return kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               brokers,
		Unmarshaler:           Marshaler,
		OverwriteSaramaConfig: cfg,
		ReconnectRetrySleep:   500 * time.Millisecond,
	}, logger)
}

// EnsureTopics creates any of topics that does not exist yet.
func EnsureTopics(ctx context.Context, brokers []string, topics []Topic) error {
	var admin sarama.ClusterAdmin
	var err error
	for {
		admin, err = sarama.NewClusterAdmin(brokers, SaramaConfig())
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to kafka %v: %w", brokers, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if _, ok := existing[t.Name]; ok {
			continue
		}
		retention := strconv.FormatInt(t.Retention.Milliseconds(), 10)
		if t.Retention < 0 {
			retention = "-1"
		}
		err := admin.CreateTopic(t.Name, &sarama.TopicDetail{
			NumPartitions:     t.Partitions,
			ReplicationFactor: 1,
			ConfigEntries:     map[string]*string{"retention.ms": &retention},
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// Admin is one long-lived client of the cluster for readiness checks and
// consumer lag, so a readiness probe never builds a client (and its
// goroutines) per request. Sarama's calls take no context: each runs in a
// goroutine that the short network timeouts below bound.
type Admin struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

// NewAdmin connects to brokers.
func NewAdmin(brokers []string) (*Admin, error) {
	cfg := SaramaConfig()
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 1
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Admin{client: client, admin: admin}, nil
}

// Close releases the client.
func (a *Admin) Close() error { return a.admin.Close() } // closes the client too

// within runs fn, answering when it returns or when ctx ends.
func within[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Ping checks that the cluster answers a metadata request.
func (a *Admin) Ping(ctx context.Context) error {
	_, err := within(ctx, func() (struct{}, error) { return struct{}{}, a.client.RefreshMetadata() })
	return err
}

// Queue measures how far consumer group has come on topic.
func (a *Admin) Queue(group, topic string) *Queue {
	return &Queue{admin: a, group: group, topic: topic}
}

// Queue is one consumer group's backlog on one topic.
type Queue struct {
	admin        *Admin
	group, topic string
}

// Backlog is the end of the topic now: partition -> next offset.
func (q *Queue) Backlog(ctx context.Context) (map[int32]int64, error) {
	return within(ctx, func() (map[int32]int64, error) {
		if err := q.admin.client.RefreshMetadata(q.topic); err != nil {
			return nil, err
		}
		partitions, err := q.admin.client.Partitions(q.topic)
		if err != nil {
			return nil, err
		}
		end := make(map[int32]int64, len(partitions))
		for _, p := range partitions {
			if end[p], err = q.admin.client.GetOffset(q.topic, p, sarama.OffsetNewest); err != nil {
				return nil, err
			}
		}
		return end, nil
	})
}

// Remaining counts the messages before backlog that the group has not
// committed yet (a group that never committed starts at the oldest offset).
func (q *Queue) Remaining(ctx context.Context, backlog map[int32]int64) (int64, error) {
	return within(ctx, func() (int64, error) {
		partitions := make([]int32, 0, len(backlog))
		for p := range backlog {
			partitions = append(partitions, p)
		}
		resp, err := q.admin.admin.ListConsumerGroupOffsets(q.group, map[string][]int32{q.topic: partitions})
		if err != nil {
			return 0, err
		}
		var remaining int64
		for p, end := range backlog {
			committed := int64(-1)
			if block := resp.GetBlock(q.topic, p); block != nil {
				if block.Err != sarama.ErrNoError {
					return 0, block.Err
				}
				committed = block.Offset
			}
			if committed < 0 {
				if committed, err = q.admin.client.GetOffset(q.topic, p, sarama.OffsetOldest); err != nil {
					return 0, err
				}
			}
			remaining += max(0, end-committed)
		}
		return remaining, nil
	})
}
