// Package config reads Surge's configuration: SURGE_* settings with
// defaults that work on a developer machine with PostgreSQL and Redis on
// localhost. The platform's own settings are Config; each flow reads its own
// section from the same Source through a Reader (internal/flows), and every
// error of every section is reported together.
package config

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"
)

// Source is the SURGE_* settings a process runs with: the environment for
// the binary, a map of its own for each test (so a developer's environment
// never leaks into a test).
type Source map[string]string

// Environ is the process environment's SURGE_* settings.
func Environ() Source {
	src := Source{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "SURGE_") {
			src[k] = v
		}
	}
	return src
}

// Clone copies the source.
func (s Source) Clone() Source { return maps.Clone(s) }

// Reader reads typed settings from a Source and collects every error, so a
// misconfigured process names all the variables to fix at once.
type Reader struct {
	src  Source
	errs []string
}

// NewReader reads from src.
func NewReader(src Source) *Reader { return &Reader{src: src} }

// Raw is the trimmed value of key ("" if unset).
func (r *Reader) Raw(key string) string { return strings.TrimSpace(r.src[key]) }

// String is key's value, or def when unset or blank.
func (r *Reader) String(key, def string) string {
	if v := r.Raw(key); v != "" {
		return v
	}
	return def
}

// Int is key as an integer in min..max.
func (r *Reader) Int(key string, def, min, max int) int {
	v := r.Raw(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.Failf("%s=%q must be an integer in %d..%d", key, v, min, max)
		return def
	}
	return n
}

