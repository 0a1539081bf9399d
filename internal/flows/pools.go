package flows

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/objectstore"
	"github.com/surge-platform/surge/infra/objectstore/s3server"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/projections"
)

// The warm-pool flow's topics.
const (
	PoolCommands = "pools.commands"
	PoolEvents   = "pools.events"
)

// Pools is warm pools of pre-copied template assets (seed 004): turning a
// template into a design copies every asset server-side (no two designs
// share an object); each template keeps a pool of ready copies, so a design
// takes one (each exactly once, the copy's stream decides) instead of
// waiting for the copies. One refill at a time tops a pool up; a sweeper
// expires old copies (deleting their objects), repairs the Redis pools from
// the store, and collects the objects a crash left.
type Pools struct {
	S3          objectstore.Config // SURGE_S3_*
	EmbeddedS3  string             // SURGE_EMBEDDED_S3_ADDR: where serve's embedded server listens when SURGE_S3_ENDPOINT is empty
	Parallelism int                // SURGE_COPY_PARALLELISM: CopyObject calls in flight per copy
	Size        int                // SURGE_WARM_POOL_SIZE: ready copies per template
	TTL         time.Duration      // SURGE_WARM_POOL_TTL: a ready copy older than this is expired
	Sweep       time.Duration      // SURGE_WARM_POOL_SWEEP
	GCInterval  time.Duration      // SURGE_WARM_POOL_GC_INTERVAL
	GCGrace     time.Duration      // SURGE_WARM_POOL_GC_GRACE: unowned objects younger than this are left alone
}

func (*Pools) Name() string { return "pools" }

func (*Pools) Topics() []kafka.Topic {
	var events []kafka.Message
	for _, e := range pool.EventTypes() {
		events = append(events, e)
	}
	return []kafka.Topic{
		{Name: PoolCommands, Kind: kafka.Commands, Partitions: 12, Retention: 7 * 24 * time.Hour, Messages: []kafka.Message{pool.RefillPool{}}},
		{Name: PoolEvents, Kind: kafka.Events, Partitions: 12, Retention: -1, Messages: events},
	}
}

