package main

import (
	"context"
	"log/slog"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/projections"
)

// rebuildCommand is `surge rebuild`: refill every Redis read model from the
// event store now, as a running instance does by itself when it finds Redis
// lost its data. Projections are idempotent, so it is safe over live data.
func rebuildCommand(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db); err != nil {
		return err
	}
	rdb, err := redis.Connect(ctx, cfg.RedisURL, cfg.RedisTimeout)
	if err != nil {
		return err
	}
	defer rdb.Close()
	catchUp := &projections.CatchUp{
		History:   postgres.NewEventStore(db, nil, app.EventTypes()...),
		Targets:   app.ReadModels(cfg, rdb),
		Marker:    redis.NewDataMarker(rdb, cfg.RedisPrefix),
		Exclusive: redis.NewLeases(rdb, cfg.RedisPrefix),
		Logger:    logger,
	}
	n, err := catchUp.Rebuild(ctx)
	if err != nil {
		return err
	}
	logger.Info("read models rebuilt", "events", n)
	return nil
}
