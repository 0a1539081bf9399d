package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/testenv"
)

func poisoned(id string, payload []byte, reason string) *message.Message {
	m := message.NewMessage(id, payload)
	m.Metadata.Set(messaging.NameKey, "coupon.issue.v1")
	m.Metadata.Set(kafka.PartitionKeyMetadata, "coupon/spring/u1")
	m.Metadata.Set(middleware.ReasonForPoisonedKey, reason)
	m.Metadata.Set(middleware.PoisonedTopicKey, testCommands)
	m.Metadata.Set(middleware.PoisonedHandlerKey, "IssueCouponHandler")
	m.Metadata.Set(messaging.AttemptsKey, "4")
	return m
}

func TestPoisonQueueListRequeueDiscard(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	testenv.Must(t, postgres.InitPoisonTables(ctx, f.db), "init")
	testenv.Must(t, postgres.InitPoisonTables(ctx, f.db), "init twice")
	pub, err := postgres.NewPoisonPublisher(f.db, watermill.NopLogger{})
	testenv.Must(t, err, "poison publisher")
	binary := []byte{0xff, 0xfe, 0x00, 'x'}
	testenv.Must(t, pub.Publish(messaging.PoisonTopic,
		poisoned("11111111-1111-1111-1111-111111111111", []byte(`{"campaignId":"spring","userId":"u1"}`), "db down"),
		poisoned("22222222-2222-2222-2222-222222222222", binary, "undecodable")), "publish")

	brokers := testenv.Kafka(t, kafka.Topic{Name: testCommands, Kind: kafka.Commands, Partitions: 1, Retention: time.Hour})
	kpub, err := kafka.NewPublisher(brokers, watermill.NopLogger{})
	testenv.Must(t, err, "kafka publisher")
	defer kpub.Close()
	q := postgres.NewPoisonQueue(f.db, kpub)

	entries, err := q.List(ctx, 10)
	testenv.Must(t, err, "list")
	if len(entries) != 2 {
		t.Fatalf("entries = %d, want 2", len(entries))
	}
	first, second := entries[0], entries[1]
	if first.MessageID != "11111111-1111-1111-1111-111111111111" || first.Reason != "db down" || first.Topic != testCommands ||
		first.Handler != "IssueCouponHandler" || first.Attempts != 4 || first.PayloadEncoding != "utf8" ||
		first.Payload != `{"campaignId":"spring","userId":"u1"}` || time.Since(first.PoisonedAt) > time.Hour {
		t.Fatalf("first entry = %+v", first)
	}
	if second.PayloadEncoding != "base64" || second.Payload != "//4AeA==" {
		t.Fatalf("binary payload shown as %q (%s)", second.Payload, second.PayloadEncoding)
	}
	if got, err := q.Get(ctx, second.ID); err != nil || got.MessageID != second.MessageID {
		t.Fatalf("get = %+v, %v", got, err)
	}

	// Requeue: back on its topic with its id, payload and metadata, minus the poison marks.
	sub, err := kafka.NewSubscriber(brokers, "poison-contract", watermill.NopLogger{})
	testenv.Must(t, err, "subscriber")
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, testCommands)
	testenv.Must(t, err, "subscribe")
	if _, err := q.Requeue(ctx, first.ID); err != nil {
		t.Fatalf("requeue: %v", err)
	}
	select {
	case m := <-msgs:
		m.Ack()
		if m.UUID != first.MessageID || string(m.Payload) != first.Payload || m.Metadata.Get(messaging.NameKey) != "coupon.issue.v1" {
			t.Fatalf("requeued message = %s %s %v", m.UUID, m.Payload, m.Metadata)
		}
		for _, k := range []string{middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey, messaging.AttemptsKey} {
			if m.Metadata.Get(k) != "" {
				t.Fatalf("requeued message still carries %s", k)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("requeued message never reached Kafka")
	}
	if _, err := q.Get(ctx, first.ID); !errors.Is(err, postgres.ErrPoisonEntryNotFound) {
		t.Fatalf("requeued entry still listed: %v", err)
	}

	testenv.Must(t, q.Discard(ctx, second.ID), "discard")
	if err := q.Discard(ctx, second.ID); domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("second discard = %v, want not found", err)
	}
	if _, err := q.Requeue(ctx, 999); domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("requeue of a missing entry = %v", err)
	}
	left, _ := q.List(ctx, 10)
	if len(left) != 0 {
		t.Fatalf("entries left = %d", len(left))
	}
}

// testCommands is the topic requeued test messages go back to.
const testCommands = "test.commands"
