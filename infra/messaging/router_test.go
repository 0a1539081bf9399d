package messaging_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/poison"
	"github.com/surge-platform/surge/internal/testenv"
)

type panicCmd struct{ ID string }

func (panicCmd) WireName() string       { return "test.panic.v1" }
func (c panicCmd) PartitionKey() string { return c.ID }

type failCmd struct{ ID string }

func (failCmd) WireName() string       { return "test.fail.v1" }
func (c failCmd) PartitionKey() string { return c.ID }

type invalidCmd struct{ ID string }

func (invalidCmd) WireName() string       { return "test.invalid.v1" }
func (c invalidCmd) PartitionKey() string { return c.ID }

type okCmd struct{ ID string }

func (okCmd) WireName() string       { return "test.ok.v1" }
func (c okCmd) PartitionKey() string { return "same-key" }

// testTopology puts each test command on a topic of its own.
func testTopology(t *testing.T) *kafka.Topology {
	var topics []kafka.Topic
	for _, m := range []kafka.Message{panicCmd{}, failCmd{}, invalidCmd{}, okCmd{}} {
		topic := strings.TrimSuffix(m.WireName(), ".v1") + ".commands"
		topics = append(topics, kafka.Topic{Name: topic, Kind: kafka.Commands, Partitions: 1, Retention: time.Hour, Messages: []kafka.Message{m}})
	}
	topology, err := kafka.NewTopology(topics...)
	testenv.Must(t, err, "topology")
	return topology
}

type handler[T any] struct {
	name  string
	calls atomic.Int32
	fn    func(*T) error
}

func (h *handler[T]) HandlerName() string { return h.name }
func (h *handler[T]) NewCommand() any     { return new(T) }
func (h *handler[T]) Handle(_ context.Context, c any) error {
	h.calls.Add(1)
	return h.fn(c.(*T))
}

