package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/projections"
)

// Campaigns is the coupon flow's Redis state: the admission gate (the fast
// path in front of the database's count) and the read models. Per campaign
// (keys share the {id} hash tag, so one campaign lives on one cluster slot):
//
//	<prefix>campaign:{id}             hash  name, limit, ready
//	<prefix>campaign:{id}:admitted    hash  user -> admission token ("issued"/"rejected" when restored)
//	<prefix>campaign:{id}:issued      hash  user -> coupon id (projection)
//	<prefix>campaign:{id}:rejected    hash  user -> reason (projection)
//	<prefix>campaign:{id}:admitted_at zset  user -> admission time (unix ms), until the user's outcome
//
// Accepted is HLEN of admitted and issued is HLEN of issued: derived, never
// counted separately, so no counter can drift from the sets.
//
// The gate admits only while "ready" is set. A new campaign is ready at
// once (nothing can have been admitted before it existed); a campaign whose
// hash was rebuilt by a projection (after Redis lost data) is not, until a
// repair restored its admissions from the event store. So a half-restored
// gate never admits, and nothing here ever resets what was admitted.
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
	return []string{base, base + ":admitted", base + ":issued", base + ":rejected", base + ":admitted_at"}
}

// saveTerms sets the terms field by field (HSETNX), so it commutes with the
// outcome scripts during a replay that sees streams in any order; with
// ARGV[3] = 1 it also makes the gate ready.
var saveTermsScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
redis.call('HSETNX', KEYS[1], 'limit', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'ready', 1) end
return 1`)

// admit is the gate: per-user dedupe and the limit in one atomic step.
// -1: no campaign here (ask the event store), -2: already applied,
// -3: sold out, -4: not ready (being repaired); else the number admitted.
var admitScript = goredis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'limit', 'ready')
if not st[1] then return -1 end
if not st[2] then return -4 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -2 end
if redis.call('HLEN', KEYS[2]) >= tonumber(st[1]) then return -3 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
return redis.call('HLEN', KEYS[2])`)

