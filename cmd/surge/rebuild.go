package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/app"
)

// Projection is a read model that can be rebuilt from the event history.
type Projection interface {
	Apply(ctx context.Context, e domain.Event) error
}

// Rebuild replays the whole event store, in global order, through the
// projections. Projections are idempotent, so rebuilding over a live read
// model is safe; it restores what a lost Redis held.
func Rebuild(ctx context.Context, store *postgres.EventStore, targets ...Projection) (int, error) {
	var pos int64
	applied := 0
	for {
		page, err := store.ReadAll(ctx, pos, 1000)
		if err != nil {
			return applied, err
		}
		if len(page) == 0 {
			return applied, nil
		}
		for _, r := range page {
			e, err := store.Decode(r.Type, r.Payload)
			if err != nil {
				return applied, fmt.Errorf("position %d: %w", r.Position, err)
			}
			for _, p := range targets {
				if err := p.Apply(ctx, e); err != nil {
					return applied, fmt.Errorf("position %d (%s): %w", r.Position, r.Type, err)
				}
			}
			applied++
			pos = r.Position
		}
	}
}

// rebuildCommand is `surge rebuild`: refill the Redis read models from the
// event store.
func rebuildCommand(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := redis.Connect(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	n, err := Rebuild(ctx, postgres.NewEventStore(db, nil, app.EventTypes()...), readModels(cfg, rdb)...)
	if err != nil {
		return err
	}
	logger.Info("read models rebuilt", "events", n)
	return nil
}
