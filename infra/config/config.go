// Package config reads Surge's configuration from environment variables.
// Every setting has a default that works on a developer machine with
// PostgreSQL and Redis on localhost.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a Surge process.
type Config struct {
	HTTPAddr          string        // SURGE_HTTP_ADDR
	DatabaseURL       string        // SURGE_DATABASE_URL
	PoisonDatabaseURL string        // SURGE_POISON_DATABASE_URL (default: SURGE_DATABASE_URL)
	DatabaseMaxConns  int           // SURGE_DATABASE_MAX_CONNS
	RedisURL          string        // SURGE_REDIS_URL
	RedisPrefix       string        // SURGE_REDIS_PREFIX
	KafkaBrokers      []string      // SURGE_KAFKA_BROKERS (empty: embedded broker)
	EmbeddedKafkaAddr string        // SURGE_EMBEDDED_KAFKA_ADDR
	AdminToken        string        // SURGE_ADMIN_TOKEN (empty: admin API disabled)
	LogLevel          string        // SURGE_LOG_LEVEL (debug, info, warn, error)
	LogFormat         string        // SURGE_LOG_FORMAT (json, text)
	MaxBodyBytes      int64         // SURGE_MAX_BODY_BYTES
	OutboxShards      int           // SURGE_OUTBOX_SHARDS
	OutboxPoll        time.Duration // SURGE_OUTBOX_POLL_INTERVAL
	OutboxBatch       int           // SURGE_OUTBOX_BATCH_SIZE
	RetryMax          int           // SURGE_RETRY_MAX
	RetryInitial      time.Duration // SURGE_RETRY_INITIAL_INTERVAL
	RetryMaxInterval  time.Duration // SURGE_RETRY_MAX_INTERVAL
	RetryMaxElapsed   time.Duration // SURGE_RETRY_MAX_ELAPSED
	ShutdownTimeout   time.Duration // SURGE_SHUTDOWN_TIMEOUT
}

// Load reads the environment.
func Load() (Config, error) {
	c := Config{
		HTTPAddr:          env("SURGE_HTTP_ADDR", "127.0.0.1:8080"),
		DatabaseURL:       env("SURGE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge?sslmode=disable"),
		RedisURL:          env("SURGE_REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:       env("SURGE_REDIS_PREFIX", "surge:"),
		EmbeddedKafkaAddr: env("SURGE_EMBEDDED_KAFKA_ADDR", "127.0.0.1:0"),
		AdminToken:        os.Getenv("SURGE_ADMIN_TOKEN"),
		LogLevel:          env("SURGE_LOG_LEVEL", "info"),
		LogFormat:         env("SURGE_LOG_FORMAT", "json"),
	}
	c.PoisonDatabaseURL = env("SURGE_POISON_DATABASE_URL", c.DatabaseURL)
	if b := strings.TrimSpace(os.Getenv("SURGE_KAFKA_BROKERS")); b != "" {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.KafkaBrokers = append(c.KafkaBrokers, s)
			}
		}
	}
	var errs []string
	p := parser{errs: &errs}
	c.DatabaseMaxConns = p.int("SURGE_DATABASE_MAX_CONNS", 32, 2, 1000)
	c.MaxBodyBytes = int64(p.int("SURGE_MAX_BODY_BYTES", 64<<10, 1<<10, 64<<20))
	c.OutboxShards = p.int("SURGE_OUTBOX_SHARDS", 4, 1, 64)
	c.OutboxPoll = p.duration("SURGE_OUTBOX_POLL_INTERVAL", 250*time.Millisecond)
	c.OutboxBatch = p.int("SURGE_OUTBOX_BATCH_SIZE", 100, 1, 10000)
	c.RetryMax = p.int("SURGE_RETRY_MAX", 5, 0, 100)
	c.RetryInitial = p.duration("SURGE_RETRY_INITIAL_INTERVAL", 100*time.Millisecond)
	c.RetryMaxInterval = p.duration("SURGE_RETRY_MAX_INTERVAL", 2*time.Second)
	c.RetryMaxElapsed = p.duration("SURGE_RETRY_MAX_ELAPSED", 30*time.Second)
	c.ShutdownTimeout = p.duration("SURGE_SHUTDOWN_TIMEOUT", 20*time.Second)
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

type parser struct{ errs *[]string }

func (p parser) int(key string, def, min, max int) int {
	v := env(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		*p.errs = append(*p.errs, fmt.Sprintf("%s=%q must be an integer in %d..%d", key, v, min, max))
		return def
	}
	return n
}

func (p parser) duration(key string, def time.Duration) time.Duration {
	v := env(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*p.errs = append(*p.errs, fmt.Sprintf("%s=%q must be a positive duration like 250ms", key, v))
		return def
	}
	return d
}
