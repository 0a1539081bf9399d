package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/testenv"
)

func TestLeaseRunsOneHolderAtATime(t *testing.T) {
	leases := redis.NewLeases(testenv.Redis(t), testenv.RedisPrefix(t))
	ctx := context.Background()
	var inside, most, ran atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := leases.Run(ctx, "job", time.Second, func(context.Context) error {
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(50 * time.Millisecond)
				inside.Add(-1)
				return nil
			})
			if err == nil && ok {
				ran.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if most.Load() != 1 || ran.Load() < 1 {
		t.Fatalf("at most %d holders at once (want 1), %d ran", most.Load(), ran.Load())
	}
	// Released at the end: the next run takes it at once.
	ok, err := leases.Run(ctx, "job", time.Second, func(context.Context) error { return errors.New("job failed") })
	if !ok || err == nil || err.Error() != "job failed" {
		t.Fatalf("after release: ran=%v err=%v", ok, err)
	}
}

// A lease whose key disappears (Redis flushed) cancels its job.
func TestLostLeaseCancelsTheJob(t *testing.T) {
	rdb := testenv.Redis(t)
	prefix := testenv.RedisPrefix(t)
	leases := redis.NewLeases(rdb, prefix)
	ok, err := leases.Run(context.Background(), "job", 300*time.Millisecond, func(ctx context.Context) error {
		if held, _ := leases.Held(ctx, "job"); !held {
			t.Error("the lease is not held while the job runs")
		}
		rdb.Del(ctx, prefix+"lease:job")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("the job was not cancelled")
		}
	})
	if !ok || !errors.Is(err, redis.ErrLeaseLost) {
		t.Fatalf("ran=%v err=%v, want ErrLeaseLost", ok, err)
	}
}

func TestDataMarker(t *testing.T) {
	rdb := testenv.Redis(t)
	prefix := testenv.RedisPrefix(t)
	m := redis.NewDataMarker(rdb, prefix)
	ctx := context.Background()
	if present, err := m.Present(ctx); err != nil || present {
		t.Fatalf("fresh: present=%v err=%v", present, err)
	}
	testenv.Must(t, m.Set(ctx), "set")
	if present, _ := m.Present(ctx); !present {
		t.Fatal("marker not present after Set")
	}
	rdb.Del(ctx, prefix+"data-marker")
	if present, _ := m.Present(ctx); present {
		t.Fatal("marker present after the key was lost")
	}
}
