package pricebench

import (
	"log/slog"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/app"
)

// surge is a Surge process the price benchmarks drive, wired by
// internal/app exactly as `surge serve` wires it.
type surge struct {
	rdb    *goredis.Client
	prices *redis.Prices
	URL    string
}

// withPipeline runs every role (the command handler, the outbox forwarders
// and the projection too); without it only the API runs (enough for cache
// hits).
func startSurge(b *testing.B, cfg config.Config, withPipeline bool) *surge {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	roles := app.Roles{API: true}
	if withPipeline {
		roles = app.AllRoles
	}
	a := benchkit.RunApp(b, cfg, roles, logger)
	return &surge{rdb: a.Redis(), prices: redis.NewPrices(a.Redis(), cfg.RedisPrefix), URL: "http://" + a.Addr()}
}
