package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/projections"
)

// Alerts is the alert flow's Redis state: per alert one hash
//
//	<prefix>alert:{id}  complexId, house, text, lat, lng, raisedAt, status,
//	                    acceptedBy, acceptedAt, cancelledAt   (the read model)
//	                    claim, cancelClaim                    (the fast path)
//
// The claim fields answer acceptors and the raiser at once, atomically
// across API instances; the alert's stream decides (the projection writes
// what it recorded). A hash Redis lost is restored from the stream.
//
//	<prefix>alerts:claims  zset  alert id -> when its claim was taken (ms),
//	                             until the stream decided or the claim was
//	                             given back: what handlers.SettleAlertClaims
//	                             re-sends when its command never decided
//	                             (the API died before sending it, Kafka lost it)
type Alerts struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewAlerts uses keys under prefix.
func NewAlerts(rdb goredis.UniversalClient, prefix string) *Alerts {
	return &Alerts{rdb: rdb, prefix: prefix}
}

func (a *Alerts) key(alertID string) string { return a.prefix + "alert:{" + alertID + "}" }

// keys are an alert's hash and the claims ledger. One Redis server is
// assumed (as for the leases): the ledger is not in the alert's slot.
func (a *Alerts) keys(alertID string) []string {
	return []string{a.key(alertID), a.prefix + "alerts:claims"}
}

// raised writes the raise's fields that are not set (HSETNX): a raise
// applied after its outcome changes nothing.
var alertRaisedScript = goredis.NewScript(`
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i+1]) end
return 1`)

// outcome records what the stream decided; it is final.
var alertOutcomeScript = goredis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[4])
if ARGV[1] == 'accepted' then
  redis.call('HSET', KEYS[1], 'status', 'accepted', 'acceptedBy', ARGV[2], 'acceptedAt', ARGV[3], 'claim', ARGV[2])
else
  if redis.call('HGET', KEYS[1], 'status') ~= 'accepted' then
    redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelledAt', ARGV[3], 'cancelClaim', '1')
  end
end
return 1`)

// claimAccept: {code, winner}. 1 won; -1 unknown here; -2 the raiser's own;
// -3 cancelled (or being); -4 accepted by winner.
var claimAcceptScript = goredis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'house', 'status', 'claim', 'cancelClaim', 'acceptedBy')
if not f[1] then return {-1, ''} end
if f[1] == ARGV[1] then return {-2, ''} end
if f[2] == 'cancelled' or f[4] then return {-3, ''} end
if f[5] then return {-4, f[5]} end
if f[3] then return {-4, f[3]} end
redis.call('HSET', KEYS[1], 'claim', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return {1, ARGV[1]}`)

// claimCancel: {code, winner}. 1 cancelled now; 0 cancelled already; -1
// unknown here; -5 not the raiser; -4 accepted by winner.
var claimCancelScript = goredis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'house', 'status', 'claim', 'cancelClaim', 'acceptedBy')
if not f[1] then return {-1, ''} end
if f[1] ~= ARGV[1] then return {-5, ''} end
if f[5] then return {-4, f[5]} end
if f[3] then return {-4, f[3]} end
if f[2] == 'cancelled' then return {0, ''} end
if f[4] then
  -- A retry while the first request's command may still fail: it sends its
  -- own, and the first one's give-back must then leave the claim alone.
  redis.call('HINCRBY', KEYS[1], 'cancelSends', 1)
  return {0, ''}
end
redis.call('HSET', KEYS[1], 'cancelClaim', '1', 'cancelSends', '0')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return {1, ''}`)

// restore writes an alert rebuilt from its stream, unless the raise came
// back meanwhile. A hash without the raise (the projection applied an
// outcome to a Redis that had lost the alert) gets the missing fields and
// keeps the ones it has: nothing the stream decided since is overwritten.
var alertRestoreScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'house') == 1 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i+1]) end
return 1`)

// raisedFields are an alert's fields as it was raised (lat and lng only
// when there is a location).
func raisedFields(id, complexID, house, text string, loc *alert.Location, raisedAt time.Time, status alert.Status) []any {
	f := []any{"complexId", complexID, "house", house, "text", text, "raisedAt", projections.FormatTime(raisedAt), "status", string(status)}
	if loc != nil {
		f = append(f, "lat", strconv.FormatFloat(loc.Lat, 'f', -1, 64), "lng", strconv.FormatFloat(loc.Lng, 'f', -1, 64))
	}
	return f
}

