// Package config reads Surge's configuration from environment variables.
// Every setting has a default that works on a developer machine with
// PostgreSQL and Redis on localhost.
package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a Surge process.
type Config struct {
	HTTPAddr          string        // SURGE_HTTP_ADDR
	MetricsAddr       string        // SURGE_METRICS_ADDR: /metrics and /healthz of a process without the api role ("": none)
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
	OutboxLinger      time.Duration // SURGE_OUTBOX_LINGER
	RetryMax          int           // SURGE_RETRY_MAX
	RetryInitial      time.Duration // SURGE_RETRY_INITIAL_INTERVAL
	RetryMaxInterval  time.Duration // SURGE_RETRY_MAX_INTERVAL
	RetryMaxElapsed   time.Duration // SURGE_RETRY_MAX_ELAPSED
	ShutdownTimeout   time.Duration // SURGE_SHUTDOWN_TIMEOUT
	ResendGrace       time.Duration // SURGE_RESEND_GRACE: how long an admission may wait for its coupon
	ResendInterval    time.Duration // SURGE_RESEND_INTERVAL

	// The HTTP edge (api/edge.go).
	HTTPReadHeaderTimeout time.Duration // SURGE_HTTP_READ_HEADER_TIMEOUT
	HTTPReadTimeout       time.Duration // SURGE_HTTP_READ_TIMEOUT: whole request, body included
	HTTPWriteTimeout      time.Duration // SURGE_HTTP_WRITE_TIMEOUT (streams set their own deadlines)
	HTTPIdleTimeout       time.Duration // SURGE_HTTP_IDLE_TIMEOUT
	HTTPMaxHeaderBytes    int           // SURGE_HTTP_MAX_HEADER_BYTES
	HTTPMaxConns          int           // SURGE_HTTP_MAX_CONNS (0: the file-descriptor limit less a reserve)

	// Redis as a fast path that can fail (infra/redis).
	RedisTimeout       time.Duration // SURGE_REDIS_TIMEOUT: deadline of every Redis call
	RedisWatchInterval time.Duration // SURGE_REDIS_WATCH_INTERVAL: how often the data-loss marker is checked
	GateDrainTimeout   time.Duration // SURGE_GATE_DRAIN_TIMEOUT: how long a gate repair waits for queued commands
	CatchUpInterval    time.Duration // SURGE_CATCHUP_INTERVAL: how often projections are caught up from the event store

	PriceVendors       []PriceVendor // SURGE_PRICE_VENDORS: name=URL,... (URL contains {productId})
	PriceVendorTimeout time.Duration // SURGE_PRICE_VENDOR_TIMEOUT
	PriceTTL           time.Duration // SURGE_PRICE_TTL: how long vendors guarantee their prices
	PriceRetryBackoff  time.Duration // SURGE_PRICE_RETRY_BACKOFF: pause after a comparison no vendor answered
}

// PriceVendor is one configured price vendor.
type PriceVendor struct {
	Name string
	URL  string
}

