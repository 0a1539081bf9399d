// Package messaging configures Watermill for Surge: the JSON marshaler with
// versioned wire names, the router and its middleware order, the poison
// filter, and the CQRS buses and processors.
package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/fault"
	"github.com/surge-platform/surge/infra/kafka"
)

// Metadata keys every command and event carries.
const (
	NameKey          = "name" // the cqrs marshaler's key for the wire name
	SchemaVersionKey = "schema_version"
	CausationIDKey   = "causation_id"
	StreamIDKey      = "stream_id"
	StreamVersionKey = "stream_version"
	OccurredAtKey    = "occurred_at"
)

// WireName returns the versioned name of a command or event
// ("coupon.issued.v1"), falling back to the Go type name.
func WireName(v any) string {
	if n, ok := v.(interface{ WireName() string }); ok {
		return n.WireName()
	}
	return cqrs.FullyQualifiedStructName(v)
}

// Marshaler is the cqrs marshaler used on every topic. A payload that cannot
// be decoded is a permanent error: it goes to the poison queue at once.
type Marshaler struct{}

var jsonMarshaler = cqrs.JSONMarshaler{GenerateName: WireName, NewUUID: watermill.NewUUID}

func (Marshaler) Marshal(v any) (*message.Message, error) {
	msg, err := jsonMarshaler.Marshal(v)
	if err != nil {
		return nil, err
	}
	msg.Metadata.Set(SchemaVersionKey, strconv.Itoa(domain.SchemaVersion(WireName(v))))
	return msg, nil
}

func (Marshaler) Unmarshal(msg *message.Message, v any) error {
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return fault.Permanent(fmt.Errorf("undecodable %s payload: %w", msg.Metadata.Get(NameKey), err))
	}
	return nil
}

func (Marshaler) Name(v any) string { return WireName(v) }

func (Marshaler) NameFromMessage(msg *message.Message) string { return msg.Metadata.Get(NameKey) }

// Envelope wraps an event appended to the event store into the message the
// outbox forwards: the JSON payload, its wire name and schema version, the
// stream it belongs to (also the Kafka partition key, so one stream stays
// in order), when, and the correlation and causation of the work in ctx.
type Envelope struct{ Topics TopicFor }

// Wrap implements the event store's envelope (postgres.Envelope.Wrap). An
// event with a PartitionKey() (all of a complex's alerts, say) is keyed by
// it, else by its stream.
func (en Envelope) Wrap(ctx context.Context, e domain.Event, streamID string, version int, at time.Time) (string, string, *message.Message, error) {
	topic, err := en.Topics(e.WireName())
	if err != nil {
		return "", "", nil, err
	}
	msg, err := Marshaler{}.Marshal(e)
	if err != nil {
		return "", "", nil, err
	}
	key := streamID
	if k, ok := e.(interface{ PartitionKey() string }); ok {
		key = k.PartitionKey()
	}
	msg.Metadata.Set(kafka.PartitionKeyMetadata, key)
	msg.Metadata.Set(StreamIDKey, streamID)
	msg.Metadata.Set(StreamVersionKey, strconv.Itoa(version))
	msg.Metadata.Set(OccurredAtKey, at.Format(time.RFC3339Nano))
	correlationID, causationID := Trace(ctx)
	msg.Metadata.Set(CausationIDKey, causationID)
	if correlationID != "" {
		middleware.SetCorrelationID(correlationID, msg)
	}
	return topic, key, msg, nil
}

// Trace is the correlation and causation ids of the work in ctx.
func Trace(ctx context.Context) (correlationID, causationID string) {
	return CorrelationID(ctx), CausationID(ctx)
}
