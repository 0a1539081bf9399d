// Package app wires a Surge process: the shared platform (Kafka, the event
// store and outbox, Redis, metrics), every flow module on it (flows.go), the
// roles asked for, and their lifecycle. cmd/surge runs it; the component
// tests and the benchmarks start the very same wiring.
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
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/projections"
)

// Roles select what a `serve` process runs (flow.Roles).
type Roles = flow.Roles

// AllRoles runs everything in one process.
var AllRoles = flow.AllRoles

// App is a wired Surge process.
type App struct {
	cfg    config.Config
	roles  Roles
	logger *slog.Logger
	wmLog  watermill.LoggerAdapter

	modules  []flow.Module
	parts    []*flow.Parts
	topology *kafka.Topology

	broker     *kfake.Cluster
	brokers    []string
	db         *sql.DB
	poisonDB   *sql.DB
	rdb        *goredis.Client
	kafkaPub   message.Publisher
	kafkaAdmin *kafka.Admin // readiness and consumer lag, one client for the process
	registry   *prometheus.Registry
	store      *postgres.EventStore
	outbox     *postgres.Outbox
	leases     *redis.Leases
	marker     *redis.DataMarker
	hub        *push.Hub
	catchUp    *projections.CatchUp

	router     *message.Router
	forwarders []*forwarder.Forwarder
	httpServer *http.Server
	listener   net.Listener
	jobs       []flow.Job // background jobs of the roles asked for
	closeOnce  sync.Once
}

// setting names the environment variable to fix in a start-up error.
func setting(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (check %s)", err, name)
}

// Topics are every flow's declared topics.
func Topics() []kafka.Topic {
	var topics []kafka.Topic
	for _, m := range Flows() {
		topics = append(topics, m.Topics()...)
	}
	return topics
}

// LoadConfig reads the platform's settings and every flow's from src and
// reports every error of every section at once.
func LoadConfig(src config.Source) (config.Config, error) {
	r := config.NewReader(src)
	cfg := config.Read(r)
	for _, m := range Flows() {
		m.Configure(r)
	}
	return cfg, r.Err()
}

