// Package messaging configures Watermill for Surge: the JSON marshaler with
// versioned wire names, the router and its middleware order, the poison
// filter, and the CQRS buses and processors.
package messaging

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/surge-platform/surge/infra/fault"
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

// SchemaVersion reads the version suffix of a wire name ("x.y.v3" -> 3).
func SchemaVersion(wireName string) int {
	i := strings.LastIndex(wireName, ".v")
	if i < 0 {
		return 1
	}
	v, err := strconv.Atoi(wireName[i+2:])
	if err != nil {
		return 1
	}
	return v
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
	msg.Metadata.Set(SchemaVersionKey, strconv.Itoa(SchemaVersion(WireName(v))))
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
