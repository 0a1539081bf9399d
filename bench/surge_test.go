package bench

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
)

// surge is the part of a Surge process the benchmarks drive: the HTTP API
// and/or the outbox forwarders, on the event store.
//
// Why this duplicates cmd/surge/app.go: NewApp lives in package main, which
// cannot be imported, and the benchmarks must not change cmd/surge. So this
// is a copy of the few lines of NewApp/Run these paths go through (same
// adapters, same Prometheus-decorated Kafka publisher, same forwarders,
// same HTTP server settings); what the benchmarks do not
// drive (command handlers, projections, readiness checks, price endpoints)
// is left out. Keep it in step with app.go -- and if the wiring moves to an importable
// package, use that instead and delete this.
type surge struct {
	cfg        config.Config
	db         *sql.DB
	rdb        *goredis.Client
	pub        message.Publisher // the decorated Kafka publisher, as in the app
	store      *postgres.EventStore
	outbox     *postgres.Outbox
	forwarders []*forwarder.Forwarder
	URL        string // http://host:port of the API ("" without it)
}

type surgeRoles struct {
	API       bool
	Forwarder bool
	// HoldForwarders creates the forwarders without running them; the
	// benchmark starts them with startForwarders.
	HoldForwarders bool
}

// quietHandler logs warnings and errors, like the tests, until quiet is
// set when the benchmark's clean-up starts: closing the forwarders cancels
// their queries in flight, which watermill-sql logs as errors that mean
// nothing here.
type quietHandler struct {
	slog.Handler
	quiet *atomic.Bool
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.quiet.Load() && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a), h.quiet}
}

func (h quietHandler) WithGroup(n string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(n), h.quiet}
}

// startSurge wires the roles on cfg's backends and runs them until the
// benchmark ends. It mirrors NewApp + Run for those roles (see the type
// comment).
func startSurge(b *testing.B, cfg config.Config, roles surgeRoles) *surge {
	b.Helper()
	quiet := new(atomic.Bool)
	handler := quietHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), quiet}
	wmLog := messaging.NewLogger(slog.New(handler))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &surge{cfg: cfg}
	ownDatabase(cfg.DatabaseURL)

	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers); err != nil {
		b.Fatal(err)
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	benchkit.Must(b, err, "open postgres")
	s.db = db
	b.Cleanup(func() { db.Close() })
	benchkit.Must(b, postgres.Migrate(ctx, db), "migrate")
	outbox, err := postgres.NewOutbox(postgres.OutboxConfig{Shards: cfg.OutboxShards, PollInterval: cfg.OutboxPoll, BatchSize: cfg.OutboxBatch, Linger: cfg.OutboxLinger}, wmLog)
	benchkit.Must(b, err, "outbox")
	benchkit.Must(b, outbox.InitTables(ctx, db), "outbox tables")
	s.outbox = outbox
	s.rdb, err = redis.Connect(ctx, cfg.RedisURL)
	benchkit.Must(b, err, "redis")
	b.Cleanup(func() { s.rdb.Close() })

	registry := prometheus.NewRegistry()
	metricsBuilder := metrics.NewPrometheusMetricsBuilder(registry, "surge", "watermill")
	rawPub, err := kafka.NewPublisher(cfg.KafkaBrokers, wmLog)
	benchkit.Must(b, err, "kafka publisher")
	b.Cleanup(func() { rawPub.Close() })
	s.pub, err = metricsBuilder.DecoratePublisher(rawPub)
	benchkit.Must(b, err, "decorate publisher")

	s.store = postgres.NewEventStore(db, outbox, coupon.EventTypes()...)
	couponRepo := postgres.NewCouponRepository(s.store)
	campaigns := redis.NewCampaigns(s.rdb, cfg.RedisPrefix)

	if roles.Forwarder {
		s.forwarders, err = outbox.NewForwarders(db, s.pub, cfg.ShutdownTimeout, metricsBuilder.AddPrometheusRouterMetrics)
		benchkit.Must(b, err, "forwarders")
		for _, f := range s.forwarders {
			b.Cleanup(func() { f.Close() })
		}
		if !roles.HoldForwarders {
			s.startForwarders(b)
		}
	}
	if roles.API {
		bus, err := messaging.NewCommandBus(s.pub)
		benchkit.Must(b, err, "command bus")
		handler, err := api.NewHandler(api.Deps{
			Commands:       bus,
			OpenCampaign:   handlers.OpenCampaignHandler{Campaigns: couponRepo, Gate: campaigns},
			Gate:           campaigns,
			Campaigns:      campaigns,
			Poison:         postgres.NewPoisonQueue(db, s.pub),
			AdminToken:     cfg.AdminToken,
			MaxBodyBytes:   cfg.MaxBodyBytes,
			Registry:       registry,
			MetricsHandler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
		})
		benchkit.Must(b, err, "api")
		s.URL = benchkit.ServeHTTP(b, handler)
	}
	b.Cleanup(func() { quiet.Store(true) }) // runs first: clean-ups run last-in first-out
	return s
}

// startForwarders runs the forwarders and waits until they are running.
func (s *surge) startForwarders(b *testing.B) {
	b.Helper()
	for _, f := range s.forwarders {
		go f.Run(context.Background()) //nolint:errcheck // stopped by Close in the clean-up
	}
	timeout := time.After(60 * time.Second)
	for _, f := range s.forwarders {
		select {
		case <-f.Running():
		case <-timeout:
			b.Fatal("forwarders not running after 60s")
		}
	}
}