func (m *Pools) Configure(r *config.Reader) {
	m.S3 = objectstore.Config{
		Endpoint:        r.Raw("SURGE_S3_ENDPOINT"),
		Region:          r.String("SURGE_S3_REGION", "us-east-1"),
		Bucket:          r.String("SURGE_S3_BUCKET", "surge-assets"),
		AccessKeyID:     r.Raw("SURGE_S3_ACCESS_KEY_ID"),
		SecretAccessKey: r.Raw("SURGE_S3_SECRET_ACCESS_KEY"),
		Timeout:         r.Duration("SURGE_S3_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute),
	}
	if (m.S3.AccessKeyID == "") != (m.S3.SecretAccessKey == "") {
		r.Failf("set both SURGE_S3_ACCESS_KEY_ID and SURGE_S3_SECRET_ACCESS_KEY, or neither")
	}
	m.EmbeddedS3 = r.String("SURGE_EMBEDDED_S3_ADDR", "127.0.0.1:0")
	m.Parallelism = r.Int("SURGE_COPY_PARALLELISM", 8, 1, 256)
	m.Size = r.Int("SURGE_WARM_POOL_SIZE", 4, 0, 1000)
	m.TTL = r.Duration("SURGE_WARM_POOL_TTL", 720*time.Hour, time.Second, 10*365*24*time.Hour)
	m.Sweep = r.Duration("SURGE_WARM_POOL_SWEEP", time.Minute, 100*time.Millisecond, 24*time.Hour)
	m.GCInterval = r.Duration("SURGE_WARM_POOL_GC_INTERVAL", time.Hour, 100*time.Millisecond, 30*24*time.Hour)
	m.GCGrace = r.Duration("SURGE_WARM_POOL_GC_GRACE", time.Hour, time.Second, 30*24*time.Hour)
	// A copy gives up at half the grace, and its calls in flight end
	// within the S3 timeout: so nothing still being copied is old enough
	// to be collected.
	if m.GCGrace < 4*m.S3.Timeout {
		r.Failf("SURGE_WARM_POOL_GC_GRACE=%s must be at least 4 × SURGE_S3_TIMEOUT (%s)", m.GCGrace, 4*m.S3.Timeout)
	}
}

// copyDeadline bounds one copy's copying (see Configure).
func (m *Pools) copyDeadline() time.Duration { return m.GCGrace / 2 }

// sampleAssets are put into the embedded server's bucket, so a local run
// has a template to try (README).
var sampleAssets = []string{"templates/sample/01.png", "templates/sample/02.png", "templates/sample/03.png"}

func (m *Pools) Build(p *flow.Platform) (*flow.Parts, error) {
	parts := &flow.Parts{}
	metrics, err := newPoolMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	repo := postgres.NewPoolRepository(p.Store)
	redisPools := redis.NewPools(p.Redis, p.Config.RedisPrefix)
	projection := projections.PoolProjection{Store: redisPools}
	parts.Groups = []flow.Group{{Name: projection.Name(), Topic: PoolEvents, Role: flow.RoleProjections, ReadModel: true,
		Handlers: []cqrs.GroupEventHandler{
			cqrs.NewGroupEventHandler(projection.OnTemplateOpened),
			cqrs.NewGroupEventHandler(projection.OnTemplateClosed),
			cqrs.NewGroupEventHandler(projection.OnWarmCopyPrepared),
			cqrs.NewGroupEventHandler(projection.OnWarmCopyExpired),
			cqrs.NewGroupEventHandler(projection.OnDesignCreated),
		}}}

	// The object store: the configured one, or (serve only) an embedded
	// server in this process.
	assets := &lazyAssets{}
	parts.Tools = append(parts.Tools, flow.Tool{
		Name: "warm-pool gc",
		Run: func(ctx context.Context, args []string, out io.Writer) error {
			fs := flag.NewFlagSet("warm-pool gc", flag.ContinueOnError)
			grace := fs.Duration("grace", m.GCGrace, "leave unowned objects younger than this (a copy may be in progress)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if *grace < 4*m.S3.Timeout {
				return fmt.Errorf("--grace %s must be at least 4 × SURGE_S3_TIMEOUT (%s): a copy may still be in progress", *grace, 4*m.S3.Timeout)
			}
			if m.S3.Endpoint == "" {
				return errors.New("warm-pool gc needs SURGE_S3_ENDPOINT (the embedded server lives inside 'serve')")
			}
			if err := assets.connect(m.S3, m.Parallelism, nil); err != nil {
				return err
			}
			gc := handlers.CollectCopyGarbage{Assets: assets, Owners: repo, Grace: *grace, Logger: p.Logger}
			report, err := gc.Once(ctx)
			if err != nil {
				return err
			}
			return json.NewEncoder(out).Encode(report)
		},
	})
	if p.Roles.None() {
		return parts, nil
	}
	embedded := m.S3.Endpoint == ""
	if embedded {
		srv, err := s3server.Start(s3server.Options{Addr: m.EmbeddedS3, Buckets: []string{m.S3.Bucket}})
		if err != nil {
			return nil, fmt.Errorf("embedded S3 server: %w (check SURGE_EMBEDDED_S3_ADDR)", err)
		}
		parts.Close = append(parts.Close, srv.Close)
		m.S3.Endpoint = srv.URL()
		p.Logger.Warn("SURGE_S3_ENDPOINT is empty: started an embedded in-process S3-compatible server (gofakes3); its data is lost on exit",
			"endpoint", srv.URL(), "bucket", m.S3.Bucket, "sample_assets", sampleAssets)
	}
	if err := assets.connect(m.S3, m.Parallelism, p.Registry); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := assets.store.EnsureBucket(ctx); err != nil {
		return nil, fmt.Errorf("%w (check SURGE_S3_ENDPOINT and SURGE_S3_BUCKET)", err)
	}
	if embedded {
		for _, key := range sampleAssets {
			if err := assets.store.Put(ctx, key, []byte("sample asset "+key), "image/png"); err != nil {
				return nil, err
			}
		}
	}

	if p.Roles.Commands {
		refill := handlers.RefillPoolHandler{Templates: repo, Pool: redisPools, Assets: assets, Commands: p.Commands,
			TTL: m.TTL, CopyDeadline: m.copyDeadline(), Logger: p.Logger, Metrics: metrics.handlers, Runs: metrics.refillRun}
		parts.Commands = []cqrs.CommandHandler{cqrs.NewCommandHandler(refill.HandlerName(), refill.Handle)}
		sweeper := handlers.SweepPools{Templates: repo, Ledger: repo, Pool: redisPools, Repairer: redisPools, Assets: assets,
			Commands: p.Commands, Exclusive: p.Leases, Interval: m.Sweep, Logger: p.Logger, Metrics: metrics.handlers}
		gc := handlers.CollectCopyGarbage{Assets: assets, Owners: repo, Grace: m.GCGrace, Interval: m.GCInterval, Exclusive: p.Leases,
			Logger: p.Logger, Deleted: func(n int) { metrics.garbage.Add(float64(n)) }}
		parts.Jobs = append(parts.Jobs,
			flow.Job{Name: "warm-pool sweeper", Role: flow.RoleCommands, Run: sweeper.Run},
			flow.Job{Name: "warm-pool garbage collector", Role: flow.RoleCommands, Run: gc.Run})
	}
	if p.Roles.API {
		parts.Routes = api.Templates{
			Open: handlers.OpenTemplateHandler{Templates: repo, Assets: assets, FastPath: redisPools, Pool: redisPools, Commands: p.Commands,
				Target: m.Size, Logger: p.Logger, Metrics: metrics.handlers},
			Create: handlers.CreateDesignHandler{Templates: repo, Pool: redisPools, Assets: assets, Designs: redisPools, Commands: p.Commands,
				CopyDeadline: m.copyDeadline(), Logger: p.Logger, Metrics: metrics.handlers},
			Close:   handlers.CloseTemplateHandler{Templates: repo, Pool: redisPools, Assets: assets, Logger: p.Logger, Metrics: metrics.handlers},
			Queries: handlers.PoolQueries{ReadModel: redisPools, Templates: repo, Designs: repo, Index: repo},
			// 500 keys of up to 512 bytes.
			MaxBodyBytes: max(p.Config.MaxBodyBytes, 512<<10),
		}.Mount
	}
	return parts, nil
}

// lazyAssets is the handlers' AssetStore on the S3 client, connected when
// Build (or the gc tool) knows the endpoint. Object store failures become
// handlers.ErrAssetStoreUnavailable (503, retried); a template asset that
// disappeared from the bucket is invalid (422, and a refill goes to the
// poison queue at once: no retry brings it back).
type lazyAssets struct {
	once        sync.Once
	err         error
	store       *objectstore.Store
	parallelism int
}

func (a *lazyAssets) connect(cfg objectstore.Config, parallelism int, reg prometheus.Registerer) error {
	a.once.Do(func() {
		a.parallelism = parallelism
		if a.store, a.err = objectstore.New(cfg); a.err != nil {
			a.err = fmt.Errorf("%w (check SURGE_S3_ENDPOINT)", a.err)
			return
		}
		if reg != nil {
			a.err = a.store.Register(reg)
		}
	})
	return a.err
}

func assetErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, objectstore.ErrNotFound):
		return errors.Join(domain.Invalid("asset_missing", "an asset of the template no longer exists in the bucket"), err)
	case objectstore.IsUnavailable(err):
		return errors.Join(handlers.ErrAssetStoreUnavailable, err)
	}
	return err
}

