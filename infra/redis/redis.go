// Package redis holds the Redis adapters: the coupon admission gate, the
// read models that projections fill and the API reads, leases, and the
// marker that tells whether Redis lost its data.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Connect opens a client for url (redis://host:port/db) and pings it.
//
// Every call has a deadline (timeout, for reads and writes alike), so a
// Redis that drops packets costs a request timeout, not the kernel's TCP
// retries. Commands are never retried by the client: a script that timed
// out may have run, and running it again would take a second slot (the
// gate settles such admissions itself; see handlers.ReleaseAmbiguousAdmissions).
func Connect(ctx context.Context, url string, timeout time.Duration) (*goredis.Client, error) {
	client, err := Open(url, timeout)
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return client, nil
}

// Open is Connect without the ping: the client connects on first use (an
// operator command that may not need Redis at all).
func Open(url string, timeout time.Duration) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.PoolSize = 128
	opts.MinIdleConns = 8
	opts.DialTimeout = max(timeout, time.Second)
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = max(timeout, time.Second)
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	return goredis.NewClient(opts), nil
}
