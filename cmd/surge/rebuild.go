package main

import (
	"context"
	"log/slog"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/internal/app"
)

// rebuildCommand is `surge rebuild`: refill every Redis read model from the
// event store now, as a running instance does by itself when it finds Redis
// lost its data. Projections are idempotent, so it is safe over live data.
func rebuildCommand(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	surge, err := app.New(ctx, cfg, app.Roles{}, logger)
	if err != nil {
		return err
	}
	defer surge.Close()
	n, err := surge.Rebuild(ctx)
	if err != nil {
		return err
	}
	logger.Info("read models rebuilt", "events", n)
	return nil
}