// Missing HEADs every key, a few times the copy parallelism at once.
func (a *lazyAssets) Missing(ctx context.Context, keys []string) ([]string, error) {
	exists := make([]bool, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 4*a.parallelism)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, exists[i], errs[i] = a.store.Head(ctx, k)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, assetErr(err)
		}
	}
	var missing []string
	for i, k := range keys {
		if !exists[i] {
			missing = append(missing, k)
		}
	}
	return missing, nil
}

func (a *lazyAssets) CopyAll(ctx context.Context, keys []pool.CopyKey) error {
	pairs := make([]objectstore.CopyPair, len(keys))
	for i, k := range keys {
		pairs[i] = objectstore.CopyPair{From: k.From, To: k.Key}
	}
	return assetErr(a.store.CopyAll(ctx, pairs, a.parallelism))
}

func (a *lazyAssets) DeleteAll(ctx context.Context, keys []string) error {
	return assetErr(a.store.DeleteAll(ctx, keys))
}

func (a *lazyAssets) ListPages(ctx context.Context, prefix string, fn func(page []handlers.StoredObject) error) error {
	return assetErr(a.store.ListPages(ctx, prefix, func(objects []objectstore.Object) error {
		out := make([]handlers.StoredObject, len(objects))
		for i, o := range objects {
			out[i] = handlers.StoredObject{Key: o.Key, LastModified: o.LastModified}
		}
		return fn(out)
	}))
}

func (m poolMetrics) refillRun(prepared bool) {
	outcome := "full"
	if prepared {
		outcome = "prepared"
	}
	m.refillRuns.WithLabelValues(outcome).Inc()
}

// poolMetrics are the flow's Prometheus counters.
type poolMetrics struct {
	handlers   handlers.PoolMetrics
	refillRuns *prometheus.CounterVec
	garbage    prometheus.Counter
}

func newPoolMetrics(reg prometheus.Registerer) (poolMetrics, error) {
	designs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "surge", Name: "pool_designs_created_total",
		Help: "Designs created, by source: warm (a ready copy taken from the pool) or cold (copied on request)."}, []string{"source"})
	requests := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "pool_refill_requests_total",
		Help: "RefillPool commands sent (at most one in flight per template)."})
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "surge", Name: "pool_refill_runs_total",
		Help: "RefillPool commands handled to the end, by outcome: prepared (copies were made) or full (a redelivery or a late request found the pool full)."}, []string{"outcome"})
	prepared := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "pool_copies_prepared_total",
		Help: "Ready copies prepared by refills."})
	expired := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "surge", Name: "pool_copies_expired_total",
		Help: "Ready copies expired unused, by reason (ttl, template_closed)."}, []string{"reason"})
	deleted := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "pool_objects_deleted_total",
		Help: "Copied objects deleted with their expired copy (or an unused cold copy)."})
	garbage := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "pool_garbage_objects_deleted_total",
		Help: "Objects under the copies prefix the garbage collector deleted (owned by nothing, older than the grace)."})
	if err := register(reg, designs, requests, runs, prepared, expired, deleted, garbage); err != nil {
		return poolMetrics{}, err
	}
	return poolMetrics{
		handlers: handlers.PoolMetrics{
			DesignCreated:   func(source string) { designs.WithLabelValues(source).Inc() },
			RefillRequested: requests.Inc,
			CopyPrepared:    prepared.Inc,
			CopyExpired:     func(reason string) { expired.WithLabelValues(reason).Inc() },
			ObjectsDeleted:  func(n int) { deleted.Add(float64(n)) },
		},
		refillRuns: runs,
		garbage:    garbage,
	}, nil
}