// New connects to every dependency, migrates the schema, creates topics
// and builds every flow's parts for the roles asked for. Nothing runs until
// Run. A process with no role (an operator command) connects to PostgreSQL
// and Redis only.
func New(ctx context.Context, cfg config.Config, roles Roles, logger *slog.Logger) (app *App, err error) {
	a := &App{cfg: cfg, roles: roles, logger: logger, modules: Flows()}
	a.wmLog = messaging.NewLogger(logger)
	defer func() {
		if err != nil {
			a.closeResources()
		}
	}()
	r := config.NewReader(cfg.Source)
	var topics []kafka.Topic
	for _, m := range a.modules {
		m.Configure(r)
		topics = append(topics, m.Topics()...)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if a.topology, err = kafka.NewTopology(topics...); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metricsBuilder := metrics.NewPrometheusMetricsBuilder(a.registry, "surge", "watermill")

	if !roles.None() {
		if err := a.connectKafka(startCtx, metricsBuilder); err != nil {
			return nil, err
		}
	}
	if err := a.connectStores(startCtx); err != nil {
		return nil, err
	}
	if a.hub, err = push.NewHub(a.registry); err != nil {
		return nil, err
	}
	a.hub.SetCoalescing(cfg.PushCoalesceAt, cfg.PushLinger)
	a.leases = redis.NewLeases(a.rdb, cfg.RedisPrefix)
	a.marker = redis.NewDataMarker(a.rdb, cfg.RedisPrefix)
	p := &flow.Platform{
		Config: cfg, Roles: roles, Logger: logger, Registry: a.registry,
		DB: a.db, Store: a.store, Redis: a.rdb, Leases: a.leases, Hub: a.hub,
	}
	if a.kafkaPub != nil {
		bus, err := messaging.NewCommandBus(a.kafkaPub, a.topology.TopicFor)
		if err != nil {
			return nil, err
		}
		p.Commands = bus
		p.Queue = a.kafkaAdmin.Queue
	}
	for _, m := range a.modules {
		parts, err := m.Build(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name(), err)
		}
		a.parts = append(a.parts, parts)
	}
	a.catchUp = a.newCatchUp()
	if roles.Commands || roles.Projections || roles.Push {
		if err := a.buildRouter(metricsBuilder); err != nil {
			return nil, err
		}
	}
	if roles.Forwarder {
		if a.forwarders, err = a.outbox.NewForwarders(a.db, a.kafkaPub, cfg.ShutdownTimeout, metricsBuilder.AddPrometheusRouterMetrics); err != nil {
			return nil, err
		}
	}
	if err := a.buildHTTP(); err != nil {
		return nil, err
	}
	for _, parts := range a.parts {
		for _, j := range parts.Jobs {
			if roles.Has(j.Role) {
				a.jobs = append(a.jobs, j)
			}
		}
	}
	if roles.Push {
		if err := a.watchLiveFeeds(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// watchLiveFeeds makes a push instance compare the feeds it serves with
// their heads in the store, so a notice lost on its way still arrives.
func (a *App) watchLiveFeeds() error {
	ahead := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "surge", Name: "push_feeds_behind_total",
		Help: "Times a push instance found a feed's head in the store ahead of what it delivered (a notice lost on its way), and had its clients read the rest.",
	})
	if err := a.registry.Register(ahead); err != nil {
		return err
	}
	w := handlers.WatchLiveFeeds{Heads: a.store, Live: a.hub, Interval: a.cfg.PushWatchInterval, Logger: a.logger,
		Marked: func(n int) { ahead.Add(float64(n)) }}
	a.jobs = append(a.jobs, flow.Job{Name: "live feed watcher", Role: flow.RolePush, Run: w.Run})
	return nil
}

// connectKafka starts the embedded broker when none is configured, creates
// the declared topics and opens the publisher and the admin client.
func (a *App) connectKafka(ctx context.Context, mb metrics.PrometheusMetricsBuilder) error {
	var err error
	a.brokers = a.cfg.KafkaBrokers
	if len(a.brokers) == 0 {
		if a.broker, err = kafka.StartBroker(a.cfg.EmbeddedKafkaAddr, a.topology.Topics()); err != nil {
			return setting("SURGE_EMBEDDED_KAFKA_ADDR", fmt.Errorf("embedded kafka: %w", err))
		}
		a.brokers = a.broker.ListenAddrs()
		a.logger.Warn("SURGE_KAFKA_BROKERS is empty: started an embedded in-process Kafka broker (kfake); its data is lost on exit", "addr", a.brokers[0])
	}
	if err = kafka.EnsureTopics(ctx, a.brokers, a.topology.Topics()); err != nil {
		return setting("SURGE_KAFKA_BROKERS", err)
	}
	if a.kafkaAdmin, err = kafka.NewAdmin(a.brokers); err != nil {
		return setting("SURGE_KAFKA_BROKERS", fmt.Errorf("kafka admin client: %w", err))
	}
	rawPub, err := kafka.NewPublisher(a.brokers, a.wmLog)
	if err != nil {
		return setting("SURGE_KAFKA_BROKERS", fmt.Errorf("kafka publisher: %w", err))
	}
	a.kafkaPub, err = mb.DecoratePublisher(rawPub)
	return err
}

// connectStores opens PostgreSQL (migrated; the poison queue may live in a
// database of its own), the outbox, the event store and Redis.
func (a *App) connectStores(ctx context.Context) error {
	var err error
	cfg := a.cfg
	if a.db, err = postgres.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns); err != nil {
		return setting("SURGE_DATABASE_URL", err)
	}
	if err = postgres.Migrate(ctx, a.db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	a.poisonDB = a.db
	if cfg.PoisonDatabaseURL != cfg.DatabaseURL {
		if a.poisonDB, err = postgres.Open(ctx, cfg.PoisonDatabaseURL, 8); err != nil {
			return setting("SURGE_POISON_DATABASE_URL", fmt.Errorf("poison database: %w", err))
		}
	}
	if err = postgres.InitPoisonTables(ctx, a.poisonDB); err != nil {
		return err
	}
	if a.outbox, err = postgres.NewOutbox(postgres.OutboxConfig{Shards: cfg.OutboxShards, PollInterval: cfg.OutboxPoll, BatchSize: cfg.OutboxBatch, Linger: cfg.OutboxLinger}, a.wmLog); err != nil {
		return err
	}
	if err = a.outbox.InitTables(ctx, a.db); err != nil {
		return err
	}
	var eventTypes []domain.Event
	for _, m := range a.topology.EventTypes() {
		eventTypes = append(eventTypes, m.(domain.Event))
	}
	envelope := postgres.Envelope{Wrap: messaging.Envelope{Topics: a.topology.TopicFor}.Wrap, Trace: messaging.Trace}
	a.store = postgres.NewEventStore(a.db, a.outbox, envelope, eventTypes...)
	if a.roles.None() {
		a.rdb, err = redis.Open(cfg.RedisURL, cfg.RedisTimeout) // connects when used (a replay never does)
	} else {
		a.rdb, err = redis.Connect(ctx, cfg.RedisURL, cfg.RedisTimeout)
	}
	return setting("SURGE_REDIS_URL", err)
}

// newCatchUp keeps every read model complete from the event store.
func (a *App) newCatchUp() *projections.CatchUp {
	caughtUp := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "surge", Name: "projection_catchup_events_total",
		Help: "Events applied to the read models from the event store (catch-up and rebuilds), on top of Kafka's deliveries.",
	})
	a.registry.MustRegister(caughtUp)
	c := &projections.CatchUp{
		History:       a.store,
		Targets:       a.readModels(),
		Marker:        a.marker,
		Exclusive:     a.leases,
		Interval:      a.cfg.CatchUpInterval,
		WatchInterval: a.cfg.RedisWatchInterval,
		Logger:        a.logger,
		Applied:       func(n int) { caughtUp.Add(float64(n)) },
	}
	if a.roles.Projections {
		a.jobs = append(a.jobs, flow.Job{Name: "projection catch-up", Role: flow.RoleProjections, Run: c.Run})
	}
	return c
}

