package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/internal/push"
)

// Relay is a process's one subscription to a Redis channel, published into
// a push.Hub: a waiting request costs no Redis traffic until its message
// comes. Messages missed while the subscription reconnects are not replayed,
// so subscribers must look once more when their wait ends.
type Relay struct {
	ps   *goredis.PubSub
	done chan struct{}
}

// NewRelay subscribes to channel and publishes every payload into hub as
// the message toMessage makes of it; ctx bounds only the subscription
// handshake.
func NewRelay(ctx context.Context, rdb goredis.UniversalClient, channel string, hub *push.Hub, toMessage func(payload string) push.Message) (*Relay, error) {
	ps := rdb.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", channel, err)
	}
	r := &Relay{ps: ps, done: make(chan struct{})}
	ch := ps.Channel(goredis.WithChannelSize(1024))
	go func() {
		defer close(r.done)
		for m := range ch {
			hub.Publish(toMessage(m.Payload))
		}
	}()
	return r, nil
}

// Close ends the subscription.
func (r *Relay) Close() error {
	err := r.ps.Close()
	<-r.done
	return err
}
