// Package testenv gives tests real, isolated backends: a fresh PostgreSQL
// database, a Redis key prefix and an in-process Kafka-protocol broker, each
// removed when the test ends.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
)

// PostgresAdminURL is the server tests create their databases on.
func PostgresAdminURL() string {
	if v := os.Getenv("SURGE_TEST_POSTGRES_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis tests use (keys under a per-test prefix).
func RedisURL() string {
	if v := os.Getenv("SURGE_TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// RandomName returns prefix plus 12 random hex characters.
func RandomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck
	return prefix + hex.EncodeToString(b[:])
}

// Database creates an empty database and returns its URL; it is dropped
// when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	name := RandomName("surge_test_")
	admin, err := sql.Open("pgx", PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(PostgresAdminURL())
	u.Path = "/" + name
	return u.String()
}

// RedisPrefix returns a key prefix whose keys are deleted when the test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	prefix := RandomName("surgetest:") + ":"
	t.Cleanup(func() {
		opts, _ := goredis.ParseURL(RedisURL())
		rdb := goredis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// Redis returns a client for the test Redis.
func Redis(t testing.TB) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Kafka starts an in-process Kafka-protocol broker with the given topics
// (an app creates its own at start).
func Kafka(t testing.TB, topics ...kafka.Topic) []string {
	t.Helper()
	c, err := kafka.StartBroker("127.0.0.1:0", topics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Config returns a configuration on fresh backends: its own database, Redis
// prefix and Kafka broker, an ephemeral HTTP port, fast retries, and
// nothing from the developer's own SURGE_* environment. Flow settings are
// set with cfg.Set.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Source{
		"SURGE_HTTP_ADDR":              "127.0.0.1:0",
		"SURGE_DATABASE_URL":           Database(t),
		"SURGE_REDIS_URL":              RedisURL(),
		"SURGE_REDIS_PREFIX":           RedisPrefix(t),
		"SURGE_KAFKA_BROKERS":          strings.Join(Kafka(t), ","),
		"SURGE_ADMIN_TOKEN":            "test-admin-token",
		"SURGE_RETRY_MAX":              "3",
		"SURGE_RETRY_INITIAL_INTERVAL": "20ms",
		"SURGE_RETRY_MAX_INTERVAL":     "100ms",
		"SURGE_RETRY_MAX_ELAPSED":      "5s",
		"SURGE_SHUTDOWN_TIMEOUT":       "10s",
		"SURGE_REDIS_WATCH_INTERVAL":   "100ms",
		"SURGE_CATCHUP_INTERVAL":       "500ms",
		"SURGE_GATE_DRAIN_TIMEOUT":     "10s",
		"SURGE_LOG_LEVEL":              "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Eventually polls cond every 20ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Must fails the test on err.
func Must(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// EventStore is an event store on db and outbox that routes every event to
// topic (an app routes by its flows' declared topics).
func EventStore(t testing.TB, db *sql.DB, outbox *postgres.Outbox, topic string, types ...domain.Event) *postgres.EventStore {
	t.Helper()
	var msgs []kafka.Message
	for _, e := range types {
		msgs = append(msgs, e)
	}
	topology, err := kafka.NewTopology(kafka.Topic{Name: topic, Kind: kafka.Events, Partitions: 12, Retention: -1, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	envelope := postgres.Envelope{Wrap: messaging.Envelope{Topics: topology.TopicFor}.Wrap, Trace: messaging.Trace}
	return postgres.NewEventStore(db, outbox, envelope, types...)
}
