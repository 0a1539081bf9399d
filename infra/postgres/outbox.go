package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// OutboxConfig tunes the outbox. Watermill's forwarder moves one message at
// a time, so throughput comes from shards: each has its own table and
// forwarder, and a stream always maps to the same shard, which keeps one
// aggregate's events in order.
type OutboxConfig struct {
	Shards int
	// PollInterval is the longest an idle forwarder waits before it looks
	// again without being woken (see wakeup); commits wake it at once.
	PollInterval time.Duration
	BatchSize    int
}

// notifyChannel is the PostgreSQL channel a trigger on every outbox table
// notifies, with the shard number, when a transaction that wrote to it commits.
const notifyChannel = "surge_outbox"

// Outbox writes events into SQL outbox tables inside the caller's transaction.
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
		o.wakers = append(o.wakers, newWakeup(cfg.PollInterval))
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

// Publish stores msgs, bound for Kafka topic, in the shard of key, within tx.
// They reach Kafka only if tx commits.
func (o *Outbox) Publish(tx *sql.Tx, key, topic string, msgs ...*message.Message) error {
	pub, err := watermillsql.NewPublisher(tx, watermillsql.PublisherConfig{SchemaAdapter: o.schema()}, o.logger)
	if err != nil {
		return err
	}
	return forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: OutboxTopic(o.shardOf(key))}).Publish(topic, msgs...)
}

// InitTables creates the outbox tables of every shard, each with a trigger
// that notifies the forwarders when a transaction writing to it commits.
func (o *Outbox) InitTables(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE OR REPLACE FUNCTION surge_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_notify('`+notifyChannel+`', TG_ARGV[0]); RETURN NULL; END $$`)
	if err != nil {
		return fmt.Errorf("outbox notify function: %w", err)
	}
	for i := 0; i < o.cfg.Shards; i++ {
		if err := initWatermillTopic(ctx, db, o.schema(), OutboxTopic(i)); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE OR REPLACE TRIGGER surge_outbox_notify AFTER INSERT ON "watermill_%s"
			FOR EACH STATEMENT EXECUTE FUNCTION surge_outbox_notify('%d')`, OutboxTopic(i), i))
		if err != nil {
			return fmt.Errorf("outbox trigger %d: %w", i, err)
		}
	}
	return nil
}

// Listen wakes the forwarders of this process on every outbox commit, from
// any process, until ctx ends. Without it forwarders still run, polling at
// PollInterval.
func (o *Outbox) Listen(ctx context.Context, dsn string) {
	for ctx.Err() == nil {
		err := o.listen(ctx, dsn)
		if ctx.Err() != nil {
			return
		}
		o.logger.Error("outbox listener lost its connection; forwarders poll until it is back", err, nil)
		o.wakeAll() // whatever was committed meanwhile is found by the next look
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (o *Outbox) listen(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	o.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if shard, err := strconv.Atoi(n.Payload); err == nil && shard >= 0 && shard < len(o.wakers) {
			o.wakers[shard].wake()
		}
	}
}

// committed wakes the forwarder of key's shard in this process right away
// (other processes hear of it through Listen).
func (o *Outbox) committed(key string) { o.wakers[o.shardOf(key)].wake() }

func (o *Outbox) wakeAll() {
	for _, w := range o.wakers {
		w.wake()
	}
}

// wakeup is the forwarders' watermill-sql BackoffManager. Instead of
// sleeping a fixed poll interval after an empty query, it waits for a commit
// notification, bounded by an interval that starts at 1 ms and doubles up to
// max while nothing turns up. The short intervals after a wake-up matter:
// a committed row stays invisible to the subscriber while an older
// transaction is still open (watermill-sql orders by transaction id), and
// nobody notifies when that one ends. Idle, a forwarder looks max⁻¹ times a
// second instead of hundreds.
type wakeup struct {
	signal   chan struct{}
	max      time.Duration
	interval time.Duration // touched only by the subscriber's consume goroutine
}

const minWakeInterval = time.Millisecond

func newWakeup(max time.Duration) *wakeup {
	return &wakeup{signal: make(chan struct{}, 1), max: max, interval: minWakeInterval}
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
		if strings.Contains(strings.ToLower(err.Error()), "concurrent update") || strings.Contains(strings.ToLower(err.Error()), "deadlock") {
			return 0 // another forwarder instance holds the shard; try again
		}
		logger.Error("Error querying the outbox", err, nil)
		return 500 * time.Millisecond
	}
	if !noMsg {
		w.interval = minWakeInterval
		return 0
	}
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	select {
	case <-w.signal:
		w.interval = minWakeInterval
	case <-timer.C:
		w.interval = min(w.interval*2, w.max)
	}
	return 0
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
