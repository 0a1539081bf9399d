// Package app wires a Surge process: the adapters, the roles asked for
// (API, command handlers, outbox forwarders, projections) and their
// lifecycle. cmd/surge runs it; the component tests and the benchmarks
// start the very same wiring.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
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

// Roles select what a `serve` process runs, so each can be scaled apart.
type Roles struct {
	API         bool // HTTP endpoints
	Commands    bool // command handlers (Kafka -> event store + outbox)
	Forwarder   bool // outbox -> Kafka
	Projections bool // Kafka events -> Redis read models
}

// AllRoles runs everything in one process.
var AllRoles = Roles{API: true, Commands: true, Forwarder: true, Projections: true}

// App is a wired Surge process.
type App struct {
	cfg    config.Config
	roles  Roles
	logger *slog.Logger
	wmLog  watermill.LoggerAdapter

	broker   *kfake.Cluster
	brokers  []string
	db       *sql.DB
	poisonDB *sql.DB
	rdb      *goredis.Client
	kafkaPub message.Publisher
	registry *prometheus.Registry

	router     *message.Router
	forwarders []*forwarder.Forwarder
	httpServer *http.Server
	listener   net.Listener
	priceHub   *redis.PriceHub // the API's one subscription to price outcomes
	resender   *handlers.ResendPendingAdmissions
	store      *postgres.EventStore
	closeOnce  sync.Once
}

