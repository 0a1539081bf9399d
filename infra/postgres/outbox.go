package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/surge-platform/surge/infra/fault"
)

// OutboxConfig tunes the outbox. Watermill's forwarder moves one message at
// a time, so throughput comes from shards: each has its own table and
// forwarder, and a stream always maps to the same shard, which keeps one
// aggregate's events in order. Each shard also runs its own transactions,
// so more shards are not free (docs/benchmarks.md: 2 did best on 2 cores).
type OutboxConfig struct {
	Shards int
	// PollInterval is the longest an idle forwarder waits before it looks
	// again (see wakeup). Appends in the same process wake it at once;
	// appends in other processes are found within this interval.
	PollInterval time.Duration
	BatchSize    int
	// Linger is how long a busy forwarder waits for more commits before it
	// queries again (Kafka's linger.ms, for the outbox).
	Linger time.Duration
}

// Outbox builds the writes that put events into the SQL outbox tables, for
// the caller's transaction, and runs the forwarders that move them to Kafka.
type Outbox struct {
	cfg    OutboxConfig
	logger watermill.LoggerAdapter
	wakers []*wakeup
}

// NewOutbox validates cfg.
func NewOutbox(cfg OutboxConfig, logger watermill.LoggerAdapter) (*Outbox, error) {
	if cfg.Shards < 1 || cfg.Shards > 64 {
		return nil, fmt.Errorf("outbox shards must be 1..64, got %d", cfg.Shards)
	}
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	o := &Outbox{cfg: cfg, logger: logger}
	for i := 0; i < cfg.Shards; i++ {
		o.wakers = append(o.wakers, newWakeup(cfg.PollInterval, cfg.Linger))
	}
	return o, nil
}

// OutboxTopic is the watermill-sql topic (table watermill_<topic>) of a shard.
func OutboxTopic(shard int) string { return fmt.Sprintf("surge_outbox_%d", shard) }

func (o *Outbox) shardOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key)) //nolint:errcheck
	return int(h.Sum32() % uint32(o.cfg.Shards))
}

func (o *Outbox) schema() watermillsql.DefaultPostgreSQLSchema {
	return watermillsql.DefaultPostgreSQLSchema{
		GeneratePayloadType: func(string) string { return "BYTEA" },
		SubscribeBatchSize:  o.cfg.BatchSize,
	}
}

// Statement is one SQL write of an append's transaction.
type Statement struct {
	SQL  string
	Args []any
}

// statements returns the writes that store msgs, bound for Kafka topic, in
// the shard of key. Watermill builds them: its forwarder publisher wraps
// each message in the envelope the forwarder reads, and the watermill-sql
// publisher turns that into its INSERT, which it hands to a recorder here
// instead of a *sql.Tx. The append sends them with its own writes in one
// round trip (EventStore.Append), so they reach Kafka only if it commits.
func (o *Outbox) statements(key, topic string, msgs ...*message.Message) ([]Statement, error) {
	rec := &recorder{}
	pub, err := watermillsql.NewPublisher(rec, watermillsql.PublisherConfig{SchemaAdapter: o.schema()}, o.logger)
	if err != nil {
		return nil, err
	}
	if err := forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: OutboxTopic(o.shardOf(key))}).Publish(topic, msgs...); err != nil {
		return nil, err
	}
	return rec.stmts, nil
}

// recorder is the watermill-sql publisher's executor: it keeps the
// statements the publisher executes. Without AutoInitializeSchema the
// publisher only ever calls ExecContext.
type recorder struct{ stmts []Statement }

var errRecorderExecOnly = errors.New("outbox recorder: only ExecContext is supported")

func (r *recorder) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	r.stmts = append(r.stmts, Statement{SQL: query, Args: args})
	return driver.RowsAffected(0), nil
}

func (r *recorder) Exec(query string, args ...any) (sql.Result, error) {
	return r.ExecContext(context.Background(), query, args...)
}

func (r *recorder) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errRecorderExecOnly
}

func (r *recorder) Query(string, ...any) (*sql.Rows, error) { return nil, errRecorderExecOnly }

// QueryRowContext cannot return an error row; the publisher never calls it.
func (r *recorder) QueryRowContext(context.Context, string, ...any) *sql.Row {
	panic(errRecorderExecOnly)
}

func (r *recorder) QueryRow(string, ...any) *sql.Row { panic(errRecorderExecOnly) }

// InitTables creates the outbox tables of every shard.
func (o *Outbox) InitTables(ctx context.Context, db *sql.DB) error {
	for i := 0; i < o.cfg.Shards; i++ {
		if err := initWatermillTopic(ctx, db, o.schema(), OutboxTopic(i)); err != nil {
			return err
		}
	}
	return nil
}

// committed wakes the forwarder of key's shard in this process right away.
//
// Forwarders in other processes are not notified: a pg_notify in the append
// transaction would do it, but PostgreSQL serializes the commits of every
// notifying transaction, which cost a third of the append rate in
// docs/benchmarks.md. They find new rows by the adaptive poll instead.
func (o *Outbox) committed(key string) { o.wakers[o.shardOf(key)].wake() }

