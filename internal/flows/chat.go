package flows

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/projections"
)

// The chat flow's topics: a command topic per command type, one event topic.
const (
	ChatPostCommands  = "chat.post.commands"
	ChatReactCommands = "chat.react.commands"
	ChatHeatCommands  = "chat.heat.commands"
	ChatEvents        = "chat.events"
)

// Chat is hot chat (seed 003): rooms whose messages and reactions go
// through the spine and stream to every instance's SSE clients; every fetch
// is counted in Redis, one detector across the instances marks a room hot
// (and cool again, with hysteresis), and a hot room's fetches are
// throttled per client.
type Chat struct {
	Threshold float64       // SURGE_HOT_THRESHOLD: fetches/s over the window that make a room hot
	Window    time.Duration // SURGE_HOT_WINDOW
	Cooldown  time.Duration // SURGE_HOT_COOLDOWN: below half the threshold this long cools it
	FetchRate float64       // SURGE_HOT_FETCH_RATE: a client's fetches/s of a hot room (0: no throttling)
	Burst     int           // SURGE_HOT_FETCH_BURST
	Buffer    int           // SURGE_PUSH_BUFFER: events that may wait for one stream
	// SURGE_CHAT_ROOM_CONCURRENCY: fetches of one room running at once per
	// instance (0: unbounded); the rest wait their turn, so a storm on one
	// room leaves the others their latency.
	RoomConcurrency int
	// SURGE_CHAT_RESEND_GRACE: how long a message or reaction answered 202
	// may wait for its event before its command is sent again;
	// SURGE_CHAT_RESEND_INTERVAL: how often that is looked at.
	ResendGrace, ResendInterval time.Duration
	// SURGE_CHAT_PAGE_TTL: how long a page read from Redis answers the
	// same fetch again in this process (0: every fetch reads Redis).
	PageTTL time.Duration
}

func (*Chat) Name() string { return "chat" }

func (*Chat) Topics() []kafka.Topic {
	var events []kafka.Message
	for _, e := range chat.EventTypes() {
		events = append(events, e)
	}
	week := 7 * 24 * time.Hour
	return []kafka.Topic{
		{Name: ChatPostCommands, Kind: kafka.Commands, Partitions: 12, Retention: week, Messages: []kafka.Message{chat.PostMessage{}}},
		{Name: ChatReactCommands, Kind: kafka.Commands, Partitions: 12, Retention: week, Messages: []kafka.Message{chat.AddReaction{}}},
		{Name: ChatHeatCommands, Kind: kafka.Commands, Partitions: 12, Retention: week, Messages: []kafka.Message{chat.ReportRoomHeat{}}},
		{Name: ChatEvents, Kind: kafka.Events, Partitions: 12, Retention: -1, Messages: events},
	}
}

