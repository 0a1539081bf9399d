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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/fault"
	"github.com/surge-platform/surge/projections"
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

// EventStore appends events with optimistic concurrency and hands them to the
// outbox in the same transaction: a stored event is always published, and an
// event is never published unless stored.
type EventStore struct {
	db       *sql.DB
	outbox   *Outbox
	envelope Envelope
	types    map[string]reflect.Type
}

// Envelope is how an appended event becomes the message the outbox
// forwards. The messaging layer supplies it (internal/app wires it in), so
// the store knows neither Kafka's topics nor Watermill's metadata.
type Envelope struct {
	// Wrap returns the message of event e, appended to streamID at version
	// at time at by the work in ctx, the topic it goes to, and its ordering
	// key (the stream, or the event's own partition key): messages with one
	// key are forwarded by one outbox shard, in commit order.
	Wrap func(ctx context.Context, e domain.Event, streamID string, version int, at time.Time) (topic, key string, msg *message.Message, err error)
	// Trace is the correlation and causation ids of the work in ctx,
	// stored with each event.
	Trace func(ctx context.Context) (correlationID, causationID string)
}

// NewEventStore creates a store that can decode the given event types. A
// store without an outbox (a replay, a rebuild) can read but not append.
func NewEventStore(db *sql.DB, outbox *Outbox, envelope Envelope, eventTypes ...domain.Event) *EventStore {
	s := &EventStore{db: db, outbox: outbox, envelope: envelope, types: map[string]reflect.Type{}}
	for _, e := range eventTypes {
		s.types[e.WireName()] = reflect.TypeOf(e)
	}
	return s
}

const insertEvent = `
	INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload, correlation_id, causation_id, occurred_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING position`

// Append stores events at expectedVersion+1.. of streamID (expectedVersion 0:
// the stream must not exist), publishes them through the outbox, and runs
// the also statements (a table kept in step with the events), all in one
// transaction.
//
// That transaction is one pipelined round trip: the event rows, the outbox
// rows and also go to PostgreSQL as one batch ending in a single Sync, which
// PostgreSQL runs as one implicit transaction: all of it commits, or none.
// Round trips, not rows, are what an append costs (docs/benchmarks.md).
func (s *EventStore) Append(ctx context.Context, streamID string, expectedVersion int, events []domain.Event, also ...Statement) ([]Recorded, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if s.outbox == nil || s.envelope.Wrap == nil {
		return nil, errors.New("this event store is read-only (no outbox)")
	}
	var correlationID, causationID string
	if s.envelope.Trace != nil {
		correlationID, causationID = s.envelope.Trace(ctx)
	}
	now := time.Now().UTC()
	recorded := make([]Recorded, 0, len(events))
	type route struct{ topic, key string }
	byRoute := map[route][]*message.Message{}
	var routes []route
	batch := &pgx.Batch{}

	for i, e := range events {
		topic, key, msg, err := s.envelope.Wrap(ctx, e, streamID, expectedVersion+i+1, now)
		if err != nil {
			return nil, fmt.Errorf("wrap %s: %w", e.WireName(), err)
		}
		r := Recorded{
			EventID:       msg.UUID,
			StreamID:      streamID,
			StreamVersion: expectedVersion + i + 1,
			Type:          e.WireName(),
			SchemaVersion: domain.SchemaVersion(e.WireName()),
			Payload:       json.RawMessage(msg.Payload),
			CorrelationID: correlationID,
			CausationID:   causationID,
			OccurredAt:    now,
		}
		batch.Queue(insertEvent, r.EventID, r.StreamID, r.StreamVersion, r.Type, r.SchemaVersion, []byte(r.Payload), r.CorrelationID, r.CausationID, r.OccurredAt)
		rt := route{topic, key}
		if _, seen := byRoute[rt]; !seen {
			routes = append(routes, rt)
		}
		byRoute[rt] = append(byRoute[rt], msg)
		recorded = append(recorded, r)
	}
	for _, r := range routes {
		stmts, err := s.outbox.statements(r.key, r.topic, byRoute[r]...)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		queue(batch, stmts...)
	}
	queue(batch, also...)

	err := s.sendBatch(ctx, batch, func(br pgx.BatchResults) error {
		for i := range recorded {
			if err := br.QueryRow().Scan(&recorded[i].Position); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_unique" {
					return &VersionConflictError{StreamID: streamID, ExpectedVersion: expectedVersion}
				}
				return fmt.Errorf("insert event: %w", err)
			}
		}
		for range batch.Len() - len(recorded) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var conflict *VersionConflictError
		if !errors.As(err, &conflict) && fault.IsDataError(err) {
			// PostgreSQL refused the data itself (invalid UTF-8 in a
			// field, a violated constraint): the same append fails the
			// same way every time. Repositories look for the constraints
			// they expect (a quota) through the wrapper.
			return nil, fault.Permanent(fmt.Errorf("append to %s: %w", streamID, err))
		}
		return nil, err
	}
	for _, r := range routes {
		s.outbox.committed(r.key)
	}
	return recorded, nil
}

