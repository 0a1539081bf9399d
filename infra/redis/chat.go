package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/projections"
)

// Chat is the chat flow's Redis state. Per room (keys share the {id} tag):
//
//	<prefix>room:{id}            hash  name, createdAt, hot, hotSince, rate, heatPos (read model)
//	<prefix>room:{id}:timeline   zset  message id by position: the last TimelineSize messages
//	<prefix>room:{id}:msgs       hash  message id -> JSON (id, user, text, position, at)
//	<prefix>room:{id}:r:<msg>    hash  emoji -> count, per message in the timeline
//	<prefix>room:{id}:f:<second> string fetches in that second (expire after a minute)
//	<prefix>room:{id}:cool       string since when (ms) the detector saw it below half the threshold
//
// and <prefix>rooms:active (zset: room -> last fetch, ms) and
// <prefix>rooms:hot (set) for the detector and the hot list.
type Chat struct {
	rdb     goredis.UniversalClient
	prefix  string
	limiter *redis_rate.Limiter
}

// TimelineSize is how many of a room's last messages Redis keeps; older
// ones are read from the event store.
const TimelineSize = 1000

// NewChat uses keys under prefix.
func NewChat(rdb goredis.UniversalClient, prefix string) *Chat {
	return &Chat{rdb: rdb, prefix: prefix, limiter: redis_rate.NewLimiter(rdb)}
}

func (c *Chat) room(id string) string { return c.prefix + "room:{" + id + "}" }

func (c *Chat) keys(id string) []string {
	base := c.room(id)
	return []string{base, base + ":timeline", base + ":msgs"}
}

func (c *Chat) bucket(id string, second int64) string {
	return c.room(id) + ":f:" + strconv.FormatInt(second, 10)
}

// fetchScript counts a fetch and reads a page: {exists, hot, oldest,
// count, complete, then per message: id, json, n, emoji1, count1, ...};
// complete says the data marker is there (Redis holds every read model).
var fetchScript = goredis.NewScript(`
local complete = redis.call('EXISTS', KEYS[5])
local room = redis.call('HMGET', KEYS[1], 'name', 'hot')
if not room[1] then return {0, 0, 0, 0, complete} end
-- Count only fetches of rooms that exist: made-up room ids leave nothing.
local n = redis.call('INCR', KEYS[4])
if n == 1 then redis.call('EXPIRE', KEYS[4], 60) end
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[4])
local hot = 0
if room[2] == '1' then hot = 1 end
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local first = 0
if oldest[2] then first = tonumber(oldest[2]) end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {1, hot, first, #ids, complete}
for _, id in ipairs(ids) do
  out[#out+1] = id
  out[#out+1] = redis.call('HGET', KEYS[3], id) or ''
  local r = redis.call('HGETALL', KEYS[1] .. ':r:' .. id)
  out[#out+1] = #r / 2
  for _, v in ipairs(r) do out[#out+1] = v end
end
return out`)

// Fetch counts one fetch of a room (for the detector) and reads up to limit
// messages after position, in one round trip.
func (c *Chat) Fetch(ctx context.Context, roomID string, after int64, limit int) (projections.RoomPage, error) {
	now := time.Now()
	// One server assumed (as for the leases): rooms:active is not in the
	// room's slot.
	k := append(c.keys(roomID), c.bucket(roomID, now.Unix()), c.prefix+"data-marker", c.prefix+"rooms:active")
	vals, err := fetchScript.Run(ctx, c.rdb, k, after, limit, now.UnixMilli(), roomID).Slice()
	if err != nil {
		return projections.RoomPage{}, err
	}
	return parsePage(vals)
}

func parsePage(vals []any) (projections.RoomPage, error) {
	num := func(i int) int64 { n, _ := vals[i].(int64); return n }
	p := projections.RoomPage{Known: num(0) == 1, Hot: num(1) == 1, Oldest: num(2), Complete: num(4) == 1}
	count := int(num(3))
	i := 5
	for range count {
		if i+2 >= len(vals) {
			return p, errors.New("short page from Redis")
		}
		body, _ := vals[i+1].(string)
		nr := int(num(i + 2))
		i += 3
		var m chat.MessageView
		if body != "" {
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				return p, fmt.Errorf("message in Redis: %w", err)
			}
		}
		m.Reactions = make(map[string]int, nr)
		for range nr {
			emoji, _ := vals[i].(string)
			n, _ := strconv.Atoi(fmt.Sprint(vals[i+1]))
			m.Reactions[emoji] = n
			i += 2
		}
		if body != "" {
			p.Messages = append(p.Messages, m)
		}
	}
	return p, nil
}