// wakeup is the forwarders' watermill-sql BackoffManager. Instead of
// sleeping a fixed poll interval after an empty query, it waits for a commit
// signal, bounded by an interval that starts at 1 ms and doubles up to max
// while nothing turns up. After a signal, and after a batch that found rows,
// it lingers (1 ms by default) so that the next commits join the next batch. The short intervals after activity matter: a
// committed row stays invisible to the subscriber while an older transaction
// is still open (watermill-sql orders by transaction id), and nobody signals
// when that one ends. Idle, a forwarder looks max⁻¹ times a second instead of
// hundreds.
type wakeup struct {
	signal   chan struct{}
	max      time.Duration
	linger   time.Duration
	interval time.Duration // touched only by the subscriber's consume goroutine
}

const minWakeInterval = time.Millisecond

func newWakeup(max, linger time.Duration) *wakeup {
	return &wakeup{signal: make(chan struct{}, 1), max: max, linger: linger, interval: minWakeInterval}
}

func (w *wakeup) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *wakeup) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		w.interval = minWakeInterval
		if errors.Is(err, context.Canceled) {
			return 0 // closing
		}
		if code := fault.SQLState(err); code == "40001" || code == "40P01" {
			return 0 // serialization failure or deadlock: another forwarder instance holds the shard; try again
		}
		logger.Error("Error querying the outbox", err, nil)
		return 500 * time.Millisecond
	}
	if !noMsg {
		w.interval = minWakeInterval
		return w.linger
	}
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	select {
	case <-w.signal:
		// Let the commits of the next millisecond join this one: a forwarder
		// transaction then carries a batch, not a single row.
		w.interval = minWakeInterval
		return w.linger
	case <-timer.C:
		w.interval = min(w.interval*2, w.max)
	}
	return 0
}

// Pending counts the outbox rows no forwarder has moved to Kafka yet, in
// every shard: with Kafka's consumer lag, it tells when everything written
// has been handled (the tests wait for that instead of sleeping).
func (o *Outbox) Pending(ctx context.Context, db *sql.DB) (int, error) {
	offsets := watermillsql.DefaultPostgreSQLOffsetsAdapter{}
	total := 0
	for i := 0; i < o.cfg.Shards; i++ {
		topic := OutboxTopic(i)
		var n int
		err := db.QueryRowContext(ctx, `
			SELECT count(*) FROM `+o.schema().MessagesTable(topic)+` m
			WHERE NOT EXISTS (
				SELECT 1 FROM `+offsets.MessagesOffsetsTable(topic)+` a
				WHERE a.consumer_group = 'forwarder'
				  AND (m.transaction_id, m."offset") <= (a.last_processed_transaction_id, a.offset_acked))`).Scan(&n)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// NewForwarders creates one Watermill forwarder per shard, moving committed
// outbox messages to out (Kafka) in commit order. Call it once per Outbox.
func (o *Outbox) NewForwarders(db *sql.DB, out message.Publisher, closeTimeout time.Duration, decorate func(*message.Router)) ([]*forwarder.Forwarder, error) {
	ackDeadline := 30 * time.Second
	forwarders := make([]*forwarder.Forwarder, 0, o.cfg.Shards)
	for i := 0; i < o.cfg.Shards; i++ {
		sub, err := watermillsql.NewSubscriber(db, watermillsql.SubscriberConfig{
			ConsumerGroup:  "forwarder",
			AckDeadline:    &ackDeadline,
			PollInterval:   o.cfg.PollInterval,
			ResendInterval: 50 * time.Millisecond,
			RetryInterval:  500 * time.Millisecond,
			BackoffManager: o.wakers[i],
			SchemaAdapter:  o.schema(),
			OffsetsAdapter: watermillsql.DefaultPostgreSQLOffsetsAdapter{},
		}, o.logger)
		if err != nil {
			return nil, err
		}
		router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, o.logger)
		if err != nil {
			return nil, err
		}
		if decorate != nil {
			decorate(router)
		}
		f, err := forwarder.NewForwarder(sub, out, o.logger, forwarder.Config{
			ForwarderTopic: OutboxTopic(i),
			Router:         router,
			CloseTimeout:   closeTimeout,
		})
		if err != nil {
			return nil, err
		}
		forwarders = append(forwarders, f)
	}
	return forwarders, nil
}

// initWatermillTopic creates a watermill-sql topic's tables through
// Watermill's own schema initialization.
func initWatermillTopic(ctx context.Context, db *sql.DB, schema watermillsql.SchemaAdapter, topic string) error {
	sub, err := watermillsql.NewSubscriber(db, watermillsql.SubscriberConfig{
		SchemaAdapter:  schema,
		OffsetsAdapter: watermillsql.DefaultPostgreSQLOffsetsAdapter{},
	}, nil)
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := sub.SubscribeInitialize(topic); err != nil {
		return fmt.Errorf("init %s tables: %w", topic, err)
	}
	return nil
}
