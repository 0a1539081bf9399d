package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
)

// DataMarker is the key that tells whether Redis still holds what Surge
// wrote: it is set once every read model was built from the event store,
// and a Redis that was flushed, restarted without persistence or failed
// over to an empty replica has lost it. Read models are then rebuilt.
type DataMarker struct {
	rdb goredis.UniversalClient
	key string
}

// NewDataMarker uses a key under prefix.
func NewDataMarker(rdb goredis.UniversalClient, prefix string) *DataMarker {
	return &DataMarker{rdb: rdb, key: prefix + "data-marker"}
}

// Present says whether the marker is set.
func (m *DataMarker) Present(ctx context.Context) (bool, error) {
	_, err := m.rdb.Get(ctx, m.key).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// Set marks Redis as holding every read model, as of the rebuild that ended.
func (m *DataMarker) Set(ctx context.Context) error {
	return m.rdb.Set(ctx, m.key, newToken(), 0).Err()
}