// release gives back the slot of one admission (its token), if the user
// has no outcome yet. A token that does not match is a later admission of
// the same user (or none): nothing changes.
var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1`)

// outcome records a user's final outcome (ARGV[2] = 'issued' with the coupon
// id in ARGV[3], or 'rejected' with the reason): the user counts as
// admitted (a replay or repair restores the admission), is no longer
// pending, and keeps the first outcome recorded.
var outcomeScript = goredis.NewScript(`
local field = KEYS[3]
if ARGV[2] == 'rejected' then field = KEYS[4] end
redis.call('HSETNX', field, ARGV[1], ARGV[3])
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1`)

// SaveTerms records a campaign's terms without making its gate ready: the
// projection of CampaignOpened, which may run while admissions are lost.
func (c *Campaigns) SaveTerms(ctx context.Context, campaignID, name string, limit int) error {
	return saveTermsScript.Run(ctx, c.rdb, c.keys(campaignID), name, limit, 0).Err()
}

// Open opens the gate of a campaign that was just created (nothing can have
// been admitted yet) or just repaired. It never resets admissions.
func (c *Campaigns) Open(ctx context.Context, campaignID, name string, limit int) error {
	return saveTermsScript.Run(ctx, c.rdb, c.keys(campaignID), name, limit, 1).Err()
}

// Admit takes one slot for userID, or says why not. The token identifies
// this admission, so Release gives back this one and no other.
func (c *Campaigns) Admit(ctx context.Context, campaignID, userID string) (token string, err error) {
	token = newToken()
	n, err := admitScript.Run(ctx, c.rdb, c.keys(campaignID), userID, time.Now().UnixMilli(), token).Int64()
	if err != nil {
		return token, err
	}
	switch n {
	case -1:
		return "", coupon.ErrCampaignNotFound
	case -2:
		return "", coupon.ErrAlreadyApplied
	case -3:
		return "", coupon.ErrSoldOut
	case -4:
		return "", coupon.ErrGateRepairing
	}
	return token, nil
}

func newToken() string {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck
	return hex.EncodeToString(b[:])
}

// Release gives back the slot of the admission with token, if the user has
// no outcome yet. It reports whether a slot was given back.
func (c *Campaigns) Release(ctx context.Context, campaignID, userID, token string) (bool, error) {
	n, err := releaseScript.Run(ctx, c.rdb, c.keys(campaignID), userID, token).Int64()
	return n == 1, err
}

// MarkIssued records that userID holds couponID. Idempotent.
func (c *Campaigns) MarkIssued(ctx context.Context, campaignID, userID, couponID string) error {
	return outcomeScript.Run(ctx, c.rdb, c.keys(campaignID), userID, "issued", couponID).Err()
}

// MarkRejected records that userID got no coupon, for reason. Idempotent.
func (c *Campaigns) MarkRejected(ctx context.Context, campaignID, userID, reason string) error {
	return outcomeScript.Run(ctx, c.rdb, c.keys(campaignID), userID, "rejected", reason).Err()
}

// RestoreOutcomes records final outcomes read from the event store, in one
// round trip: what a gate repair restores.
func (c *Campaigns) RestoreOutcomes(ctx context.Context, campaignID string, outcomes []coupon.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	// A pipeline cannot fall back from EVALSHA to EVAL per command: load the
	// script first.
	if err := outcomeScript.Load(ctx, c.rdb).Err(); err != nil {
		return err
	}
	keys := c.keys(campaignID)
	pipe := c.rdb.Pipeline()
	for _, o := range outcomes {
		if o.CouponID != "" {
			outcomeScript.EvalSha(ctx, pipe, keys, o.UserID, "issued", o.CouponID)
		} else {
			outcomeScript.EvalSha(ctx, pipe, keys, o.UserID, "rejected", o.Reason)
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// GateState says whether the gate of a campaign has terms in Redis and
// whether it admits.
func (c *Campaigns) GateState(ctx context.Context, campaignID string) (known, ready bool, err error) {
	vals, err := c.rdb.HMGet(ctx, c.keys(campaignID)[0], "limit", "ready").Result()
	if err != nil {
		return false, false, err
	}
	return vals[0] != nil, vals[1] != nil, nil
}

// PendingAdmissions returns up to limit admissions older than before that
// have no outcome yet, in the given campaigns: the users whose IssueCoupon
// may never have been sent (the API died between the gate and Kafka). One
// pipelined round trip per call.
func (c *Campaigns) PendingAdmissions(ctx context.Context, campaignIDs []string, before time.Time, limit int) ([]coupon.IssueCoupon, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*goredis.StringSliceCmd, len(campaignIDs))
	max := strconv.FormatInt(before.UnixMilli(), 10)
	for i, id := range campaignIDs {
		cmds[i] = pipe.ZRangeByScore(ctx, c.keys(id)[4], &goredis.ZRangeBy{Min: "-inf", Max: max, Count: int64(limit)})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	var out []coupon.IssueCoupon
	for i, cmd := range cmds {
		for _, u := range cmd.Val() {
			if len(out) == limit {
				return out, nil
			}
			out = append(out, coupon.IssueCoupon{CampaignID: campaignIDs[i], UserID: u})
		}
	}
	return out, nil
}

// AdmissionRetried restarts the wait of a pending admission at at, so that it is
// not returned again before the next grace period. It does nothing if the
// user's outcome was recorded meanwhile.
func (c *Campaigns) AdmissionRetried(ctx context.Context, campaignID, userID string, at time.Time) error {
	return c.rdb.ZAddXX(ctx, c.keys(campaignID)[4], goredis.Z{Score: float64(at.UnixMilli()), Member: userID}).Err()
}

// Campaign reads the campaign's read model. A campaign whose gate is not
// ready answers coupon.ErrGateRepairing: its counts are being restored.
func (c *Campaigns) Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error) {
	k := c.keys(campaignID)
	pipe := c.rdb.Pipeline()
	fields := pipe.HMGet(ctx, k[0], "name", "limit", "ready")
	admitted := pipe.HLen(ctx, k[1])
	issued := pipe.HLen(ctx, k[2])
	rejected := pipe.HLen(ctx, k[3])
	if _, err := pipe.Exec(ctx); err != nil {
		return projections.CampaignView{}, err
	}
	vals := fields.Val()
	if vals[1] == nil {
		return projections.CampaignView{}, coupon.ErrCampaignNotFound
	}
	if vals[2] == nil {
		return projections.CampaignView{}, coupon.ErrGateRepairing
	}
	v := projections.CampaignView{ID: campaignID, Accepted: int(admitted.Val()), Issued: int(issued.Val()), Rejected: int(rejected.Val())}
	v.Name, _ = vals[0].(string)
	v.Limit, _ = strconv.Atoi(fmt.Sprint(vals[1]))
	v.Status = "open"
	if v.Accepted >= v.Limit {
		v.Status = "sold_out"
	}
	return v, nil
}

// CouponStatus says whether userID's coupon is issued (with its id),
// rejected (with the reason) or pending (admitted, no outcome yet).
func (c *Campaigns) CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error) {
	k := c.keys(campaignID)
	pipe := c.rdb.Pipeline()
	issued := pipe.HGet(ctx, k[2], userID)
	rejected := pipe.HGet(ctx, k[3], userID)
	admitted := pipe.HExists(ctx, k[1], userID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return projections.CouponView{}, err
	}
	if id, err := issued.Result(); err == nil {
		return projections.CouponView{Status: "issued", CouponID: id}, nil
	}
	if reason, err := rejected.Result(); err == nil {
		return projections.CouponView{Status: "rejected", Reason: reason}, nil
	}
	if admitted.Val() {
		return projections.CouponView{Status: "pending"}, nil
	}
	return projections.CouponView{}, coupon.ErrCouponNotFound
}
