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

// EnsureTopics creates any declared topic that does not exist yet.
func EnsureTopics(ctx context.Context, brokers []string) error {
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
	for _, t := range Topics {
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

// Ping checks that a broker answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	cfg := SaramaConfig()
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Metadata.Retry.Max = 0
	done := make(chan error, 1)
	go func() {
		client, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			done <- err
			return
		}
		defer client.Close()
		_, err = client.Controller()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