// Float is key as a number in min..max.
func (r *Reader) Float(key string, def, min, max float64) float64 {
	v := r.Raw(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < min || f > max {
		r.Failf("%s=%q must be a number in %g..%g", key, v, min, max)
		return def
	}
	return f
}

// Duration is key as a duration ("250ms", "2m") in min..max.
func (r *Reader) Duration(key string, def, min, max time.Duration) time.Duration {
	v := r.Raw(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		r.Failf("%s=%q must be a duration like 250ms or 2m, between %s and %s", key, v, min, max)
		return def
	}
	return d
}

// List is key as comma-separated values, blanks dropped.
func (r *Reader) List(key string) []string {
	var out []string
	for _, s := range strings.Split(r.Raw(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Failf records an error (it should name the variable).
func (r *Reader) Failf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Err is every error recorded, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %s", strings.Join(r.errs, "; "))
}

// Config is the platform's configuration; flows read theirs from Source.
type Config struct {
	Source Source // every setting, for the flows' sections

	HTTPAddr          string        // SURGE_HTTP_ADDR
	MetricsAddr       string        // SURGE_METRICS_ADDR: /metrics and /healthz of a process without the api role ("": none)
	DatabaseURL       string        // SURGE_DATABASE_URL
	PoisonDatabaseURL string        // SURGE_POISON_DATABASE_URL (default: SURGE_DATABASE_URL)
	DatabaseMaxConns  int           // SURGE_DATABASE_MAX_CONNS
	RedisURL          string        // SURGE_REDIS_URL
	RedisPrefix       string        // SURGE_REDIS_PREFIX
	KafkaBrokers      []string      // SURGE_KAFKA_BROKERS (empty: embedded broker)
	EmbeddedKafkaAddr string        // SURGE_EMBEDDED_KAFKA_ADDR
	InstanceID        string        // SURGE_INSTANCE_ID (default: host name and process id)
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
	CatchUpInterval    time.Duration // SURGE_CATCHUP_INTERVAL: how often projections are caught up from the event store
	PushWatchInterval  time.Duration // SURGE_PUSH_WATCH_INTERVAL: how often a push instance compares its feeds with the store's heads
	PushCoalesceAt     int           // SURGE_PUSH_COALESCE_AT: subscribers of one key from which its messages are batched (0: never)
	PushLinger         time.Duration // SURGE_PUSH_LINGER: how long such a batch gathers
}

// Set changes one setting (tests use it for a flow's section).
func (c *Config) Set(key, value string) {
	if c.Source == nil {
		c.Source = Source{}
	}
	c.Source[key] = value
}

// Load reads the platform's settings from src.
func Load(src Source) (Config, error) {
	r := NewReader(src)
	c := Read(r)
	return c, r.Err()
}

// Read reads the platform's settings, recording errors in r.
func Read(r *Reader) Config {
	c := Config{
		Source:            r.src,
		HTTPAddr:          r.String("SURGE_HTTP_ADDR", "127.0.0.1:8080"),
		MetricsAddr:       r.String("SURGE_METRICS_ADDR", ""),
		DatabaseURL:       r.String("SURGE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge?sslmode=disable"),
		RedisURL:          r.String("SURGE_REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:       r.String("SURGE_REDIS_PREFIX", "surge:"),
		KafkaBrokers:      r.List("SURGE_KAFKA_BROKERS"),
		EmbeddedKafkaAddr: r.String("SURGE_EMBEDDED_KAFKA_ADDR", "127.0.0.1:0"),
		InstanceID:        r.String("SURGE_INSTANCE_ID", defaultInstanceID()),
		AdminToken:        r.Raw("SURGE_ADMIN_TOKEN"),
		LogLevel:          r.String("SURGE_LOG_LEVEL", "info"),
		LogFormat:         r.String("SURGE_LOG_FORMAT", "json"),
	}
	c.PoisonDatabaseURL = r.String("SURGE_POISON_DATABASE_URL", c.DatabaseURL)
	c.DatabaseMaxConns = r.Int("SURGE_DATABASE_MAX_CONNS", 32, 2, 1000)
	c.MaxBodyBytes = int64(r.Int("SURGE_MAX_BODY_BYTES", 64<<10, 1<<10, 64<<20))
	c.OutboxShards = r.Int("SURGE_OUTBOX_SHARDS", 2, 1, 64)
	c.OutboxPoll = r.Duration("SURGE_OUTBOX_POLL_INTERVAL", 50*time.Millisecond, time.Millisecond, time.Minute)
	c.OutboxBatch = r.Int("SURGE_OUTBOX_BATCH_SIZE", 100, 1, 10000)
	c.OutboxLinger = r.Duration("SURGE_OUTBOX_LINGER", time.Millisecond, time.Microsecond, time.Second)
	c.RetryMax = r.Int("SURGE_RETRY_MAX", 5, 0, 100)
	c.RetryInitial = r.Duration("SURGE_RETRY_INITIAL_INTERVAL", 100*time.Millisecond, time.Millisecond, time.Minute)
	c.RetryMaxInterval = r.Duration("SURGE_RETRY_MAX_INTERVAL", 2*time.Second, time.Millisecond, 10*time.Minute)
	c.RetryMaxElapsed = r.Duration("SURGE_RETRY_MAX_ELAPSED", 30*time.Second, time.Millisecond, time.Hour)
	c.ShutdownTimeout = r.Duration("SURGE_SHUTDOWN_TIMEOUT", 20*time.Second, time.Second, 10*time.Minute)
	c.HTTPReadHeaderTimeout = r.Duration("SURGE_HTTP_READ_HEADER_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute)
	c.HTTPReadTimeout = r.Duration("SURGE_HTTP_READ_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.HTTPWriteTimeout = r.Duration("SURGE_HTTP_WRITE_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute)
	c.HTTPIdleTimeout = r.Duration("SURGE_HTTP_IDLE_TIMEOUT", 60*time.Second, time.Second, time.Hour)
	c.HTTPMaxHeaderBytes = r.Int("SURGE_HTTP_MAX_HEADER_BYTES", 16<<10, 1<<10, 1<<20)
	c.HTTPMaxConns = r.Int("SURGE_HTTP_MAX_CONNS", 0, 0, 1_000_000)
	c.RedisTimeout = r.Duration("SURGE_REDIS_TIMEOUT", 500*time.Millisecond, 10*time.Millisecond, time.Minute)
	c.RedisWatchInterval = r.Duration("SURGE_REDIS_WATCH_INTERVAL", time.Second, 10*time.Millisecond, time.Minute)
	c.CatchUpInterval = r.Duration("SURGE_CATCHUP_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour)
	c.PushWatchInterval = r.Duration("SURGE_PUSH_WATCH_INTERVAL", 2*time.Second, 10*time.Millisecond, time.Hour)
	c.PushCoalesceAt = r.Int("SURGE_PUSH_COALESCE_AT", 1000, 0, 10_000_000)
	c.PushLinger = r.Duration("SURGE_PUSH_LINGER", 50*time.Millisecond, 0, 10*time.Second)
	switch c.LogFormat {
	case "json", "text":
	default:
		r.Failf("SURGE_LOG_FORMAT=%q must be json or text", c.LogFormat)
	}
	return c
}

func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "surge"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