func (m *Chat) Configure(r *config.Reader) {
	m.Threshold = r.Float("SURGE_HOT_THRESHOLD", 200, 1, 1e9)
	// At most a minute: the per-second fetch counts live a minute in Redis.
	m.Window = r.Duration("SURGE_HOT_WINDOW", 3*time.Second, time.Second, time.Minute)
	m.Cooldown = r.Duration("SURGE_HOT_COOLDOWN", 10*time.Second, time.Second, 24*time.Hour)
	m.FetchRate = r.Float("SURGE_HOT_FETCH_RATE", 1, 0, 1e6)
	if m.FetchRate > 0 && m.FetchRate < 0.001 {
		r.Failf("SURGE_HOT_FETCH_RATE=%g: the limiter keeps rates to a thousandth of a fetch a second; use 0 (no throttling) or at least 0.001", m.FetchRate)
	}
	m.Burst = r.Int("SURGE_HOT_FETCH_BURST", 2, 1, 1_000_000)
	m.Buffer = r.Int("SURGE_PUSH_BUFFER", 256, 2*push.MaxBatch, 1_000_000) // room for two coalesced batches
	m.ResendGrace = r.Duration("SURGE_CHAT_RESEND_GRACE", time.Minute, 10*time.Millisecond, 24*time.Hour)
	m.ResendInterval = r.Duration("SURGE_CHAT_RESEND_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour)
	m.RoomConcurrency = r.Int("SURGE_CHAT_ROOM_CONCURRENCY", 8, 0, 10_000)
	m.PageTTL = r.Duration("SURGE_CHAT_PAGE_TTL", 50*time.Millisecond, 0, time.Second)
}

func (m *Chat) Build(p *flow.Platform) (*flow.Parts, error) {
	repo := postgres.NewChatRepository(p.Store)
	redisChat := redis.NewChat(p.Redis, p.Config.RedisPrefix)
	pending := redis.NewChatPending(p.Redis, p.Config.RedisPrefix)
	projection := projections.RoomProjection{Store: redisChat, Settled: pending}
	known := handlers.NewKnownRooms(100_000) // rooms are never deleted: once seen, known
	post := handlers.PostMessageHandler{Rooms: repo, Known: known}
	react := handlers.AddReactionHandler{Rooms: repo}
	heat := handlers.ReportRoomHeatHandler{Rooms: repo}
	stream := handlers.PushRoomEvents{Notifier: roomNotifier{p.Hub}}
	rooms := handlers.RoomChecker{FastPath: redisChat, Rooms: repo, Known: known}

	parts := &flow.Parts{
		Commands: []cqrs.CommandHandler{
			cqrs.NewCommandHandler(post.HandlerName(), post.Handle),
			cqrs.NewCommandHandler(react.HandlerName(), react.Handle),
			cqrs.NewCommandHandler(heat.HandlerName(), heat.Handle),
		},
		Groups: []flow.Group{
			{Name: projection.Name(), Topic: ChatEvents, Role: flow.RoleProjections, ReadModel: true,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(projection.OnRoomCreated),
					cqrs.NewGroupEventHandler(projection.OnMessagePosted),
					cqrs.NewGroupEventHandler(projection.OnReactionAdded),
					cqrs.NewGroupEventHandler(projection.OnRoomBecameHot),
					cqrs.NewGroupEventHandler(projection.OnRoomCooledDown),
				}},
			{Name: stream.Name(), Topic: ChatEvents, Role: flow.RolePush, Live: true,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(stream.OnMessagePosted),
					cqrs.NewGroupEventHandler(stream.OnReactionAdded),
					cqrs.NewGroupEventHandler(stream.OnRoomBecameHot),
					cqrs.NewGroupEventHandler(stream.OnRoomCooledDown),
				}},
		},
	}
	if p.Roles.API {
		resent := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Name: "chat_commands_resent_total",
			Help: "PostMessage and AddReaction commands re-sent because their event had not come after SURGE_CHAT_RESEND_GRACE.",
		})
		if err := register(p.Registry, resent); err != nil {
			return nil, err
		}
		settler := handlers.SettleChatCommands{Pending: pending, Rooms: repo, Commands: p.Commands, Exclusive: p.Leases,
			Grace: m.ResendGrace, Interval: m.ResendInterval, Resent: resent.Inc, Logger: p.Logger}
		parts.Jobs = append(parts.Jobs, flow.Job{Name: "chat command settler", Role: flow.RoleAPI, Run: settler.Run})
		// Fetches answered without Redis (a 429 of the shortcut, a recent
		// page) are counted in Redis by the tally, every 100 ms.
		tally := handlers.NewFetchTally(redisChat, p.Logger)
		parts.Jobs = append(parts.Jobs, flow.Job{Name: "chat fetch tally", Role: flow.RoleAPI, Run: tally.Run})
		shortcut := handlers.NewHotRoomShortcut(tally, m.FetchRate, m.Burst)
		if shortcut != nil {
			parts.Jobs = append(parts.Jobs, flow.Job{Name: "hot-room shortcut", Role: flow.RoleAPI, Run: shortcut.Run})
		}
		parts.Routes = api.Rooms{
			Create: handlers.CreateRoomHandler{Rooms: repo, FastPath: redisChat, Logger: p.Logger},
			Submit: handlers.SubmitChatHandler{FastPath: redisChat, Rooms: repo, Known: known, Commands: p.Commands, Pending: pending, Logger: p.Logger},
			Fetch: handlers.FetchMessagesHandler{Timeline: redisChat, History: repo, Rooms: repo, Rate: m.FetchRate, Burst: m.Burst,
				Bulkhead: handlers.NewRoomBulkhead(m.RoomConcurrency), Shortcut: shortcut, Pages: handlers.NewRecentPages(m.PageTTL, tally)},
			Queries:      handlers.ChatQueries{ReadModel: redisChat, Rooms: repo, Window: m.Window},
			MaxBodyBytes: p.Config.MaxBodyBytes,
		}.Mount
		// The detector runs with the API (where fetches are counted), one
		// instance at a time.
		takeovers := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Name: "chat_detector_takeovers_total",
			Help: "Times this instance became the hot-room detector.",
		})
		if err := register(p.Registry, takeovers); err != nil {
			return nil, err
		}
		detector := handlers.DetectHotRooms{Gauge: redisChat, Commands: p.Commands, Exclusive: p.Leases,
			Threshold: m.Threshold, Window: m.Window, Cooldown: m.Cooldown, Logger: p.Logger, Led: takeovers.Inc}
		parts.Jobs = append(parts.Jobs, flow.Job{Name: "hot-room detector", Role: flow.RoleAPI, Run: detector.Run})
	}
	if p.Roles.Push {
		parts.PushRoutes = api.RoomStream{Hub: p.Hub, Feed: repo, Rooms: rooms, Buffer: m.Buffer, Ping: 15 * time.Second}.Mount
	}
	return parts, nil
}

// roomNotifier publishes a room's events to this process's streams.
type roomNotifier struct{ hub *push.Hub }

func (n roomNotifier) NotifyRoom(roomID string, position int64, event string, data []byte) {
	n.hub.Publish(push.Message{Key: api.RoomKey(roomID), Type: event, Position: position, Payload: data})
}
