package pricebench

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/projections"
)

// surge is the part of a Surge process the price benchmarks drive.
//
// Why this duplicates cmd/surge/app.go: NewApp lives in package main, which
// cannot be imported. So this is a copy of the lines of NewApp/Run the price
// flow goes through (same adapters, same Prometheus-decorated Kafka
// publisher, router middleware, forwarders, HTTP server settings). Keep it in
// step with app.go; if app.go grows an importable wiring package, use that.
type surge struct {
	rdb    *goredis.Client
	prices *redis.Prices
	URL    string
}

// withPipeline also runs the command handler, the outbox forwarders and the
// projection; without it only the API runs (enough for cache hits).
func startSurge(b *testing.B, cfg config.Config, withPipeline bool) *surge {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	wmLog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &surge{}

	benchkit.Must(b, kafka.EnsureTopics(ctx, cfg.KafkaBrokers), "topics")
	db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	benchkit.Must(b, err, "open postgres")
	b.Cleanup(func() { db.Close() })
	benchkit.Must(b, postgres.Migrate(ctx, db), "migrate")
	benchkit.Must(b, postgres.InitPoisonTables(ctx, db), "poison tables")
	outbox, err := postgres.NewOutbox(postgres.OutboxConfig{Shards: cfg.OutboxShards, PollInterval: cfg.OutboxPoll, BatchSize: cfg.OutboxBatch}, wmLog)
	benchkit.Must(b, err, "outbox")
	benchkit.Must(b, outbox.InitTables(ctx, db), "outbox tables")
	s.rdb, err = redis.Connect(ctx, cfg.RedisURL)
	benchkit.Must(b, err, "redis")
	b.Cleanup(func() { s.rdb.Close() })
	s.prices = redis.NewPrices(s.rdb, cfg.RedisPrefix)

	registry := prometheus.NewRegistry()
	metricsBuilder := metrics.NewPrometheusMetricsBuilder(registry, "surge", "watermill")
	rawPub, err := kafka.NewPublisher(cfg.KafkaBrokers, wmLog)
	benchkit.Must(b, err, "kafka publisher")
	b.Cleanup(func() { rawPub.Close() })
	pub, err := metricsBuilder.DecoratePublisher(rawPub)
	benchkit.Must(b, err, "decorate publisher")
	store := postgres.NewEventStore(db, outbox, price.EventTypes()...)

	runCtx, stop := context.WithCancel(context.Background())
	b.Cleanup(stop)
	if withPipeline {
		poisonPub, err := postgres.NewPoisonPublisher(db, wmLog)
		benchkit.Must(b, err, "poison publisher")
		retry := messaging.RetryConfig{MaxRetries: cfg.RetryMax, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMaxInterval, MaxElapsedTime: cfg.RetryMaxElapsed}
		router, err := messaging.NewRouter(retry, cfg.ShutdownTimeout, poisonPub, wmLog)
		benchkit.Must(b, err, "router")
		metricsBuilder.AddPrometheusRouterMetrics(router)
		subscribers := func(group string) (message.Subscriber, error) {
			return kafka.NewSubscriber(cfg.KafkaBrokers, group, wmLog)
		}
		var vs []vendors.Vendor
		for _, v := range cfg.PriceVendors {
			vs = append(vs, vendors.Vendor{Name: v.Name, URL: v.URL})
		}
		vendorClient, err := vendors.New(vs, cfg.PriceVendorTimeout, registry)
		benchkit.Must(b, err, "vendors")
		benchkit.Must(b, messaging.AddCommandHandlers(router, subscribers, wmLog,
			handlers.RequestPriceComparisonHandler{Comparisons: postgres.NewPriceComparisonRepository(store), Vendors: vendorClient, TTL: cfg.PriceTTL},
		), "command handlers")
		projection := projections.PriceComparisonProjection{Store: s.prices, RetryBackoff: cfg.PriceRetryBackoff}
		benchkit.Must(b, messaging.AddEventGroups(router, subscribers, wmLog, messaging.EventGroup{
			Name:  projection.Name(),
			Topic: kafka.PriceEvents,
			Handlers: []cqrs.GroupEventHandler{
				cqrs.NewGroupEventHandler(projection.OnPriceComparisonCompleted),
				cqrs.NewGroupEventHandler(projection.OnPriceComparisonFailed),
			},
		}), "projection")
		forwarders, err := outbox.NewForwarders(db, pub, cfg.ShutdownTimeout, metricsBuilder.AddPrometheusRouterMetrics)
		benchkit.Must(b, err, "forwarders")
		go router.Run(runCtx) //nolint:errcheck // Close reports
		b.Cleanup(func() { router.Close() })
		for _, f := range forwarders {
			go f.Run(runCtx) //nolint:errcheck
			b.Cleanup(func() { f.Close() })
		}
		select {
		case <-router.Running():
		case <-ctx.Done():
			b.Fatal("router not running after 60s")
		}
		for _, f := range forwarders {
			select {
			case <-f.Running():
			case <-ctx.Done():
				b.Fatal("forwarders not running after 60s")
			}
		}
	}

	bus, err := messaging.NewCommandBus(pub)
	benchkit.Must(b, err, "command bus")
	hub, err := redis.NewPriceHub(ctx, s.rdb, s.prices)
	benchkit.Must(b, err, "price hub")
	b.Cleanup(func() { hub.Close() })
	handler, err := api.NewHandler(api.Deps{
		Commands: bus,
		Prices: api.PriceDeps{
			Cache: s.prices, Watcher: hub,
			Hold: max(30*time.Second, 2*cfg.PriceVendorTimeout+5*time.Second), RetryAfter: cfg.PriceVendorTimeout,
		},
		AdminToken:     cfg.AdminToken,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Registry:       registry,
		MetricsHandler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
	})
	benchkit.Must(b, err, "api")
	s.URL = benchkit.ServeHTTP(b, handler)
	return s
}