// readModels are every flow's Redis projections, as the catch-up and
// `surge rebuild` apply them: through the router's own handlers.
func (a *App) readModels() []projections.Projection {
	var out []projections.Projection
	for _, parts := range a.parts {
		for _, g := range parts.Groups {
			if g.ReadModel {
				out = append(out, flow.NewDispatcher(g.Name, g.Handlers))
			}
		}
	}
	return out
}

// buildRouter puts the command handlers and event groups of the roles
// asked for on one Watermill router with the poison queue.
func (a *App) buildRouter(mb metrics.PrometheusMetricsBuilder) error {
	poisonPub, err := postgres.NewPoisonPublisher(a.poisonDB, a.wmLog)
	if err != nil {
		return err
	}
	observed, err := messaging.NewObservedPoison(poisonPub, a.logger, a.registry)
	if err != nil {
		return err
	}
	cfg := a.cfg
	retry := messaging.RetryConfig{MaxRetries: cfg.RetryMax, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMaxInterval, MaxElapsedTime: cfg.RetryMaxElapsed}
	if a.router, err = messaging.NewRouter(retry, cfg.ShutdownTimeout, observed, a.wmLog); err != nil {
		return err
	}
	mb.AddPrometheusRouterMetrics(a.router)
	grouped := func(group string) (message.Subscriber, error) { return kafka.NewSubscriber(a.brokers, group, a.wmLog) }
	live := func(string) (message.Subscriber, error) { return kafka.NewLiveSubscriber(a.brokers, a.wmLog) }
	var commands []cqrs.CommandHandler
	var groups, liveGroups []messaging.EventGroup
	for _, parts := range a.parts {
		if a.roles.Commands {
			commands = append(commands, parts.Commands...)
		}
		for _, g := range parts.Groups {
			if !a.roles.Has(g.Role) {
				continue
			}
			eg := messaging.EventGroup{Name: g.Name, Topic: g.Topic, Handlers: g.Handlers}
			if g.Live {
				liveGroups = append(liveGroups, eg)
			} else {
				groups = append(groups, eg)
			}
		}
	}
	if len(commands) > 0 {
		if err := messaging.AddCommandHandlers(a.router, grouped, a.wmLog, a.topology.TopicFor, commands...); err != nil {
			return err
		}
	}
	if len(groups) > 0 {
		if err := messaging.AddEventGroups(a.router, grouped, a.wmLog, groups...); err != nil {
			return err
		}
	}
	if len(liveGroups) > 0 {
		return messaging.AddEventGroups(a.router, live, a.wmLog, liveGroups...)
	}
	return nil
}

