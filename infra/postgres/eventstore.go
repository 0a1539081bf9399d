package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
)

// VersionConflictError: the stream was not at the expected version.
type VersionConflictError struct {
	StreamID        string
	ExpectedVersion int
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("stream %s is not at version %d", e.StreamID, e.ExpectedVersion)
}

// Is lets handlers match it as domain.ErrConcurrentModification.
func (e *VersionConflictError) Is(target error) bool {
	return target == domain.ErrConcurrentModification
}

// Recorded is one stored event with its envelope.
type Recorded struct {
	Position      int64           `json:"position"`
	EventID       string          `json:"eventId"`
	StreamID      string          `json:"streamId"`
	StreamVersion int             `json:"streamVersion"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Payload       json.RawMessage `json:"payload"`
	CorrelationID string          `json:"correlationId"`
	CausationID   string          `json:"causationId"`
	OccurredAt    time.Time       `json:"occurredAt"`
}

// TxFunc runs extra writes in the append's transaction (a table kept in
// step with the events).
type TxFunc func(ctx context.Context, tx *sql.Tx) error

// EventStore appends events with optimistic concurrency and hands them to the
// outbox in the same transaction: a stored event is always published, and an
// event is never published unless stored.
type EventStore struct {
	db     *sql.DB
	outbox *Outbox
	types  map[string]reflect.Type
}

// NewEventStore creates a store that can decode the given event types.
func NewEventStore(db *sql.DB, outbox *Outbox, eventTypes ...domain.Event) *EventStore {
	s := &EventStore{db: db, outbox: outbox, types: map[string]reflect.Type{}}
	for _, e := range eventTypes {
		s.types[e.WireName()] = reflect.TypeOf(e)
	}
	return s
}

// Append stores events at expectedVersion+1.. of streamID (expectedVersion 0:
// the stream must not exist), publishes them through the outbox, and runs
// also, all in one transaction.
func (s *EventStore) Append(ctx context.Context, streamID string, expectedVersion int, events []domain.Event, also ...TxFunc) ([]Recorded, error) {
	if len(events) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck

	correlationID := messaging.CorrelationID(ctx)
	causationID := messaging.CausationID(ctx)
	now := time.Now().UTC()
	recorded := make([]Recorded, 0, len(events))
	byTopic := map[string][]*message.Message{}
	var topics []string

	for i, e := range events {
		msg, err := messaging.Marshaler{}.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", e.WireName(), err)
		}
		r := Recorded{
			EventID:       msg.UUID,
			StreamID:      streamID,
			StreamVersion: expectedVersion + i + 1,
			Type:          e.WireName(),
			SchemaVersion: messaging.SchemaVersion(e.WireName()),
			Payload:       json.RawMessage(msg.Payload),
			CorrelationID: correlationID,
			CausationID:   causationID,
			OccurredAt:    now,
		}
		err = tx.QueryRowContext(ctx, `
			INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, correlation_id, causation_id, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING position`,
			r.EventID, r.StreamID, r.StreamVersion, r.Type, r.SchemaVersion, []byte(r.Payload), r.CorrelationID, r.CausationID, r.OccurredAt,
		).Scan(&r.Position)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_unique" {
				return nil, &VersionConflictError{StreamID: streamID, ExpectedVersion: expectedVersion}
			}
			return nil, fmt.Errorf("insert event: %w", err)
		}
		msg.Metadata.Set(kafka.PartitionKeyMetadata, streamID)
		msg.Metadata.Set(messaging.StreamIDKey, streamID)
		msg.Metadata.Set(messaging.StreamVersionKey, strconv.Itoa(r.StreamVersion))
		msg.Metadata.Set(messaging.PositionKey, strconv.FormatInt(r.Position, 10))
		msg.Metadata.Set(messaging.OccurredAtKey, now.Format(time.RFC3339Nano))
		msg.Metadata.Set(messaging.CausationIDKey, causationID)
		if correlationID != "" {
			middleware.SetCorrelationID(correlationID, msg)
		}
		topic, err := kafka.TopicFor(e.WireName())
		if err != nil {
			return nil, err
		}
		if _, seen := byTopic[topic]; !seen {
			topics = append(topics, topic)
		}
		byTopic[topic] = append(byTopic[topic], msg)
		recorded = append(recorded, r)
	}
	for _, topic := range topics {
		if err := s.outbox.Publish(tx, streamID, topic, byTopic[topic]...); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	}
	for _, f := range also {
		if err := f(ctx, tx); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s.outbox.committed(streamID)
	return recorded, nil
}

// Load returns the events of a stream in order (none for a new stream).
func (s *EventStore) Load(ctx context.Context, streamID string) ([]domain.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event_type, payload FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", streamID, err)
	}
	defer rows.Close()
	var events []domain.Event
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			return nil, err
		}
		e, err := s.Decode(typ, payload)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

// Decode turns a stored payload back into its domain event.
func (s *EventStore) Decode(eventType string, payload []byte) (domain.Event, error) {
	t, ok := s.types[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	v := reflect.New(t)
	if err := json.Unmarshal(payload, v.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return v.Elem().Interface().(domain.Event), nil
}

// ReadAll returns up to limit events after position, in global order. It is
// the source of replays.
func (s *EventStore) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]Recorded, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT position, event_id, stream_id, stream_version, event_type, schema_version, payload, correlation_id, causation_id, occurred_at
		FROM events WHERE position > $1 ORDER BY position LIMIT $2`, afterPosition, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Recorded
	for rows.Next() {
		var r Recorded
		var payload []byte
		if err := rows.Scan(&r.Position, &r.EventID, &r.StreamID, &r.StreamVersion, &r.Type, &r.SchemaVersion, &payload, &r.CorrelationID, &r.CausationID, &r.OccurredAt); err != nil {
			return nil, err
		}
		r.Payload = payload
		out = append(out, r)
	}
	return out, rows.Err()
}
