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
	"strings"
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
	kafkaAdmin *kafka.Admin    // readiness and consumer lag, one client for the process
	store      *postgres.EventStore
	jobs       []job // background jobs of the roles asked for
	closeOnce  sync.Once
}

// job is a background loop of a role: it runs until its context ends.
type job struct {
	name string
	run  func(ctx context.Context)
}

// setting names the environment variable to fix in a start-up error.
func setting(name string, err error) error {
	return fmt.Errorf("%w (check %s)", err, name)
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
			return nil, setting("SURGE_EMBEDDED_KAFKA_ADDR", fmt.Errorf("embedded kafka: %w", err))
		}
		a.brokers = a.broker.ListenAddrs()
		logger.Warn("SURGE_KAFKA_BROKERS is empty: started an embedded in-process Kafka broker (kfake); its data is lost on exit", "addr", a.brokers[0])
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err = kafka.EnsureTopics(startCtx, a.brokers); err != nil {
		return nil, setting("SURGE_KAFKA_BROKERS", err)
	}
	if a.kafkaAdmin, err = kafka.NewAdmin(a.brokers); err != nil {
		return nil, setting("SURGE_KAFKA_BROKERS", fmt.Errorf("kafka admin client: %w", err))
	}
	if a.db, err = postgres.Open(startCtx, cfg.DatabaseURL, cfg.DatabaseMaxConns); err != nil {
		return nil, setting("SURGE_DATABASE_URL", err)
	}
	if err = postgres.Migrate(startCtx, a.db); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	a.poisonDB = a.db
	if cfg.PoisonDatabaseURL != cfg.DatabaseURL {
		if a.poisonDB, err = postgres.Open(startCtx, cfg.PoisonDatabaseURL, 8); err != nil {
			return nil, setting("SURGE_POISON_DATABASE_URL", fmt.Errorf("poison database: %w", err))
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
	if a.rdb, err = redis.Connect(startCtx, cfg.RedisURL, cfg.RedisTimeout); err != nil {
		return nil, setting("SURGE_REDIS_URL", err)
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
	prices := redis.NewPrices(a.rdb, cfg.RedisPrefix)
	leases := redis.NewLeases(a.rdb, cfg.RedisPrefix)
	marker := redis.NewDataMarker(a.rdb, cfg.RedisPrefix)
	gateRepairs := &handlers.RepairCampaignGate{
		Campaigns:    couponRepo,
		Outcomes:     couponRepo,
		Queue:        a.kafkaAdmin.Queue(handlers.IssueCouponHandler{}.HandlerName(), kafka.CouponCommands),
		Gate:         campaigns,
		Exclusive:    leases,
		DrainTimeout: cfg.GateDrainTimeout,
		Logger:       logger,
	}

	if roles.Commands || roles.Projections {
		poisonPub, err := postgres.NewPoisonPublisher(a.poisonDB, a.wmLog)
		if err != nil {
			return nil, err
		}
		observed, err := messaging.NewObservedPoison(poisonPub, logger, a.registry)
		if err != nil {
			return nil, err
		}
		retry := messaging.RetryConfig{MaxRetries: cfg.RetryMax, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMaxInterval, MaxElapsedTime: cfg.RetryMaxElapsed}
		if a.router, err = messaging.NewRouter(retry, cfg.ShutdownTimeout, observed, a.wmLog); err != nil {
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
				return nil, setting("SURGE_PRICE_VENDORS", err)
			}
			issueCoupon := handlers.IssueCouponHandler{Campaigns: couponRepo, Coupons: couponRepo}
			requestPrices := handlers.RequestPriceComparisonHandler{Comparisons: postgres.NewPriceComparisonRepository(store), Vendors: vendorClient, TTL: cfg.PriceTTL, Logger: logger}
			err = messaging.AddCommandHandlers(a.router, subscribers, a.wmLog,
				cqrs.NewCommandHandler(issueCoupon.HandlerName(), issueCoupon.Handle),
				cqrs.NewCommandHandler(requestPrices.HandlerName(), requestPrices.Handle),
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
					cqrs.NewGroupEventHandler(campaignProjection.OnCouponRejected),
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
			caughtUp := prometheus.NewCounter(prometheus.CounterOpts{
				Namespace: "surge", Name: "projection_catchup_events_total",
				Help: "Events applied to the read models from the event store (catch-up and rebuilds), on top of Kafka's deliveries.",
			})
			a.registry.MustRegister(caughtUp)
			catchUp := &projections.CatchUp{
				History:       store,
				Targets:       ReadModels(cfg, a.rdb),
				Marker:        marker,
				Exclusive:     leases,
				Interval:      cfg.CatchUpInterval,
				WatchInterval: cfg.RedisWatchInterval,
				Logger:        logger,
				Applied:       func(n int) { caughtUp.Add(float64(n)) },
			}
			a.jobs = append(a.jobs, job{"projection catch-up", catchUp.Run})
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
		ambiguous := &handlers.ReleaseAmbiguousAdmissions{Gate: campaigns, Interval: 200 * time.Millisecond, Max: 100_000, Logger: logger}
		poisonQueue := postgres.NewPoisonQueue(a.poisonDB, a.kafkaPub)
		if err := a.registerAPIMetrics(ambiguous, poisonQueue); err != nil {
			return nil, err
		}
		handler, err := api.NewHandler(api.Deps{
			Commands:       bus,
			OpenCampaign:   handlers.OpenCampaignHandler{Campaigns: couponRepo, Gate: campaigns, Repairs: gateRepairs},
			Apply:          handlers.ApplyForCouponHandler{Gate: campaigns, Commands: bus, Repairs: gateRepairs, Ambiguous: ambiguous},
			Campaigns:      handlers.CouponQueries{ReadModel: campaigns, Repairs: gateRepairs},
			Poison:         poisonQueue,
			Prices:         priceDeps,
			AdminToken:     cfg.AdminToken,
			MaxBodyBytes:   cfg.MaxBodyBytes,
			Registry:       a.registry,
			MetricsHandler: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
			ReadyChecks: map[string]api.Check{
				"postgres": a.db.PingContext,
				"redis":    redisReadiness(a.rdb, marker, gateRepairs),
				"kafka":    a.kafkaAdmin.Ping,
			},
		})
		if err != nil {
			return nil, err
		}
		if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, setting("SURGE_HTTP_ADDR", fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err))
		}
		maxConns := cfg.HTTPMaxConns
		if maxConns == 0 {
			maxConns = api.DefaultMaxConns()
		}
		a.listener = api.LimitListener(a.listener, maxConns, a.registry)
		a.httpServer = api.NewServer(handler, api.ServerOptions{
			ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
			ReadTimeout:       cfg.HTTPReadTimeout,
			WriteTimeout:      cfg.HTTPWriteTimeout,
			IdleTimeout:       cfg.HTTPIdleTimeout,
			MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
		})
		a.httpServer.RegisterOnShutdown(a.priceHub.WakeAll) // held ?wait requests answer now, not at their deadline

		// The API takes gate slots, so it also re-sends the commands of
		// slots a crashed API never sent (one instance at a time; re-sends
		// are idempotent), settles admissions whose outcome it could not
		// learn, and repairs gates Redis lost.
		resent := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Name: "coupon_commands_resent_total",
			Help: "IssueCoupon commands re-sent for admissions that had no outcome after SURGE_RESEND_GRACE.",
		})
		a.registry.MustRegister(resent)
		resender := handlers.ResendPendingAdmissions{
			Campaigns:  couponRepo,
			Admissions: campaigns,
			Commands:   bus,
			Exclusive:  leases,
			Grace:      cfg.ResendGrace,
			Interval:   cfg.ResendInterval,
			Resent:     func(n int) { resent.Add(float64(n)) },
			Logger:     a.logger,
		}
		a.jobs = append(a.jobs,
			job{"coupon resender", resender.Run},
			job{"ambiguous admissions", ambiguous.Run},
			job{"gate repairs", gateRepairs.Run},
		)
	}
	if !roles.API && cfg.MetricsAddr != "" {
		// A process without the API still shows operators its metrics.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`)) //nolint:errcheck
		})
		if a.listener, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, setting("SURGE_METRICS_ADDR", fmt.Errorf("listen %s: %w", cfg.MetricsAddr, err))
		}
		a.httpServer = api.NewServer(mux, api.ServerOptions{ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout, ReadTimeout: cfg.HTTPReadTimeout,
			WriteTimeout: cfg.HTTPWriteTimeout, IdleTimeout: cfg.HTTPIdleTimeout, MaxHeaderBytes: cfg.HTTPMaxHeaderBytes})
	} else if !roles.API {
		logger.Info("no api role and SURGE_METRICS_ADDR is empty: this process serves no /metrics")
	}
	return a, nil
}

