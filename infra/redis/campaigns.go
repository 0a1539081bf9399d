package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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
	return []string{base, base + ":applicants", base + ":issued"}
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
return redis.call('HINCRBY', KEYS[1], 'accepted', 1)`)

// release gives a slot back, once, if the user holds one and has no coupon.
var releaseScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'accepted', -1)
  return 1
end
return 0`)

// markIssued records a coupon; on a rebuild it also restores the admission.
var markIssuedScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2])
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
	n, err := admitScript.Run(ctx, c.rdb, c.keys(campaignID), userID).Int64()
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