func queue(b *pgx.Batch, stmts ...Statement) {
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
}

// sendBatch sends b on one pooled connection and hands its results to read.
// It returns read's error, or else the batch's (the commit's) error.
func (s *EventStore) sendBatch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		br := driverConn.(*stdlib.Conn).Conn().SendBatch(ctx, b)
		err := read(br)
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("commit: %w", closeErr)
		}
		return err
	})
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

// ReadCommitted implements projections.EventHistory: up to limit events
// after cp in (transaction id, position) order, from transactions older
// than every transaction still running, decoded. Unlike ReadAll, a reader
// that follows it never steps over an event whose transaction commits after
// a later position became visible (positions are handed out at insert, not
// at commit).
func (s *EventStore) ReadCommitted(ctx context.Context, cp projections.Checkpoint, limit int) ([]projections.StoredEvent, projections.Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT transaction_id::text, position, stream_id, stream_version, event_type, payload
		FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)
		  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id, position LIMIT $3`, strconv.FormatUint(cp.TransactionID, 10), cp.Position, limit)
	if err != nil {
		return nil, cp, err
	}
	defer rows.Close()
	var out []projections.StoredEvent
	for rows.Next() {
		var e projections.StoredEvent
		var tx, typ string
		var payload []byte
		if err := rows.Scan(&tx, &e.Position, &e.StreamID, &e.StreamVersion, &typ, &payload); err != nil {
			return nil, cp, err
		}
		next, err := strconv.ParseUint(tx, 10, 64)
		if err != nil {
			return nil, cp, fmt.Errorf("transaction id %q: %w", tx, err)
		}
		if e.Event, err = s.Decode(typ, payload); err != nil {
			return nil, cp, fmt.Errorf("position %d: %w", e.Position, err)
		}
		cp = projections.Checkpoint{TransactionID: next, Position: e.Position}
		out = append(out, e)
	}
	return out, cp, rows.Err()
}

// ReadSnapshot hands fn every event committed when it starts, in position
// order, from one consistent snapshot (a read-only REPEATABLE READ
// transaction): what a replay for analytics reads. Nothing committed later
// appears half-way, and nothing committed before is skipped.
func (s *EventStore) ReadSnapshot(ctx context.Context, fn func(projections.StoredEvent) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read only
	rows, err := tx.QueryContext(ctx, `SELECT position, stream_id, stream_version, event_type, payload FROM events ORDER BY position`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e projections.StoredEvent
		var typ string
		var payload []byte
		if err := rows.Scan(&e.Position, &e.StreamID, &e.StreamVersion, &typ, &payload); err != nil {
			return err
		}
		if e.Event, err = s.Decode(typ, payload); err != nil {
			return fmt.Errorf("position %d: %w", e.Position, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LoadCheckpoint returns the checkpoint saved under name (zero if none).
func (s *EventStore) LoadCheckpoint(ctx context.Context, name string) (projections.Checkpoint, error) {
	var cp projections.Checkpoint
	var tx string
	err := s.db.QueryRowContext(ctx, `SELECT transaction_id::text, position FROM projection_checkpoints WHERE name = $1`, name).Scan(&tx, &cp.Position)
	if errors.Is(err, sql.ErrNoRows) {
		return projections.Checkpoint{}, nil
	}
	if err != nil {
		return cp, err
	}
	cp.TransactionID, err = strconv.ParseUint(tx, 10, 64)
	return cp, err
}

// SaveCheckpoint stores cp under name.
func (s *EventStore) SaveCheckpoint(ctx context.Context, name string, cp projections.Checkpoint) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO projection_checkpoints (name, transaction_id, position, updated_at) VALUES ($1, $2::text::xid8, $3, now())
		ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, updated_at = now()`,
		name, strconv.FormatUint(cp.TransactionID, 10), cp.Position)
	return err
}
