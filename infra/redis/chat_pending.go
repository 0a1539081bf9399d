package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ChatPending records the chat commands sent and not yet recorded in the
// event store (a 202 for a message means Kafka holds its command, nothing
// else): what handlers.SettleChatCommands sends again if Kafka lost one.
//
//	<prefix>chat:pending       zset  command key -> when it was sent (ms)
//	<prefix>chat:pending:cmds  hash  command key -> the command (JSON)
//
// One Redis server is assumed (as for the leases): the two keys and the
// rooms' keys are not in one slot.
type ChatPending struct {
	rdb        goredis.UniversalClient
	zset, hash string
}

// NewChatPending uses keys under prefix.
func NewChatPending(rdb goredis.UniversalClient, prefix string) *ChatPending {
	return &ChatPending{rdb: rdb, zset: prefix + "chat:pending", hash: prefix + "chat:pending:cmds"}
}

// Add records a command about to be sent.
func (p *ChatPending) Add(ctx context.Context, key string, command []byte, at time.Time) error {
	_, err := p.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(ctx, p.hash, key, command)
		pipe.ZAdd(ctx, p.zset, goredis.Z{Score: float64(at.UnixMilli()), Member: key})
		return nil
	})
	return err
}

// Done forgets a command: recorded (its event was projected), or not sent.
func (p *ChatPending) Done(ctx context.Context, key string) error {
	_, err := p.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.ZRem(ctx, p.zset, key)
		pipe.HDel(ctx, p.hash, key)
		return nil
	})
	return err
}

// Stale returns up to limit commands sent (or last re-sent) before before,
// by key; a key whose command is gone (forgotten meanwhile) is left out.
func (p *ChatPending) Stale(ctx context.Context, before time.Time, limit int) (map[string][]byte, error) {
	keys, err := p.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: p.zset, ByScore: true,
		Start: "-inf", Stop: "(" + strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	vals, err := p.rdb.HMGet(ctx, p.hash, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[keys[i]] = []byte(s)
		} else {
			p.rdb.ZRem(ctx, p.zset, keys[i]) //nolint:errcheck // a command without its body cannot be re-sent
		}
	}
	return out, nil
}

// Retried restarts a command's wait at at.
func (p *ChatPending) Retried(ctx context.Context, key string, at time.Time) error {
	return p.rdb.ZAddXX(ctx, p.zset, goredis.Z{Score: float64(at.UnixMilli()), Member: key}).Err()
}