// The middleware order is what makes the poison queue trustworthy: panics
// and transient errors are retried, then poisoned; permanent errors and
// undecodable or unexpected messages are poisoned at once; and a poisoned
// message does not block the ones behind it.
func TestRouterRetriesThenPoisonsAndPermanentErrorsSkipRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topology := testTopology(t)
	brokers := testenv.Kafka(t, topology.Topics()...)
	db, err := postgres.Open(ctx, testenv.Database(t), 8)
	testenv.Must(t, err, "db")
	defer db.Close()
	testenv.Must(t, postgres.InitPoisonTables(ctx, db), "poison tables")
	poisonPub, err := postgres.NewPoisonPublisher(db, watermill.NopLogger{})
	testenv.Must(t, err, "poison publisher")
	kpub, err := kafka.NewPublisher(brokers, watermill.NopLogger{})
	testenv.Must(t, err, "kafka publisher")
	defer kpub.Close()

	const maxRetries = 2
	router, err := messaging.NewRouter(messaging.RetryConfig{MaxRetries: maxRetries, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxElapsedTime: 10 * time.Second},
		5*time.Second, poisonPub, watermill.NopLogger{})
	testenv.Must(t, err, "router")

	var mu sync.Mutex
	var processed []string
	panics := &handler[panicCmd]{name: "PanicHandler", fn: func(*panicCmd) error { panic("handler exploded") }}
	fails := &handler[failCmd]{name: "FailHandler", fn: func(*failCmd) error { return errors.New("database unreachable") }}
	invalid := &handler[invalidCmd]{name: "InvalidHandler", fn: func(*invalidCmd) error {
		return domain.Invalid("rule_broken", "the command breaks a rule")
	}}
	ok := &handler[okCmd]{name: "OkHandler", fn: func(c *okCmd) error {
		mu.Lock()
		processed = append(processed, c.ID)
		mu.Unlock()
		return nil
	}}
	subscribers := func(group string) (message.Subscriber, error) {
		return kafka.NewSubscriber(brokers, group, watermill.NopLogger{})
	}
	testenv.Must(t, messaging.AddCommandHandlers(router, subscribers, watermill.NopLogger{}, topology.TopicFor, panics, fails, invalid, ok), "handlers")
	go router.Run(ctx) //nolint:errcheck
	defer router.Close()
	<-router.Running()

	bus, err := messaging.NewCommandBus(kpub, topology.TopicFor)
	testenv.Must(t, err, "bus")
	testenv.Must(t, bus.Send(ctx, panicCmd{ID: "p1"}), "send")
	testenv.Must(t, bus.Send(ctx, failCmd{ID: "f1"}), "send")
	testenv.Must(t, bus.Send(ctx, invalidCmd{ID: "i1"}), "send")
	// On the ok topic's single partition: good, undecodable, unknown type, good.
	testenv.Must(t, bus.Send(ctx, okCmd{ID: "before"}), "send")
	bad := message.NewMessage(watermill.NewUUID(), []byte(`{"ID": not json`))
	bad.Metadata.Set(messaging.NameKey, "test.ok.v1")
	bad.Metadata.Set(kafka.PartitionKeyMetadata, "same-key")
	unknown := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
	unknown.Metadata.Set(messaging.NameKey, "test.something_else.v1")
	unknown.Metadata.Set(kafka.PartitionKeyMetadata, "same-key")
	testenv.Must(t, kpub.Publish("test.ok.commands", bad, unknown), "publish bad")
	testenv.Must(t, bus.Send(ctx, okCmd{ID: "after"}), "send")

	queue := postgres.NewPoisonQueue(db, kpub)
	byHandler := map[string][]string{}
	var entries []poison.Entry
	testenv.Eventually(t, 30*time.Second, "5 poison entries and 2 processed commands", func() bool {
		entries, err = queue.List(ctx, 100)
		testenv.Must(t, err, "list")
		mu.Lock()
		defer mu.Unlock()
		return len(entries) == 5 && len(processed) == 2
	})
	for _, e := range entries {
		byHandler[e.Handler] = append(byHandler[e.Handler], e.Reason)
		switch e.Handler {
		case "PanicHandler", "FailHandler":
			if e.Attempts != maxRetries+1 {
				t.Errorf("%s: attempts = %d, want %d (retried)", e.Handler, e.Attempts, maxRetries+1)
			}
		default:
			if e.Attempts != 1 {
				t.Errorf("%s (%s): attempts = %d, want 1 (permanent)", e.Handler, e.Reason, e.Attempts)
			}
		}
		if e.Topic == "" || e.MessageID == "" || e.PoisonedAt.IsZero() {
			t.Errorf("entry lacks fields: %+v", e)
		}
	}
	if len(byHandler["PanicHandler"]) != 1 || !strings.Contains(byHandler["PanicHandler"][0], "handler exploded") {
		t.Errorf("panic entry: %v", byHandler["PanicHandler"])
	}
	if len(byHandler["FailHandler"]) != 1 || !strings.Contains(byHandler["FailHandler"][0], "database unreachable") {
		t.Errorf("fail entry: %v", byHandler["FailHandler"])
	}
	if len(byHandler["InvalidHandler"]) != 1 || !strings.Contains(byHandler["InvalidHandler"][0], "rule_broken") {
		t.Errorf("invalid entry: %v", byHandler["InvalidHandler"])
	}
	okReasons := strings.Join(byHandler["OkHandler"], " | ")
	if len(byHandler["OkHandler"]) != 2 || !strings.Contains(okReasons, "undecodable") || !strings.Contains(okReasons, "unexpected message type") {
		t.Errorf("ok topic entries: %v", byHandler["OkHandler"])
	}
	if got := fails.calls.Load(); got != maxRetries+1 {
		t.Errorf("failing handler ran %d times, want %d", got, maxRetries+1)
	}
	if got := invalid.calls.Load(); got != 1 {
		t.Errorf("invalid handler ran %d times, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(processed, ",") != "before,after" {
		t.Errorf("processed = %v, want [before after] in order", processed)
	}
}