// SaveRaised implements projections.AlertStore (and the raise's fast path).
func (a *Alerts) SaveRaised(ctx context.Context, e alert.AlertRaised) error {
	return alertRaisedScript.Run(ctx, a.rdb, []string{a.key(e.AlertID)}, raisedFields(e.AlertID, e.ComplexID, e.House, e.Text, e.Location, e.RaisedAt, alert.Raised)...).Err()
}

// SaveAccepted implements projections.AlertStore.
func (a *Alerts) SaveAccepted(ctx context.Context, e alert.AlertAccepted) error {
	return alertOutcomeScript.Run(ctx, a.rdb, a.keys(e.AlertID), "accepted", e.AcceptedBy, projections.FormatTime(e.AcceptedAt), e.AlertID).Err()
}

// SaveCancelled implements projections.AlertStore.
func (a *Alerts) SaveCancelled(ctx context.Context, e alert.AlertCancelled) error {
	return alertOutcomeScript.Run(ctx, a.rdb, a.keys(e.AlertID), "cancelled", "", projections.FormatTime(e.CancelledAt), e.AlertID).Err()
}

// Restore writes an alert rebuilt from its stream, if Redis holds nothing
// of it.
func (a *Alerts) Restore(ctx context.Context, v *alert.Alert) error {
	args := raisedFields(v.ID, v.ComplexID, v.House, v.Text, v.Location, v.RaisedAt, v.Status)
	switch v.Status {
	case alert.Accepted:
		args = append(args, "acceptedBy", v.AcceptedBy, "acceptedAt", projections.FormatTime(v.AcceptedAt), "claim", v.AcceptedBy)
	case alert.Cancelled:
		args = append(args, "cancelledAt", projections.FormatTime(v.CancelledAt), "cancelClaim", "1")
	}
	return alertRestoreScript.Run(ctx, a.rdb, []string{a.key(v.ID)}, args...).Err()
}

// ClaimAccept takes the alert for house if no one has: won, or the winner.
func (a *Alerts) ClaimAccept(ctx context.Context, alertID, house string) (won bool, winner string, err error) {
	code, winner, err := a.claim(ctx, claimAcceptScript, alertID, house)
	switch code {
	case 1:
		return true, winner, err
	case -1:
		return false, "", domain.ErrNotInFastPath
	case -2:
		return false, "", alert.ErrOwnAlert
	case -3:
		return false, "", alert.ErrAlreadyCancelled
	case -4:
		return false, winner, alert.AlreadyAccepted(winner)
	}
	return false, "", err
}

// ClaimCancel cancels for house (the raiser) if no one accepted; already
// cancelled is fine (a retried request).
func (a *Alerts) ClaimCancel(ctx context.Context, alertID, house string) (first bool, err error) {
	code, winner, err := a.claim(ctx, claimCancelScript, alertID, house)
	switch code {
	case 1:
		return true, err
	case 0:
		return false, err
	case -1:
		return false, domain.ErrNotInFastPath
	case -5:
		return false, alert.ErrNotTheRaiser
	case -4:
		return false, alert.AlreadyAccepted(winner)
	}
	return false, err
}

func (a *Alerts) claim(ctx context.Context, s *goredis.Script, alertID, house string) (int64, string, error) {
	res, err := s.Run(ctx, a.rdb, a.keys(alertID), house, time.Now().UnixMilli(), alertID).Slice()
	if err != nil {
		return 0, "", err
	}
	code, _ := res[0].(int64)
	winner, _ := res[1].(string)
	return code, winner, nil
}

// releaseAcceptScript gives back an acceptance claim whose command was not
// stored (only the claimer's, and only before the stream decided).
// A claim the settler re-sent ('resent') is never given back: its command
// may be the one stored.
var releaseAcceptScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'claim') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') ~= 'accepted' and not redis.call('HGET', KEYS[1], 'resent') then
  redis.call('HDEL', KEYS[1], 'claim')
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0`)

var releaseCancelScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'cancelled' and (redis.call('HGET', KEYS[1], 'cancelSends') or '0') == '0' and not redis.call('HGET', KEYS[1], 'resent') then
  redis.call('HDEL', KEYS[1], 'cancelClaim')
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`)

