package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/projections"
)

// Prices is the price-comparison flow's Redis state. Per product (keys
// share the {productId} hash tag, so one product lives on one cluster slot
// and every script below touches one slot):
//
//	<prefix>price:{id}            string  the cached comparison: the exact JSON body of a hit; PX = expiresAt - now
//	<prefix>price:{id}:inflight   string  comparison id of the request in flight (single flight across instances); PX = hold
//	<prefix>price:{id}:failed     string  failedAt of the last failed comparison; PX = remaining back-off
//
// and one channel, <prefix>price:ready, on which every recorded outcome
// publishes its product id, so API instances can wake their waiters.
type Prices struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewPrices uses keys under prefix.
func NewPrices(rdb goredis.UniversalClient, prefix string) *Prices {
	return &Prices{rdb: rdb, prefix: prefix}
}

// SummaryKey is the key of a product's cached comparison.
func (p *Prices) SummaryKey(productID string) string { return p.prefix + "price:{" + productID + "}" }

func (p *Prices) keys(productID string) []string {
	base := p.SummaryKey(productID)
	return []string{base, base + ":inflight", base + ":failed"}
}

// ReadyChannel is where outcomes are announced.
func (p *Prices) ReadyChannel() string { return p.prefix + "price:ready" }

// comparedAtOf is shared Lua: the comparedAt of the cached summary, or nil;
// and before(a, b), a byte-wise a < b (Lua's own < on strings goes through
// strcoll, which follows the server's locale).
const comparedAtOf = `
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function comparedAtOf(key)
  local cur = redis.call('GET', key)
  if not cur then return nil end
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and type(doc.comparedAt) == 'string' then return doc.comparedAt end
  return nil
end
`

// releaseIfHeld is shared Lua: drop the in-flight marker if this comparison holds it.
const releaseIfHeld = `
local function releaseIfHeld(key, comparisonId)
  if redis.call('GET', key) == comparisonId then redis.call('DEL', key) end
end
`

// claim runs on a miss: answer the summary if it appeared meanwhile, else
// report a back-off, else take the in-flight marker (the caller sends the
// command), else report how long the comparison in flight may still take.
// Being one script, it cannot interleave with the projection's writes.
// With an empty comparison id (ARGV[1]) it only looks: Peek.
var claimScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
local backoff = redis.call('PTTL', KEYS[3])
if backoff > 0 then return {2, backoff} end
if ARGV[1] ~= '' and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {3, 0} end
return {4, redis.call('PTTL', KEYS[2])}`)

var releaseInflightScript = goredis.NewScript(releaseIfHeld + `
releaseIfHeld(KEYS[1], ARGV[1])
return 1`)

// saveComparison caches a summary unless a newer one is cached (times are
// fixed-width UTC strings, so string order is time order), drops an older
// failure marker, releases the in-flight marker and announces the product.
// ARGV: summary, comparedAt, ttl ms, comparison id, channel, product id.
var saveComparisonScript = goredis.NewScript(comparedAtOf + releaseIfHeld + `
local written = 0
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  local cur = comparedAtOf(KEYS[1])
  if not cur or before(cur, ARGV[2]) then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
    written = 1
  end
  local failedAt = redis.call('GET', KEYS[3])
  if failedAt and not before(ARGV[2], failedAt) then redis.call('DEL', KEYS[3]) end
end
releaseIfHeld(KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return written`)

// saveFailure sets the back-off marker unless a newer comparison is cached
// or a newer failure marked, releases the in-flight marker and announces.
// ARGV: failedAt, back-off ms, comparison id, channel, product id.
var saveFailureScript = goredis.NewScript(comparedAtOf + releaseIfHeld + `
local marked = 0
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  local cur = comparedAtOf(KEYS[1])
  local prev = redis.call('GET', KEYS[3])
  if (not cur or before(cur, ARGV[1])) and (not prev or before(prev, ARGV[1])) then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl)
    marked = 1
  end
end
releaseIfHeld(KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return marked`)

// Summary returns the cached comparison's JSON, or nil on a miss. It is the
// whole cache-hit path: one GET.
func (p *Prices) Summary(ctx context.Context, productID string) ([]byte, error) {
	b, err := p.rdb.Get(ctx, p.SummaryKey(productID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	return b, err
}

// Claim is the miss path: see claimScript. hold is how long the marker
// keeps other instances from sending another command if no outcome is
// recorded (it must exceed the vendor timeout plus the pipeline's latency).
func (p *Prices) Claim(ctx context.Context, productID, comparisonID string, hold time.Duration) (projections.PriceClaim, error) {
	if hold < time.Millisecond {
		return projections.PriceClaim{}, fmt.Errorf("in-flight hold %s is too short", hold)
	}
	res, err := claimScript.Run(ctx, p.rdb, p.keys(productID), comparisonID, hold.Milliseconds()).Slice()
	if err != nil {
		return projections.PriceClaim{}, err
	}
	return claimOf(res)
}

// Peek reports the same as Claim without ever claiming.
func (p *Prices) Peek(ctx context.Context, productID string) (projections.PriceClaim, error) {
	res, err := claimScript.Run(ctx, p.rdb, p.keys(productID), "", 0).Slice()
	if err != nil {
		return projections.PriceClaim{}, err
	}
	return claimOf(res)
}

func claimOf(res []any) (projections.PriceClaim, error) {
	if len(res) != 2 {
		return projections.PriceClaim{}, fmt.Errorf("unexpected claim reply %v", res)
	}
	kind, _ := res[0].(int64)
	switch kind {
	case 1:
		s, _ := res[1].(string)
		return projections.PriceClaim{Summary: []byte(s)}, nil
	case 2:
		ms, _ := res[1].(int64)
		return projections.PriceClaim{BackingOff: true, RetryAfter: time.Duration(ms) * time.Millisecond}, nil
	case 3:
		return projections.PriceClaim{Claimed: true}, nil
	case 4:
		ms, _ := res[1].(int64)
		return projections.PriceClaim{RetryAfter: time.Duration(max(ms, 0)) * time.Millisecond}, nil
	}
	return projections.PriceClaim{}, fmt.Errorf("unexpected claim reply %v", res)
}

// Release gives up the in-flight marker of a command that was never sent.
func (p *Prices) Release(ctx context.Context, productID, comparisonID string) error {
	return releaseInflightScript.Run(ctx, p.rdb, p.keys(productID)[1:2], comparisonID).Err()
}

// SaveComparison implements projections.PriceStore.
func (p *Prices) SaveComparison(ctx context.Context, productID, comparisonID string, summary []byte, comparedAt string, ttl time.Duration) error {
	return saveComparisonScript.Run(ctx, p.rdb, p.keys(productID),
		summary, comparedAt, ttl.Milliseconds(), comparisonID, p.ReadyChannel(), productID).Err()
}

// SaveFailure implements projections.PriceStore.
func (p *Prices) SaveFailure(ctx context.Context, productID, comparisonID string, failedAt string, backoff time.Duration) error {
	return saveFailureScript.Run(ctx, p.rdb, p.keys(productID),
		failedAt, backoff.Milliseconds(), comparisonID, p.ReadyChannel(), productID).Err()
}