// Addr is where the API (or, without it, the metrics endpoint) listens ("" without the API role).
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
	for _, j := range a.jobs {
		start(j.name, func() error { j.run(jobsCtx); return nil })
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
	if a.kafkaAdmin != nil {
		a.kafkaAdmin.Close()
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

// ReadModels are every projection, for catch-up and `surge rebuild`.
func ReadModels(cfg config.Config, rdb goredis.UniversalClient) []projections.Projection {
	return []projections.Projection{
		projections.CampaignProjection{Store: redis.NewCampaigns(rdb, cfg.RedisPrefix)},
		projections.PriceComparisonProjection{Store: redis.NewPrices(rdb, cfg.RedisPrefix), RetryBackoff: cfg.PriceRetryBackoff},
	}
}

// redisReadiness reports Redis failed when it does not answer, and
// repairing (not failed: every instance would leave the load balancer)
// while read models or gates are rebuilt from the event store.
func redisReadiness(rdb goredis.UniversalClient, marker *redis.DataMarker, gates *handlers.RepairCampaignGate) api.Check {
	return func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return err
		}
		present, err := marker.Present(ctx)
		if err != nil {
			return err
		}
		if !present {
			return fmt.Errorf("%w: Redis lost its data (marker missing); read models are being rebuilt from the event store", api.ErrRepairing)
		}
		if ids := gates.Repairing(); len(ids) > 0 {
			return fmt.Errorf("%w: admission gates being rebuilt from the event store: %s", api.ErrRepairing, strings.Join(ids, ", "))
		}
		return nil
	}
}

// registerAPIMetrics registers the API role's gauges.
func (a *App) registerAPIMetrics(ambiguous *handlers.ReleaseAmbiguousAdmissions, poison *postgres.PoisonQueue) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "surge", Name: "coupon_admissions_unresolved",
			Help: "Admissions whose outcome Redis did not report (timeout), waiting to be released.",
		}, func() float64 { return float64(ambiguous.Pending()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "surge", Name: "poison_queue_size",
			Help: "Messages in the poison queue (-1 when the count could not be read).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := poison.Size(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
	} {
		if err := a.registry.Register(c); err != nil {
			return err
		}
	}
	return nil
}
