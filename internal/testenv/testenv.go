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
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
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

// Kafka starts an in-process Kafka-protocol broker with Surge's topics.
func Kafka(t testing.TB) []string {
	t.Helper()
	c, err := kafka.StartBroker("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Config returns a configuration on fresh backends: its own database, Redis
// prefix and Kafka broker, an ephemeral HTTP port, and fast retries.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = Database(t)
	cfg.PoisonDatabaseURL = cfg.DatabaseURL
	cfg.RedisURL = RedisURL()
	cfg.RedisPrefix = RedisPrefix(t)
	cfg.KafkaBrokers = Kafka(t)
	cfg.AdminToken = "test-admin-token"
	cfg.RetryMax = 3
	cfg.RetryInitial = 20 * time.Millisecond
	cfg.RetryMaxInterval = 100 * time.Millisecond
	cfg.RetryMaxElapsed = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.RedisWatchInterval = 100 * time.Millisecond
	cfg.CatchUpInterval = 500 * time.Millisecond
	cfg.GateDrainTimeout = 10 * time.Second
	cfg.LogLevel = "warn"
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
