package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/projections"
)

// Campaigns is the coupon flow's Redis state. Per campaign (keys share the
// {id} hash tag, so one campaign lives on one cluster slot):
//
//	<prefix>campaign:{id}             hash  name, limit, accepted
//	<prefix>campaign:{id}:applicants  set   users the gate admitted
//	<prefix>campaign:{id}:issued      hash  user -> coupon id (projection)
//	<prefix>campaign:{id}:admitted_at zset  user -> admission time (unix ms),
//	                                        while the user has no coupon
//
// "issued" is derived (HLEN), never counted separately.
type Campaigns struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewCampaigns uses keys under prefix.
func NewCampaigns(rdb goredis.UniversalClient, prefix string) *Campaigns {
	return &Campaigns{rdb: rdb, prefix: prefix}
}

func (c *Campaigns) keys(id string) []string {
	base := c.prefix + "campaign:{" + id + "}"
	return []string{base, base + ":applicants", base + ":issued", base + ":admitted_at"}
}

// open sets the terms field by field (HSETNX), so it commutes with
// markIssued during a replay that sees events of different streams in any
// order.
var openScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
redis.call('HSETNX', KEYS[1], 'limit', ARGV[2])
redis.call('HSETNX', KEYS[1], 'accepted', 0)
return 1`)

// admit is the gate: per-user dedupe and the counter in one atomic step.
var admitScript = goredis.NewScript(`
local limit = redis.call('HGET', KEYS[1], 'limit')
if not limit then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -2 end
local accepted = tonumber(redis.call('HGET', KEYS[1], 'accepted') or '0')
if accepted >= tonumber(limit) then return -3 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'accepted', 1)`)

// release gives a slot back, once, if the user holds one and has no coupon.
var releaseScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'accepted', -1)
  return 1
end
return 0`)

// markIssued records a coupon; on a rebuild it also restores the admission.
var markIssuedScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'accepted', 1)
end
return 1`)

// Open makes the campaign accept applications up to limit.
func (c *Campaigns) Open(ctx context.Context, campaignID, name string, limit int) error {
	return openScript.Run(ctx, c.rdb, c.keys(campaignID), name, limit).Err()
}

// Admit takes one slot for userID, or says why not.
func (c *Campaigns) Admit(ctx context.Context, campaignID, userID string) error {
	n, err := admitScript.Run(ctx, c.rdb, c.keys(campaignID), userID, time.Now().UnixMilli()).Int64()
	if err != nil {
		return err
	}
	switch n {
	case -1:
		return coupon.ErrCampaignNotFound
	case -2:
		return coupon.ErrAlreadyApplied
	case -3:
		return coupon.ErrSoldOut
	}
	return nil
}

// PendingAdmissions returns up to limit admissions older than before whose
// coupon is not issued yet, across campaigns: the users whose IssueCoupon
// may never have been sent (the API died between the gate and Kafka).
func (c *Campaigns) PendingAdmissions(ctx context.Context, before time.Time, limit int) ([]coupon.IssueCoupon, error) {
	var out []coupon.IssueCoupon
	iter := c.rdb.Scan(ctx, 0, c.prefix+"campaign:{*}:admitted_at", 100).Iterator()
	for iter.Next(ctx) && len(out) < limit {
		key := iter.Val()
		lb, rb := strings.IndexByte(key, '{'), strings.LastIndexByte(key, '}')
		if lb < 0 || rb < lb {
			continue
		}
		campaignID := key[lb+1 : rb]
		users, err := c.rdb.ZRangeByScore(ctx, key, &goredis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit - len(out)),
		}).Result()
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out = append(out, coupon.IssueCoupon{CampaignID: campaignID, UserID: u})
		}
	}
	return out, iter.Err()
}

// AdmissionRetried restarts the wait of a pending admission at, so that it is
// not returned again before the next grace period. It does nothing if the
// coupon was issued meanwhile.
func (c *Campaigns) AdmissionRetried(ctx context.Context, campaignID, userID string, at time.Time) error {
	return c.rdb.ZAddXX(ctx, c.keys(campaignID)[3], goredis.Z{Score: float64(at.UnixMilli()), Member: userID}).Err()
}

// Release gives back the slot of an admission whose command was never sent.
func (c *Campaigns) Release(ctx context.Context, campaignID, userID string) error {
	return releaseScript.Run(ctx, c.rdb, c.keys(campaignID), userID).Err()
}

// MarkIssued records that userID holds couponID. Idempotent.
func (c *Campaigns) MarkIssued(ctx context.Context, campaignID, userID, couponID string) error {
	return markIssuedScript.Run(ctx, c.rdb, c.keys(campaignID), userID, couponID).Err()
}

// Campaign reads the campaign's read model.
func (c *Campaigns) Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error) {
	k := c.keys(campaignID)
	pipe := c.rdb.Pipeline()
	fields := pipe.HMGet(ctx, k[0], "name", "limit", "accepted")
	issued := pipe.HLen(ctx, k[2])
	if _, err := pipe.Exec(ctx); err != nil {
		return projections.CampaignView{}, err
	}
	vals := fields.Val()
	if vals[1] == nil {
		return projections.CampaignView{}, coupon.ErrCampaignNotFound
	}
	v := projections.CampaignView{ID: campaignID, Issued: int(issued.Val())}
	v.Name, _ = vals[0].(string)
	v.Limit, _ = strconv.Atoi(fmt.Sprint(vals[1]))
	v.Accepted, _ = strconv.Atoi(fmt.Sprint(vals[2]))
	v.Status = "open"
	if v.Accepted >= v.Limit {
		v.Status = "sold_out"
	}
	return v, nil
}

// CouponStatus says whether userID's coupon is issued (with its id) or
// pending (admitted, not yet issued).
func (c *Campaigns) CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error) {
	k := c.keys(campaignID)
	pipe := c.rdb.Pipeline()
	issued := pipe.HGet(ctx, k[2], userID)
	admitted := pipe.SIsMember(ctx, k[1], userID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return projections.CouponView{}, err
	}
	if id, err := issued.Result(); err == nil {
		return projections.CouponView{Status: "issued", CouponID: id}, nil
	}
	if admitted.Val() {
		return projections.CouponView{Status: "pending"}, nil
	}
	return projections.CouponView{}, coupon.ErrCouponNotFound
}
