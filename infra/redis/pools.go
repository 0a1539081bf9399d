package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/projections"
)

// Pools is the warm pools' Redis state. Per template (keys share the {id}
// tag):
//
//	<prefix>template:{id}         hash  name, assets (count), target, closed (read model)
//	<prefix>template:{id}:pool    zset  ready copy ids by preparation time (ms)
//	<prefix>template:{id}:refill  string a refill is in flight (set NX, with a TTL)
//
// and per design <prefix>design:{id} (the design's JSON). The pool is the
// fast path: a pop hands a copy to one caller, and the copy's stream in the
// event store decides whether the design may take it.
type Pools struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewPools uses keys under prefix.
func NewPools(rdb goredis.UniversalClient, prefix string) *Pools {
	return &Pools{rdb: rdb, prefix: prefix}
}

func (p *Pools) template(id string) string { return p.prefix + "template:{" + id + "}" }
func (p *Pools) pool(id string) string     { return p.template(id) + ":pool" }

// Pop takes the oldest ready copy out of a template's pool ("" if empty).
func (p *Pools) Pop(ctx context.Context, templateID string) (string, error) {
	res, err := p.rdb.ZPopMin(ctx, p.pool(templateID), 1).Result()
	if err != nil || len(res) == 0 {
		return "", err
	}
	id, _ := res[0].Member.(string)
	return id, nil
}

// RequestRefill takes the template's refill marker for ttl; it reports
// whether the caller got it (and so sends the one RefillPool).
func (p *Pools) RequestRefill(ctx context.Context, templateID string, ttl time.Duration) (bool, error) {
	return p.rdb.SetNX(ctx, p.template(templateID)+":refill", "1", ttl).Result()
}

// RefillDone drops the marker: the next design may ask again.
func (p *Pools) RefillDone(ctx context.Context, templateID string) error {
	return p.rdb.Del(ctx, p.template(templateID)+":refill").Err()
}

// Restore puts ready copies the store holds back into the pool (ZADD NX):
// the sweeper's repair after Redis lost them, or a pop whose caller died.
func (p *Pools) Restore(ctx context.Context, copies []pool.ReadyCopy) error {
	if len(copies) == 0 {
		return nil
	}
	pipe := p.rdb.Pipeline()
	for _, c := range copies {
		pipe.ZAddNX(ctx, p.pool(c.TemplateID), goredis.Z{Score: float64(c.PreparedAt.UnixMilli()), Member: c.CopyID})
	}
	_, err := pipe.Exec(ctx)
	return err
}

// InPool lists the copy ids in a template's pool.
func (p *Pools) InPool(ctx context.Context, templateID string) ([]string, error) {
	return p.rdb.ZRange(ctx, p.pool(templateID), 0, -1).Result()
}

// --- the read model (projections.PoolStore) ---

var templateOpenedScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
redis.call('HSETNX', KEYS[1], 'assets', ARGV[2])
redis.call('HSETNX', KEYS[1], 'target', ARGV[3])
return 1`)

// copyReadyScript adds a prepared copy to its template's pool unless the
// template was closed.
var copyReadyScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'closed') == '1' then return 0 end
redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[2])
return 1`)

// SaveTemplate implements projections.PoolStore.
func (p *Pools) SaveTemplate(ctx context.Context, e pool.TemplateOpened) error {
	return templateOpenedScript.Run(ctx, p.rdb, []string{p.template(e.TemplateID)}, e.Name, len(e.Assets), e.Target).Err()
}

// CloseTemplate implements projections.PoolStore.
func (p *Pools) CloseTemplate(ctx context.Context, templateID string) error {
	pipe := p.rdb.TxPipeline()
	pipe.HSet(ctx, p.template(templateID), "closed", "1")
	pipe.Del(ctx, p.pool(templateID))
	_, err := pipe.Exec(ctx)
	return err
}