// CountFetches adds n fetches of a room, answered without Redis (refused in
// the process: handlers.HotRoomShortcut), to its count of the second at.
func (c *Chat) CountFetches(ctx context.Context, roomID string, n int64, at time.Time) error {
	bucket := c.bucket(roomID, at.Unix())
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.IncrBy(ctx, bucket, n)
		p.Expire(ctx, bucket, time.Minute)
		p.ZAdd(ctx, c.prefix+"rooms:active", goredis.Z{Score: float64(at.UnixMilli()), Member: roomID})
		return nil
	})
	return err
}

// Throttle says whether a client may fetch a hot room now (a GCRA limiter
// shared by every instance), and if not, when it may again.
func (c *Chat) Throttle(ctx context.Context, roomID, client string, perSecond float64, burst int) (allowed bool, retryAfter time.Duration, err error) {
	// GCRA lets one fetch through every Period/Rate: per 1,000 s keeps a
	// fractional rate (1.5/s) exact to a thousandth.
	per1000s, _ := chat.FetchRatePeriod(perSecond)
	limit := redis_rate.Limit{Rate: per1000s, Burst: burst, Period: 1000 * time.Second}
	res, err := c.limiter.Allow(ctx, c.room(roomID)+":limit:"+client, limit)
	if err != nil {
		return false, 0, err
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// --- the read model (projections.ChatStore) ---

var roomCreatedScript = goredis.NewScript(`
redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[2])
redis.call('HSETNX', KEYS[1], 'hot', '0')
return 1`)

// messagePostedScript adds a message to the timeline (once) and trims it to
// the last ARGV[4] messages, with their reactions.
var messagePostedScript = goredis.NewScript(`
if redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[2]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[3], id)
    redis.call('DEL', KEYS[1] .. ':r:' .. id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return 1`)

// reactionScript keeps the highest count seen of a message's emoji (counts
// only grow), if the message is in the timeline.
var reactionScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local key = KEYS[1] .. ':r:' .. ARGV[1]
local cur = tonumber(redis.call('HGET', key, ARGV[2]) or '0')
if tonumber(ARGV[3]) > cur then redis.call('HSET', key, ARGV[2], ARGV[3]) end
return 1`)

// heatScript applies a change of heat if it is newer (by feed position)
// than the last one applied: replays in any order end in the last state.
var heatScript = goredis.NewScript(`
local pos = tonumber(redis.call('HGET', KEYS[1], 'heatPos') or '0')
if tonumber(ARGV[1]) <= pos then return 0 end
redis.call('HSET', KEYS[1], 'heatPos', ARGV[1], 'hot', ARGV[2], 'hotSince', ARGV[3], 'rate', ARGV[4])
if ARGV[2] == '1' then redis.call('SADD', KEYS[2], ARGV[5]) else redis.call('SREM', KEYS[2], ARGV[5]) end
return 1`)

// SaveRoom implements projections.ChatStore.
func (c *Chat) SaveRoom(ctx context.Context, e chat.RoomCreated) error {
	return roomCreatedScript.Run(ctx, c.rdb, []string{c.room(e.RoomID)}, e.Name, projections.FormatTime(e.CreatedAt)).Err()
}

// SaveMessage implements projections.ChatStore.
func (c *Chat) SaveMessage(ctx context.Context, m chat.MessageView, roomID string) error {
	m.Reactions = nil
	body, err := json.Marshal(struct {
		MessageID string `json:"messageId"`
		UserID    string `json:"userId"`
		Text      string `json:"text"`
		Position  int64  `json:"position"`
		At        string `json:"at"`
	}{m.MessageID, m.UserID, m.Text, m.Position, m.At.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	return messagePostedScript.Run(ctx, c.rdb, c.keys(roomID), m.Position, m.MessageID, body, TimelineSize).Err()
}

// SaveReaction implements projections.ChatStore.
func (c *Chat) SaveReaction(ctx context.Context, roomID, messageID, emoji string, count int) error {
	return reactionScript.Run(ctx, c.rdb, c.keys(roomID), messageID, emoji, count).Err()
}

// SaveHeat implements projections.ChatStore.
func (c *Chat) SaveHeat(ctx context.Context, roomID string, position int64, hot bool, since time.Time, rate float64) error {
	flag, sinceText := "0", ""
	if hot {
		flag, sinceText = "1", projections.FormatTime(since)
	}
	return heatScript.Run(ctx, c.rdb, []string{c.room(roomID), c.prefix + "rooms:hot"}, position, flag, sinceText,
		strconv.FormatFloat(rate, 'f', 1, 64), roomID).Err()
}

// RoomKnown says whether Redis holds the room.
func (c *Chat) RoomKnown(ctx context.Context, roomID string) (bool, error) {
	n, err := c.rdb.HExists(ctx, c.room(roomID), "name").Result()
	return n, err
}

// MessageKnown says whether the message is in the room's timeline.
func (c *Chat) MessageKnown(ctx context.Context, roomID, messageID string) (bool, error) {
	_, err := c.rdb.ZScore(ctx, c.keys(roomID)[1], messageID).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// RoomView is a room as GET /v1/rooms/{id} shows it.
func (c *Chat) RoomView(ctx context.Context, roomID string, window time.Duration) (projections.RoomView, error) {
	f, err := c.rdb.HGetAll(ctx, c.room(roomID)).Result()
	if err != nil {
		return projections.RoomView{}, err
	}
	if f["name"] == "" {
		return projections.RoomView{}, domain.ErrNotInFastPath
	}
	v := projections.RoomView{ID: roomID, Name: f["name"], Hot: f["hot"] == "1", HotSince: f["hotSince"]}
	if !v.Hot {
		v.HotSince = ""
	}
	rates, err := c.Rates(ctx, []string{roomID}, window, time.Now())
	if err != nil {
		return v, err
	}
	v.FetchesPerSecond = rates[roomID].Window
	return v, nil
}

// HotRooms lists the rooms that run hot.
func (c *Chat) HotRooms(ctx context.Context) ([]string, error) {
	return c.rdb.SMembers(ctx, c.prefix+"rooms:hot").Result()
}

// --- the detector's view ---

// Rates reads the fetch rates of rooms at now, one pipelined round trip:
// the fetches of the window that ends now, over its length. The buckets
// are whole seconds, so the window is the current second so far, the
// complete seconds before it, and the part of the oldest second still
// inside the window (its count weighted by that part): a steady rate reads
// as itself whenever it is read, and a storm counts from its first fetch.
func (c *Chat) Rates(ctx context.Context, roomIDs []string, window time.Duration, now time.Time) (map[string]projections.FetchRate, error) {
	seconds := max(1, int64(window/time.Second))
	sec := now.Unix()
	inSecond := float64(now.Sub(now.Truncate(time.Second))) / float64(time.Second)
	pipe := c.rdb.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(roomIDs))
	for i, id := range roomIDs {
		keys := make([]string, 0, seconds+2)
		for s := sec - seconds; s <= sec; s++ { // the oldest (partly in the window) to the current
			keys = append(keys, c.bucket(id, s))
		}
		keys = append(keys, c.bucket(id, sec-1)) // the last complete second
		cmds[i] = pipe.MGet(ctx, keys...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	out := make(map[string]projections.FetchRate, len(roomIDs))
	for i, id := range roomIDs {
		vals := cmds[i].Val()
		var total float64
		for j, v := range vals[:len(vals)-1] {
			n, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
			if j == 0 {
				n *= 1 - inSecond // the oldest second: only its part still in the window
			}
			total += n
		}
		last, _ := strconv.ParseFloat(fmt.Sprint(vals[len(vals)-1]), 64)
		out[id] = projections.FetchRate{Window: total / float64(seconds), LastSecond: last}
	}
	return out, nil
}

// Candidates are the rooms fetched within the last since, and the hot ones.
func (c *Chat) Candidates(ctx context.Context, since time.Duration, now time.Time) ([]string, error) {
	pipe := c.rdb.Pipeline()
	active := pipe.ZRangeByScore(ctx, c.prefix+"rooms:active", &goredis.ZRangeBy{Min: strconv.FormatInt(now.Add(-since).UnixMilli(), 10), Max: "+inf"})
	hot := pipe.SMembers(ctx, c.prefix+"rooms:hot")
	pipe.ZRemRangeByScore(ctx, c.prefix+"rooms:active", "-inf", strconv.FormatInt(now.Add(-since).UnixMilli(), 10))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range append(active.Val(), hot.Val()...) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// Heat reads the heat state of rooms.
func (c *Chat) Heat(ctx context.Context, roomIDs []string) (map[string]projections.HeatState, error) {
	pipe := c.rdb.Pipeline()
	hot := make([]*goredis.StringCmd, len(roomIDs))
	cool := make([]*goredis.StringCmd, len(roomIDs))
	for i, id := range roomIDs {
		hot[i] = pipe.HGet(ctx, c.room(id), "hot")
		cool[i] = pipe.Get(ctx, c.room(id)+":cool")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	out := make(map[string]projections.HeatState, len(roomIDs))
	for i, id := range roomIDs {
		s := projections.HeatState{Hot: hot[i].Val() == "1"}
		if ms, err := strconv.ParseInt(cool[i].Val(), 10, 64); err == nil {
			s.CoolSince = time.UnixMilli(ms)
		}
		out[id] = s
	}
	return out, nil
}

// SetCoolSince records (or, with zero, clears) since when a hot room has
// been below half the threshold; the next detector picks it up.
func (c *Chat) SetCoolSince(ctx context.Context, roomID string, since time.Time) error {
	if since.IsZero() {
		return c.rdb.Del(ctx, c.room(roomID)+":cool").Err()
	}
	// It outlives the longest SURGE_HOT_COOLDOWN (24h): a marker gone
	// before the cooldown ended would start the cooldown over.
	return c.rdb.Set(ctx, c.room(roomID)+":cool", since.UnixMilli(), 25*time.Hour).Err()
}
