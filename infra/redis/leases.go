package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Leases let one process at a time run a job (the resender, the projection
// catch-up, a gate repair) across every instance. A lease is a key set with
// NX and a TTL, renewed while the job runs; a holder that dies loses it when
// the TTL passes, and another instance takes over.
type Leases struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewLeases uses keys under prefix.
func NewLeases(rdb goredis.UniversalClient, prefix string) *Leases {
	return &Leases{rdb: rdb, prefix: prefix}
}

// ErrLeaseLost: the lease expired or its key disappeared (Redis lost its
// data) while the job ran; the job's context was cancelled.
var ErrLeaseLost = errors.New("lease lost")

var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

var releaseLeaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Run runs fn while holding the lease name, if no one else holds it, and
// reports whether it ran. The lease is renewed every ttl/3; if a renewal
// finds it gone, fn's context is cancelled and Run returns ErrLeaseLost.
func (l *Leases) Run(ctx context.Context, name string, ttl time.Duration, fn func(ctx context.Context) error) (bool, error) {
	key := l.prefix + "lease:" + name
	token := newToken()
	ok, err := l.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil || !ok {
		return false, err
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-jobCtx.Done():
				return
			case <-t.C:
			}
			n, err := renewScript.Run(jobCtx, l.rdb, []string{key}, token, ttl.Milliseconds()).Int64()
			if err == nil && n == 0 {
				close(lost)
				cancel()
				return
			}
		}
	}()
	err = fn(jobCtx)
	cancel()
	<-renewed
	select {
	case <-lost:
		return true, fmt.Errorf("%s: %w", name, ErrLeaseLost)
	default:
	}
	releaseLeaseScript.Run(context.WithoutCancel(ctx), l.rdb, []string{key}, token) //nolint:errcheck // it expires anyway
	return true, err
}

// Held says whether someone holds the lease name.
func (l *Leases) Held(ctx context.Context, name string) (bool, error) {
	n, err := l.rdb.Exists(ctx, l.prefix+"lease:"+name).Result()
	return n == 1, err
}