// Load reads the environment.
func Load() (Config, error) {
	c := Config{
		HTTPAddr:          env("SURGE_HTTP_ADDR", "127.0.0.1:8080"),
		MetricsAddr:       env("SURGE_METRICS_ADDR", ""),
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
	c.OutboxShards = p.int("SURGE_OUTBOX_SHARDS", 2, 1, 64)
	c.OutboxPoll = p.duration("SURGE_OUTBOX_POLL_INTERVAL", 50*time.Millisecond)
	c.OutboxBatch = p.int("SURGE_OUTBOX_BATCH_SIZE", 100, 1, 10000)
	c.OutboxLinger = p.duration("SURGE_OUTBOX_LINGER", time.Millisecond)
	c.RetryMax = p.int("SURGE_RETRY_MAX", 5, 0, 100)
	c.RetryInitial = p.duration("SURGE_RETRY_INITIAL_INTERVAL", 100*time.Millisecond)
	c.RetryMaxInterval = p.duration("SURGE_RETRY_MAX_INTERVAL", 2*time.Second)
	c.RetryMaxElapsed = p.duration("SURGE_RETRY_MAX_ELAPSED", 30*time.Second)
	c.ShutdownTimeout = p.duration("SURGE_SHUTDOWN_TIMEOUT", 20*time.Second)
	c.ResendGrace = p.durationIn("SURGE_RESEND_GRACE", 2*time.Minute, 10*time.Millisecond, 24*time.Hour)
	c.ResendInterval = p.durationIn("SURGE_RESEND_INTERVAL", 30*time.Second, 10*time.Millisecond, time.Hour)
	c.HTTPReadHeaderTimeout = p.durationIn("SURGE_HTTP_READ_HEADER_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute)
	c.HTTPReadTimeout = p.durationIn("SURGE_HTTP_READ_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.HTTPWriteTimeout = p.durationIn("SURGE_HTTP_WRITE_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute)
	c.HTTPIdleTimeout = p.durationIn("SURGE_HTTP_IDLE_TIMEOUT", 60*time.Second, time.Second, time.Hour)
	c.HTTPMaxHeaderBytes = p.int("SURGE_HTTP_MAX_HEADER_BYTES", 16<<10, 1<<10, 1<<20)
	c.HTTPMaxConns = p.int("SURGE_HTTP_MAX_CONNS", 0, 0, 1_000_000)
	c.RedisTimeout = p.durationIn("SURGE_REDIS_TIMEOUT", 500*time.Millisecond, 10*time.Millisecond, time.Minute)
	c.RedisWatchInterval = p.durationIn("SURGE_REDIS_WATCH_INTERVAL", time.Second, 10*time.Millisecond, time.Minute)
	c.GateDrainTimeout = p.durationIn("SURGE_GATE_DRAIN_TIMEOUT", 30*time.Second, 0, 10*time.Minute)
	c.CatchUpInterval = p.durationIn("SURGE_CATCHUP_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour)
	c.PriceVendors = p.priceVendors("SURGE_PRICE_VENDORS")
	c.PriceVendorTimeout = p.durationIn("SURGE_PRICE_VENDOR_TIMEOUT", 2*time.Second, time.Millisecond, time.Minute)
	c.PriceTTL = p.durationIn("SURGE_PRICE_TTL", 5*time.Minute, 100*time.Millisecond, 7*24*time.Hour)
	c.PriceRetryBackoff = p.durationIn("SURGE_PRICE_RETRY_BACKOFF", 5*time.Second, time.Millisecond, time.Hour)
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

func (p parser) durationIn(key string, def, min, max time.Duration) time.Duration {
	d := p.duration(key, def)
	if d < min || d > max {
		*p.errs = append(*p.errs, fmt.Sprintf("%s=%s must be between %s and %s", key, d, min, max))
		return def
	}
	return d
}

var vendorNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// priceVendors reads comma-separated name=URL pairs; each URL must be an
// absolute http(s) URL containing {productId}, each name unique.
func (p parser) priceVendors(key string) []PriceVendor {
	v := env(key, "")
	if v == "" {
		return nil
	}
	var out []PriceVendor
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, rawURL, ok := strings.Cut(item, "=")
		name, rawURL = strings.TrimSpace(name), strings.TrimSpace(rawURL)
		if !ok || !vendorNamePattern.MatchString(name) {
			*p.errs = append(*p.errs, fmt.Sprintf("%s: %q must be name=URL with a name of 1-64 characters [A-Za-z0-9._-]", key, item))
			continue
		}
		u, err := url.Parse(strings.ReplaceAll(rawURL, "{productId}", "x"))
		if err != nil || !strings.Contains(rawURL, "{productId}") || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			*p.errs = append(*p.errs, fmt.Sprintf("%s: vendor %s: %q must be an absolute http(s) URL containing {productId}", key, name, rawURL))
			continue
		}
		if seen[name] {
			*p.errs = append(*p.errs, fmt.Sprintf("%s: vendor %s is listed twice", key, name))
			continue
		}
		seen[name] = true
		out = append(out, PriceVendor{Name: name, URL: rawURL})
	}
	if len(out) == 0 && len(*p.errs) == 0 {
		*p.errs = append(*p.errs, fmt.Sprintf("%s=%q lists no vendor", key, v))
	}
	return out
}