// New connects to every dependency, migrates the schema, creates topics
// and builds the roles asked for. Nothing runs until Run.
func New(ctx context.Context, cfg config.Config, roles Roles, logger *slog.Logger) (app *App, err error) {
	a := &App{cfg: cfg, roles: roles, logger: logger}
	a.wmLog = messaging.NewLogger(logger)
	defer func() {
		if err != nil {
			a.closeResources()
		}
	}()

	a.brokers = cfg.KafkaBrokers
	if len(a.brokers) == 0 {
		if a.broker, err = kafka.StartBroker(cfg.EmbeddedKafkaAddr); err != nil {
			return nil, fmt.Errorf("embedded kafka: %w", err)
		}
		a.brokers = a.broker.ListenAddrs()
		logger.Warn("SURGE_KAFKA_BROKERS is empty: started an embedded in-process Kafka broker (kfake); its data is lost on exit", "addr", a.brokers[0])
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err = kafka.EnsureTopics(startCtx, a.brokers); err != nil {
		return nil, err
	}
	if a.db, err = postgres.Open(startCtx, cfg.DatabaseURL, cfg.DatabaseMaxConns); err != nil {
		return nil, err
	}
	if err = postgres.Migrate(startCtx, a.db); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	a.poisonDB = a.db
	if cfg.PoisonDatabaseURL != cfg.DatabaseURL {
		if a.poisonDB, err = postgres.Open(startCtx, cfg.PoisonDatabaseURL, 8); err != nil {
			return nil, fmt.Errorf("poison database: %w", err)
		}
	}
	if err = postgres.InitPoisonTables(startCtx, a.poisonDB); err != nil {
		return nil, err
	}
	outbox, err := postgres.NewOutbox(postgres.OutboxConfig{Shards: cfg.OutboxShards, PollInterval: cfg.OutboxPoll, BatchSize: cfg.OutboxBatch, Linger: cfg.OutboxLinger}, a.wmLog)
	if err != nil {
		return nil, err
	}
	if err = outbox.InitTables(startCtx, a.db); err != nil {
		return nil, err
	}
	if a.rdb, err = redis.Connect(startCtx, cfg.RedisURL); err != nil {
		return nil, err
	}

	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metricsBuilder := metrics.NewPrometheusMetricsBuilder(a.registry, "surge", "watermill")

	rawPub, err := kafka.NewPublisher(a.brokers, a.wmLog)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	if a.kafkaPub, err = metricsBuilder.DecoratePublisher(rawPub); err != nil {
		return nil, err
	}

	store := postgres.NewEventStore(a.db, outbox, EventTypes()...)
	a.store = store
	couponRepo := postgres.NewCouponRepository(store)
	campaigns := redis.NewCampaigns(a.rdb, cfg.RedisPrefix)
	openCampaign := handlers.OpenCampaignHandler{Campaigns: couponRepo, Gate: campaigns}
	prices := redis.NewPrices(a.rdb, cfg.RedisPrefix)

	if roles.Commands || roles.Projections {
		poisonPub, err := postgres.NewPoisonPublisher(a.poisonDB, a.wmLog)
		if err != nil {
			return nil, err
		}
		retry := messaging.RetryConfig{MaxRetries: cfg.RetryMax, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMaxInterval, MaxElapsedTime: cfg.RetryMaxElapsed}
		if a.router, err = messaging.NewRouter(retry, cfg.ShutdownTimeout, poisonPub, a.wmLog); err != nil {
			return nil, err
		}
		metricsBuilder.AddPrometheusRouterMetrics(a.router)
		subscribers := func(group string) (message.Subscriber, error) {
			return kafka.NewSubscriber(a.brokers, group, a.wmLog)
		}
		if roles.Commands {
			var priceVendors []vendors.Vendor
			for _, v := range cfg.PriceVendors {
				priceVendors = append(priceVendors, vendors.Vendor{Name: v.Name, URL: v.URL})
			}
			if len(priceVendors) == 0 {
				logger.Warn("SURGE_PRICE_VENDORS is empty: every price comparison will fail (there is no vendor to ask)")
			}
			vendorClient, err := vendors.New(priceVendors, cfg.PriceVendorTimeout, a.registry)
			if err != nil {
				return nil, err
			}
			err = messaging.AddCommandHandlers(a.router, subscribers, a.wmLog,
				handlers.IssueCouponHandler{Campaigns: couponRepo, Coupons: couponRepo},
				handlers.RequestPriceComparisonHandler{Comparisons: postgres.NewPriceComparisonRepository(store), Vendors: vendorClient, TTL: cfg.PriceTTL},
			)
			if err != nil {
				return nil, err
			}
		}
		if roles.Projections {
			campaignProjection := projections.CampaignProjection{Store: campaigns}
			priceProjection := projections.PriceComparisonProjection{Store: prices, RetryBackoff: cfg.PriceRetryBackoff}
			err = messaging.AddEventGroups(a.router, subscribers, a.wmLog, messaging.EventGroup{
				Name:  campaignProjection.Name(),
				Topic: kafka.CouponEvents,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(campaignProjection.OnCampaignOpened),
					cqrs.NewGroupEventHandler(campaignProjection.OnCouponIssued),
				},
			}, messaging.EventGroup{
				Name:  priceProjection.Name(),
				Topic: kafka.PriceEvents,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(priceProjection.OnPriceComparisonCompleted),
					cqrs.NewGroupEventHandler(priceProjection.OnPriceComparisonFailed),
				},
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if roles.Forwarder {
		a.forwarders, err = outbox.NewForwarders(a.db, a.kafkaPub, cfg.ShutdownTimeout, metricsBuilder.AddPrometheusRouterMetrics)
		if err != nil {
			return nil, err
		}
	}
	if roles.API {
		bus, err := messaging.NewCommandBus(a.kafkaPub)
		if err != nil {
			return nil, err
		}
		if a.priceHub, err = redis.NewPriceHub(startCtx, a.rdb, prices); err != nil {
			return nil, err
		}
		priceDeps := api.PriceDeps{
			Cache:   prices,
			Watcher: a.priceHub,
			// The marker outlives a comparison (at most the vendor timeout) with room
			// for commands queueing behind slow vendors (a shorter hold would add
			// duplicates just when the handler is behind); if no outcome comes (a
			// lost command), the next miss after it tries again.
			Hold:       max(30*time.Second, 2*cfg.PriceVendorTimeout+5*time.Second),
			RetryAfter: cfg.PriceVendorTimeout,
		}
		handler, err := api.NewHandler(api.Deps{
			Commands:       bus,
			OpenCampaign:   openCampaign,
			Gate:           campaigns,
			Campaigns:      campaigns,
			Poison:         postgres.NewPoisonQueue(a.poisonDB, a.kafkaPub),
			Prices:         priceDeps,
			AdminToken:     cfg.AdminToken,
			MaxBodyBytes:   cfg.MaxBodyBytes,
			Registry:       a.registry,
			MetricsHandler: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
			ReadyChecks: map[string]api.Check{
				"postgres": a.db.PingContext,
				"redis":    func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() },
				"kafka":    func(ctx context.Context) error { return kafka.Ping(ctx, a.brokers) },
			},
		})
		if err != nil {
			return nil, err
		}
		if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
		}
		a.httpServer = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
		a.httpServer.RegisterOnShutdown(a.priceHub.WakeAll) // held ?wait requests answer now, not at their deadline

		// The API takes gate slots, so it also re-sends the commands of
		// slots a crashed API never sent (every API instance may; re-sends
		// are idempotent).
		resent := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Name: "coupon_commands_resent_total",
			Help: "IssueCoupon commands re-sent for admissions that had no coupon after SURGE_RESEND_GRACE.",
		})
		a.registry.MustRegister(resent)
		a.resender = &handlers.ResendPendingAdmissions{
			Admissions: campaigns,
			Commands:   bus,
			Grace:      cfg.ResendGrace,
			Interval:   cfg.ResendInterval,
			Resent:     func(n int) { resent.Add(float64(n)) },
			Logger:     a.logger,
		}
	}
	return a, nil
}