// buildHTTP serves the API (its routes and every flow's), or, in a process
// without it, /metrics and /healthz on SURGE_METRICS_ADDR.
func (a *App) buildHTTP() error {
	cfg := a.cfg
	edge := api.ServerOptions{
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
	}
	metricsHandler := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})
	var err error
	switch {
	case a.roles.API || a.roles.Push:
		var mounts []func(*gin.RouterGroup)
		var pushes []func(gin.IRoutes)
		for _, parts := range a.parts {
			if parts.Routes != nil && a.roles.API {
				mounts = append(mounts, parts.Routes)
			}
			if parts.PushRoutes != nil && a.roles.Push {
				pushes = append(pushes, parts.PushRoutes)
			}
		}
		deps := api.Deps{
			AdminToken:     cfg.AdminToken,
			Registry:       a.registry,
			MetricsHandler: metricsHandler,
			Logger:         a.logger,
			ReadyChecks:    a.readyChecks(),
			Flows:          mounts,
			Push:           pushes,
		}
		if a.roles.API {
			deps.Poison = postgres.NewPoisonQueue(a.poisonDB, a.kafkaPub)
		}
		handler, err := api.NewHandler(deps)
		if err != nil {
			return err
		}
		if err := a.registerPoisonGauge(); err != nil {
			return err
		}
		if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return setting("SURGE_HTTP_ADDR", fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err))
		}
		maxConns := cfg.HTTPMaxConns
		if maxConns == 0 {
			maxConns = api.DefaultMaxConns()
		}
		a.listener = api.LimitListener(a.listener, maxConns, a.registry)
		a.httpServer = api.NewServer(handler, edge)
	case cfg.MetricsAddr != "" && !a.roles.None():
		// A process without the API still shows operators its metrics.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`)) //nolint:errcheck
		})
		if a.listener, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return setting("SURGE_METRICS_ADDR", fmt.Errorf("listen %s: %w", cfg.MetricsAddr, err))
		}
		a.httpServer = api.NewServer(mux, edge)
	case !a.roles.None():
		a.logger.Info("no api role and SURGE_METRICS_ADDR is empty: this process serves no /metrics")
	}
	if a.httpServer != nil {
		// Held requests and streams answer now, not at their deadline.
		a.httpServer.RegisterOnShutdown(a.hub.Close)
		for _, parts := range a.parts {
			for _, f := range parts.OnShutdown {
				a.httpServer.RegisterOnShutdown(f)
			}
		}
	}
	return nil
}

// readyChecks are /readyz's: PostgreSQL, Redis (failed when it does not
// answer; repairing, still ready, while read models or gates are rebuilt
// from the event store) and Kafka.
func (a *App) readyChecks() map[string]api.Check {
	checks := map[string]api.Check{
		"postgres": a.db.PingContext,
		"redis": func(ctx context.Context) error {
			if err := a.rdb.Ping(ctx).Err(); err != nil {
				return err
			}
			present, err := a.marker.Present(ctx)
			if err != nil {
				return err
			}
			if !present {
				return fmt.Errorf("%w: Redis lost its data (marker missing); read models are being rebuilt from the event store", api.ErrRepairing)
			}
			var repairing []string
			for _, parts := range a.parts {
				if parts.Repairing != nil {
					repairing = append(repairing, parts.Repairing()...)
				}
			}
			if len(repairing) > 0 {
				return fmt.Errorf("%w: rebuilding from the event store: %s", api.ErrRepairing, strings.Join(repairing, ", "))
			}
			return nil
		},
	}
	if a.kafkaAdmin != nil {
		checks["kafka"] = a.kafkaAdmin.Ping
	}
	return checks
}