// CopyReady implements projections.PoolStore.
func (p *Pools) CopyReady(ctx context.Context, e pool.WarmCopyPrepared) error {
	return copyReadyScript.Run(ctx, p.rdb, []string{p.template(e.TemplateID), p.pool(e.TemplateID)}, e.PreparedAt.UnixMilli(), e.CopyID).Err()
}

// CopyGone implements projections.PoolStore: taken or expired.
func (p *Pools) CopyGone(ctx context.Context, templateID, copyID string) error {
	return p.rdb.ZRem(ctx, p.pool(templateID), copyID).Err()
}

// SaveDesign implements projections.PoolStore.
func (p *Pools) SaveDesign(ctx context.Context, v projections.DesignView) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return p.rdb.SetNX(ctx, p.prefix+"design:{"+v.DesignID+"}", body, 0).Err()
}

// Design reads a design's JSON (domain.ErrNotInFastPath if Redis does not
// hold it).
func (p *Pools) Design(ctx context.Context, designID string) ([]byte, error) {
	b, err := p.rdb.Get(ctx, p.prefix+"design:{"+designID+"}").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, domain.ErrNotInFastPath
	}
	return b, err
}

// TemplateView reads a template's view (domain.ErrNotInFastPath if Redis
// does not hold it).
func (p *Pools) TemplateView(ctx context.Context, templateID string) (projections.TemplateView, error) {
	pipe := p.rdb.Pipeline()
	f := pipe.HGetAll(ctx, p.template(templateID))
	ready := pipe.ZCard(ctx, p.pool(templateID))
	oldest := pipe.ZRangeWithScores(ctx, p.pool(templateID), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return projections.TemplateView{}, err
	}
	fields := f.Val()
	if fields["name"] == "" {
		return projections.TemplateView{}, domain.ErrNotInFastPath
	}
	assets, _ := strconv.Atoi(fields["assets"])
	target, _ := strconv.Atoi(fields["target"])
	v := projections.TemplateView{ID: templateID, Name: fields["name"], Assets: assets, Closed: fields["closed"] == "1",
		Pool: projections.PoolView{Ready: int(ready.Val()), Target: target}}
	if o := oldest.Val(); len(o) == 1 {
		at := projections.FormatTime(time.UnixMilli(int64(o[0].Score)))
		v.Pool.OldestReadyAt = &at
	}
	return v, nil
}

// KeepRefill extends the refill marker while a refill makes progress.
func (p *Pools) KeepRefill(ctx context.Context, templateID string, ttl time.Duration) error {
	return p.rdb.PExpire(ctx, p.template(templateID)+":refill", ttl).Err()
}

// Repair makes a template's pool hold the ready copies the store lists:
// missing ones are added, and members that were in the pool before the
// store was read (before is InPool's answer, read first) but are not ready
// any more are removed. A copy prepared in between is left alone.
func (p *Pools) Repair(ctx context.Context, templateID string, before []string, ready []pool.ReadyCopy) (added, removed int, err error) {
	isReady := make(map[string]bool, len(ready))
	pipe := p.rdb.Pipeline()
	var adds []*goredis.IntCmd
	for _, c := range ready {
		isReady[c.CopyID] = true
		adds = append(adds, pipe.ZAddNX(ctx, p.pool(templateID), goredis.Z{Score: float64(c.PreparedAt.UnixMilli()), Member: c.CopyID}))
	}
	var stale []any
	for _, id := range before {
		if !isReady[id] {
			stale = append(stale, id)
		}
	}
	var rem *goredis.IntCmd
	if len(stale) > 0 {
		rem = pipe.ZRem(ctx, p.pool(templateID), stale...)
	}
	if len(adds) == 0 && rem == nil {
		return 0, 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, err
	}
	for _, a := range adds {
		added += int(a.Val())
	}
	if rem != nil {
		removed = int(rem.Val())
	}
	return added, removed, nil
}