// Addr is where the API listens ("" without the API role).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Brokers are the Kafka brokers the app uses (the embedded one's included).
func (a *App) Brokers() []string { return a.brokers }

// DB is the event store's database.
func (a *App) DB() *sql.DB { return a.db }

// Redis is the read models' client.
func (a *App) Redis() *goredis.Client { return a.rdb }

// EventStore appends and reads events as the command handlers do.
func (a *App) EventStore() *postgres.EventStore { return a.store }

// PriceWaiters is how many ?wait price requests are registered right now
// (nil-safe: 0 without the API role).
func (a *App) PriceWaiters() int {
	if a.priceHub == nil {
		return 0
	}
	return a.priceHub.Waiting()
}

// Publisher is the Kafka publisher every role sends through (Prometheus-
// decorated).
func (a *App) Publisher() message.Publisher { return a.kafkaPub }

// Run serves until ctx is cancelled, then shuts down gracefully: stop taking
// requests, let handlers finish the messages in flight, flush, close.
func (a *App) Run(ctx context.Context, ready func()) error {
	errs := make(chan error, 2+len(a.forwarders))
	var wg sync.WaitGroup
	start := func(name string, run func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// Routers get their own context: they are closed explicitly, after the
	// HTTP server, so in-flight messages are drained, not cut.
	runCtx := context.WithoutCancel(ctx)
	var running []<-chan struct{}
	if a.router != nil {
		start("router", func() error { return a.router.Run(runCtx) })
		running = append(running, a.router.Running())
	}
	for i, f := range a.forwarders {
		start(fmt.Sprintf("forwarder %d", i), func() error { return f.Run(runCtx) })
		running = append(running, f.Running())
	}
	if a.httpServer != nil {
		start("http", func() error { return a.httpServer.Serve(a.listener) })
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	if a.resender != nil {
		start("resender", func() error { a.resender.Run(jobsCtx); return nil })
	}
	for _, r := range running {
		select {
		case <-r:
		case err := <-errs:
			a.shutdown()
			return err
		case <-ctx.Done():
		}
	}
	a.logger.Info("surge is running", "http", a.Addr(), "kafka", a.brokers, "roles", fmt.Sprintf("%+v", a.roles))
	if ready != nil {
		ready()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		a.logger.Error("component failed, shutting down", "err", runErr)
	}
	stopJobs()
	a.shutdown()
	wg.Wait()
	return runErr
}

func (a *App) shutdown() {
	a.logger.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if a.httpServer != nil {
		if err := a.httpServer.Shutdown(ctx); err != nil {
			a.logger.Error("http shutdown", "err", err)
		}
	}
	if a.router != nil {
		if err := a.router.Close(); err != nil {
			a.logger.Error("router close", "err", err)
		}
	}
	for _, f := range a.forwarders {
		if err := f.Close(); err != nil {
			a.logger.Error("forwarder close", "err", err)
		}
	}
	a.closeResources()
	a.logger.Info("stopped")
}

// Close releases what New opened, for an App that is never Run (Run closes
// everything itself on the way out). Calling it again does nothing.
func (a *App) Close() { a.closeResources() }

func (a *App) closeResources() {
	a.closeOnce.Do(a.closeAll)
}

func (a *App) closeAll() {
	if a.kafkaPub != nil {
		a.kafkaPub.Close()
	}
	if a.priceHub != nil {
		a.priceHub.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.poisonDB != nil && a.poisonDB != a.db {
		a.poisonDB.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
	if a.broker != nil {
		a.broker.Close()
	}
}

// EventTypes are every domain event the event store must decode.
func EventTypes() []domain.Event {
	return append(coupon.EventTypes(), price.EventTypes()...)
}