// registerPoisonGauge counts the poison queue for operators.
func (a *App) registerPoisonGauge() error {
	queue := postgres.NewPoisonQueue(a.poisonDB, nil)
	return a.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "surge", Name: "poison_queue_size",
		Help: "Messages in the poison queue (-1 when the count could not be read).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := queue.Size(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// Addr is where the API (or, without it, the metrics endpoint) listens.
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

// Topology is every declared topic and the route of every message.
func (a *App) Topology() *kafka.Topology { return a.topology }

// Subscribers is how many local subscribers (held requests, streams) the
// process has right now.
func (a *App) Subscribers() int { return a.hub.Subscribers() }

// Publisher is the Kafka publisher every role sends through (Prometheus-
// decorated).
func (a *App) Publisher() message.Publisher { return a.kafkaPub }

// Quiet says whether everything written so far has been handled: no outbox
// row is left to forward, and every consumer group of this process (command
// handlers, read models, reactions) has consumed its topic to the end.
func (a *App) Quiet(ctx context.Context) (bool, error) {
	pending, err := a.outbox.Pending(ctx, a.db)
	if err != nil || pending > 0 || a.kafkaAdmin == nil {
		return err == nil && pending == 0, err
	}
	for _, parts := range a.parts {
		var queues []*kafka.Queue
		if a.roles.Commands {
			for _, h := range parts.Commands {
				topic, err := a.topology.TopicFor(messaging.WireName(h.NewCommand()))
				if err != nil {
					return false, err
				}
				queues = append(queues, a.kafkaAdmin.Queue(h.HandlerName(), topic))
			}
		}
		for _, g := range parts.Groups {
			if a.roles.Has(g.Role) && !g.Live {
				queues = append(queues, a.kafkaAdmin.Queue(g.Name, g.Topic))
			}
		}
		for _, q := range queues {
			end, err := q.Backlog(ctx)
			if err != nil {
				return false, err
			}
			if n, err := q.Remaining(ctx, end); err != nil || n > 0 {
				return false, err
			}
		}
	}
	return true, nil
}

// Rebuild applies the whole history to every read model now and sets the
// data marker (`surge rebuild`).
func (a *App) Rebuild(ctx context.Context) (int, error) { return a.catchUp.Rebuild(ctx) }

// Reports are every flow's analytics replays.
func (a *App) Reports() []flow.Report {
	var out []flow.Report
	for _, parts := range a.parts {
		out = append(out, parts.Reports...)
	}
	return out
}

// Tools are every flow's operator commands.
func (a *App) Tools() []flow.Tool {
	var out []flow.Tool
	for _, parts := range a.parts {
		out = append(out, parts.Tools...)
	}
	return out
}

// Replay feeds the whole committed history, in order, to report's
// handlers, touching neither live consumers nor read models. It returns
// how many events it read.
func (a *App) Replay(ctx context.Context, report flow.Report) (int, error) {
	return projections.Replay(ctx, a.store, flow.NewDispatcher(report.Name(), report.Handlers()))
}

// Run serves until ctx is cancelled, then shuts down gracefully: stop taking
// requests, let handlers finish the messages in flight, flush, close.
func (a *App) Run(ctx context.Context, ready func()) error {
	errs := make(chan error, 2+len(a.forwarders)+len(a.jobs))
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
		start(j.Name, func() error { j.Run(jobsCtx); return nil })
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
	a.hub.Close() // streams on connections the server no longer tracks (hijacked) end too
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
	for _, parts := range a.parts {
		for _, c := range parts.Close {
			if err := c(); err != nil {
				a.logger.Warn("closing a flow's resource", "err", err)
			}
		}
	}
	if a.hub != nil {
		a.hub.Close()
	}
	if a.kafkaPub != nil {
		a.kafkaPub.Close()
	}
	if a.kafkaAdmin != nil {
		a.kafkaAdmin.Close()
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
