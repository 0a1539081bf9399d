package postgres

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/internal/poison"
)

// The poison queue is a watermill-sql topic: the router's PoisonQueue
// middleware publishes into it with Watermill's SQL publisher, and this
// file reads it for operators. Payloads are BYTEA because a poisoned
// payload may not be JSON at all.
func poisonSchema() watermillsql.DefaultPostgreSQLSchema {
	return watermillsql.DefaultPostgreSQLSchema{GeneratePayloadType: func(string) string { return "BYTEA" }}
}

const poisonTable = `"watermill_` + poison.Topic + `"`

// NewPoisonPublisher is the publisher the router's poison middleware uses.
func NewPoisonPublisher(db *sql.DB, logger watermill.LoggerAdapter) (message.Publisher, error) {
	return watermillsql.NewPublisher(db, watermillsql.PublisherConfig{SchemaAdapter: poisonSchema()}, logger)
}

// InitPoisonTables creates the poison queue's table.
func InitPoisonTables(ctx context.Context, db *sql.DB) error {
	return initWatermillTopic(ctx, db, poisonSchema(), poison.Topic)
}

// ErrPoisonEntryNotFound: no entry with that id.
var ErrPoisonEntryNotFound = domain.NotFound("poison_entry_not_found", "no poison queue entry with that id")

// PoisonQueue lists, requeues and discards poisoned messages.
type PoisonQueue struct {
	db  *sql.DB
	out message.Publisher
}

// NewPoisonQueue reads the queue in db and requeues to out (Kafka).
func NewPoisonQueue(db *sql.DB, out message.Publisher) *PoisonQueue {
	return &PoisonQueue{db: db, out: out}
}

const poisonColumns = `"offset", uuid, payload, metadata, created_at`

// List returns up to limit entries, oldest first.
func (q *PoisonQueue) List(ctx context.Context, limit int) ([]poison.Entry, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+poisonColumns+` FROM `+poisonTable+` ORDER BY "offset" LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []poison.Entry{}
	for rows.Next() {
		e, err := scanPoison(rows)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// Size counts the entries in the queue.
func (q *PoisonQueue) Size(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM `+poisonTable).Scan(&n)
	return n, err
}

// Get returns one entry.
func (q *PoisonQueue) Get(ctx context.Context, id int64) (poison.Entry, error) {
	e, err := scanPoison(q.db.QueryRowContext(ctx, `SELECT `+poisonColumns+` FROM `+poisonTable+` WHERE "offset" = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrPoisonEntryNotFound
	}
	return e, err
}

// Requeue sends the message back to its original topic with its original id
// and removes the entry. If the send fails the entry stays.
func (q *PoisonQueue) Requeue(ctx context.Context, id int64) (poison.Entry, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return poison.Entry{}, err
	}
	defer tx.Rollback() //nolint:errcheck
	e, err := scanPoison(tx.QueryRowContext(ctx, `SELECT `+poisonColumns+` FROM `+poisonTable+` WHERE "offset" = $1 FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrPoisonEntryNotFound
	}
	if err != nil {
		return e, err
	}
	payload := []byte(e.Payload)
	if e.PayloadEncoding == "base64" {
		if payload, err = base64.StdEncoding.DecodeString(e.Payload); err != nil {
			return e, err
		}
	}
	msg := message.NewMessage(e.MessageID, payload)
	for k, v := range e.Metadata {
		switch k {
		case middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
			middleware.PoisonedSubscriberKey, poison.AttemptsKey:
		default:
			msg.Metadata.Set(k, v)
		}
	}
	if e.Topic == "" {
		return e, fmt.Errorf("entry %d has no original topic", id)
	}
	if err := q.out.Publish(e.Topic, msg); err != nil {
		return e, fmt.Errorf("requeue to %s: %w", e.Topic, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+poisonTable+` WHERE "offset" = $1`, id); err != nil {
		return e, err
	}
	return e, tx.Commit()
}

// Discard removes an entry for good.
func (q *PoisonQueue) Discard(ctx context.Context, id int64) error {
	res, err := q.db.ExecContext(ctx, `DELETE FROM `+poisonTable+` WHERE "offset" = $1`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrPoisonEntryNotFound
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanPoison(row scanner) (poison.Entry, error) {
	var e poison.Entry
	var payload, metadata []byte
	if err := row.Scan(&e.ID, &e.MessageID, &payload, &metadata, &e.PoisonedAt); err != nil {
		return e, err
	}
	e.Metadata = map[string]string{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &e.Metadata); err != nil {
			return e, fmt.Errorf("poison entry %d metadata: %w", e.ID, err)
		}
	}
	if utf8.Valid(payload) {
		e.Payload, e.PayloadEncoding = string(payload), "utf8"
	} else {
		e.Payload, e.PayloadEncoding = base64.StdEncoding.EncodeToString(payload), "base64"
	}
	e.Topic = e.Metadata[middleware.PoisonedTopicKey]
	e.Handler = e.Metadata[middleware.PoisonedHandlerKey]
	e.Reason = e.Metadata[middleware.ReasonForPoisonedKey]
	e.Attempts, _ = strconv.Atoi(e.Metadata[poison.AttemptsKey])
	e.PoisonedAt = e.PoisonedAt.UTC()
	return e, nil
}