// ReleaseAccept gives back house's claim (its command was not stored).
func (a *Alerts) ReleaseAccept(ctx context.Context, alertID, house string) error {
	return releaseAcceptScript.Run(ctx, a.rdb, a.keys(alertID), house, alertID).Err()
}

// ReleaseCancel gives back a cancellation claim (its command was not
// stored), unless a retry sent its own meanwhile.
func (a *Alerts) ReleaseCancel(ctx context.Context, alertID string) error {
	return releaseCancelScript.Run(ctx, a.rdb, a.keys(alertID), alertID).Err()
}

// StaleClaims are up to limit alerts whose claim was taken (or last
// re-sent) before before and that the stream has not decided yet as Redis
// knows it.
func (a *Alerts) StaleClaims(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return a.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: a.prefix + "alerts:claims", ByScore: true,
		Start: "-inf", Stop: "(" + strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit)}).Result()
}

// Claim is who holds an alert's claim: the acceptor's house, or
// cancelling (the raiser's).
func (a *Alerts) Claim(ctx context.Context, alertID string) (acceptor string, cancelling bool, err error) {
	f, err := a.rdb.HMGet(ctx, a.key(alertID), "claim", "cancelClaim", "status").Result()
	if err != nil {
		return "", false, err
	}
	status, _ := f[2].(string)
	if status == string(alert.Accepted) || status == string(alert.Cancelled) {
		return "", false, nil
	}
	acceptor, _ = f[0].(string)
	_, cancelling = f[1].(string)
	return acceptor, cancelling && acceptor == "", nil
}

// claimResentScript marks a claim re-sent (its give-back is refused from
// then on) and restarts its wait; a hash Redis lost is not made anew.
var claimResentScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'resent', '1') end
redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[2])
return 1`)

// ClaimResent says the settler is sending a claim's command again: from
// now on the claim is not given back (the request that took it may still
// be failing to send its own, and this one may be stored), and its wait
// starts again at at.
func (a *Alerts) ClaimResent(ctx context.Context, alertID string, at time.Time) error {
	return claimResentScript.Run(ctx, a.rdb, a.keys(alertID), at.UnixMilli(), alertID).Err()
}

// ForgetClaim takes an alert off the claims ledger (decided, or nothing
// to settle).
func (a *Alerts) ForgetClaim(ctx context.Context, alertID string) error {
	return a.rdb.ZRem(ctx, a.prefix+"alerts:claims", alertID).Err()
}

// Complex is the alert's complex (domain.ErrNotInFastPath if Redis holds
// nothing of it).
func (a *Alerts) Complex(ctx context.Context, alertID string) (string, error) {
	c, err := a.rdb.HGet(ctx, a.key(alertID), "complexId").Result()
	if errors.Is(err, goredis.Nil) {
		return "", domain.ErrNotInFastPath
	}
	return c, err
}

// Alert reads an alert's view (domain.ErrNotInFastPath if Redis holds nothing of it).
func (a *Alerts) Alert(ctx context.Context, alertID string) (projections.AlertView, error) {
	f, err := a.rdb.HGetAll(ctx, a.key(alertID)).Result()
	if err != nil {
		return projections.AlertView{}, err
	}
	if f["house"] == "" || f["raisedAt"] == "" {
		return projections.AlertView{}, domain.ErrNotInFastPath
	}
	v := projections.AlertView{AlertID: alertID, ComplexID: f["complexId"], House: f["house"], Text: f["text"],
		Status: f["status"], RaisedAt: f["raisedAt"], AcceptedBy: f["acceptedBy"], AcceptedAt: f["acceptedAt"], CancelledAt: f["cancelledAt"]}
	if s, ok := f["lat"]; ok {
		lat, _ := strconv.ParseFloat(s, 64)
		v.Lat = &lat
	}
	if s, ok := f["lng"]; ok {
		lng, _ := strconv.ParseFloat(s, 64)
		v.Lng = &lng
	}
	if v.Status != string(alert.Accepted) {
		v.AcceptedBy, v.AcceptedAt = "", ""
	}
	return v, nil
}
