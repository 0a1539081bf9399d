package main

import (
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/projections"
)

// readModels are every projection, for `surge rebuild`.
func readModels(cfg config.Config, rdb goredis.UniversalClient) []Projection {
	return []Projection{
		projections.CampaignProjection{Store: redis.NewCampaigns(rdb, cfg.RedisPrefix)},
		projections.PriceComparisonProjection{Store: redis.NewPrices(rdb, cfg.RedisPrefix), RetryBackoff: cfg.PriceRetryBackoff},
	}
}
