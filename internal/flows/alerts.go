package flows

import (
	"flag"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/auth"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/projections"
)

// The alert flow's topics: a command topic per command type, one event topic.
const (
	AlertAcceptCommands = "alerts.accept.commands"
	AlertCancelCommands = "alerts.cancel.commands"
	AlertEvents         = "alerts.events"
)

// Alerts is emergency alerts pushed to a whole complex (seed 002): a raise
// is stored before the 202, the first acceptor wins (a Redis claim answers
// at once, the alert's stream decides), and every instance pushes every
// notice to its own residents over STOMP/WebSocket, who resume after the
// last position they saw.
type Alerts struct {
	JWTSecret string        // SURGE_RESIDENT_JWT_SECRET: resident tokens (empty: open)
	Heartbeat time.Duration // SURGE_STOMP_HEARTBEAT: the push's STOMP heart-beat
	Buffer    int           // SURGE_PUSH_BUFFER: notices that may wait for one connection
	// SURGE_ALERT_CLAIM_GRACE: how long a claim (accept, cancel) may wait
	// for the stream's decision before its command is sent again;
	// SURGE_ALERT_CLAIM_INTERVAL: how often that is looked at.
	ClaimGrace, ClaimInterval time.Duration
	// SURGE_STOMP_CONNECT_TIMEOUT: how long a WebSocket may stay without
	// its STOMP CONNECT.
	ConnectTimeout time.Duration
}

func (*Alerts) Name() string { return "alerts" }

func (*Alerts) Topics() []kafka.Topic {
	events := []kafka.Message{}
	for _, e := range alert.EventTypes() {
		events = append(events, e)
	}
	return []kafka.Topic{
		{Name: AlertAcceptCommands, Kind: kafka.Commands, Partitions: 12, Retention: 7 * 24 * time.Hour, Messages: []kafka.Message{alert.AcceptAlert{}}},
		{Name: AlertCancelCommands, Kind: kafka.Commands, Partitions: 12, Retention: 7 * 24 * time.Hour, Messages: []kafka.Message{alert.CancelAlert{}}},
		{Name: AlertEvents, Kind: kafka.Events, Partitions: 12, Retention: -1, Messages: events},
	}
}

func (m *Alerts) Configure(r *config.Reader) {
	m.JWTSecret = r.Raw("SURGE_RESIDENT_JWT_SECRET")
	if m.JWTSecret != "" && len(m.JWTSecret) < 32 {
		r.Failf("SURGE_RESIDENT_JWT_SECRET must be at least 32 bytes (HS256)")
	}
	m.Heartbeat = r.Duration("SURGE_STOMP_HEARTBEAT", 10*time.Second, 0, 10*time.Minute)
	m.Buffer = r.Int("SURGE_PUSH_BUFFER", 256, 2*push.MaxBatch, 1_000_000) // room for two coalesced batches
	m.ConnectTimeout = r.Duration("SURGE_STOMP_CONNECT_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	m.ClaimGrace = r.Duration("SURGE_ALERT_CLAIM_GRACE", 10*time.Second, 10*time.Millisecond, time.Hour)
	m.ClaimInterval = r.Duration("SURGE_ALERT_CLAIM_INTERVAL", 2*time.Second, 10*time.Millisecond, time.Hour)
}

// residents is the token verifier, nil when the flow is open.
func (m *Alerts) residents() (api.ResidentVerifier, error) {
	if m.JWTSecret == "" {
		return nil, nil
	}
	return auth.NewResidents(m.JWTSecret)
}

func (m *Alerts) Build(p *flow.Platform) (*flow.Parts, error) {
	repo := postgres.NewAlertRepository(p.Store)
	redisAlerts := redis.NewAlerts(p.Redis, p.Config.RedisPrefix)
	projection := projections.AlertProjection{Store: redisAlerts}
	accept := handlers.AcceptAlertHandler{Alerts: repo}
	cancel := handlers.CancelAlertHandler{Alerts: repo}
	notify := handlers.NotifyResidents{Notifier: hubNotifier{p.Hub}}
	report := &projections.AlertReport{}

	parts := &flow.Parts{
		Commands: []cqrs.CommandHandler{
			cqrs.NewCommandHandler(accept.HandlerName(), accept.Handle),
			cqrs.NewCommandHandler(cancel.HandlerName(), cancel.Handle),
		},
		Groups: []flow.Group{
			{Name: projection.Name(), Topic: AlertEvents, Role: flow.RoleProjections, ReadModel: true,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(projection.OnAlertRaised),
					cqrs.NewGroupEventHandler(projection.OnAlertAccepted),
					cqrs.NewGroupEventHandler(projection.OnAlertCancelled),
				}},
			{Name: notify.Name(), Topic: AlertEvents, Role: flow.RolePush, Live: true,
				Handlers: []cqrs.GroupEventHandler{
					cqrs.NewGroupEventHandler(notify.OnAlertRaised),
					cqrs.NewGroupEventHandler(notify.OnAlertAccepted),
					cqrs.NewGroupEventHandler(notify.OnAlertCancelled),
					cqrs.NewGroupEventHandler(notify.OnActionRefused),
				}},
		},
		Reports: []flow.Report{flow.NewReport("alerts", report, func(fs *flag.FlagSet) {
			fs.Func("since", "count alerts raised at or after this time (RFC3339)", timeFlag(&report.Since))
			fs.Func("until", "count alerts raised before this time (RFC3339)", timeFlag(&report.Until))
			fs.Func("format", "table, json or csv", func(v string) error {
				if v != "table" && v != "json" && v != "csv" {
					return fmt.Errorf("want table, json or csv")
				}
				report.Format = v
				return nil
			})
		},
			cqrs.NewGroupEventHandler(report.OnAlertRaised),
			cqrs.NewGroupEventHandler(report.OnAlertAccepted),
			cqrs.NewGroupEventHandler(report.OnAlertCancelled),
		)},
	}
	residents, err := m.residents()
	if err != nil {
		return nil, err
	}
	if (p.Roles.API || p.Roles.Push) && residents == nil {
		p.Logger.Warn("SURGE_RESIDENT_JWT_SECRET is empty: the alert flow is open; anyone may listen to any complex and act as any house")
	}
	if p.Roles.API {
		resent := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Name: "alert_claims_resent_total",
			Help: "AcceptAlert and CancelAlert commands re-sent for claims nothing decided after SURGE_ALERT_CLAIM_GRACE.",
		})
		if err := register(p.Registry, resent); err != nil {
			return nil, err
		}
		settler := handlers.SettleAlertClaims{Ledger: redisAlerts, Alerts: repo, Commands: p.Commands, Exclusive: p.Leases,
			Grace: m.ClaimGrace, Interval: m.ClaimInterval, Resent: resent.Inc, Logger: p.Logger}
		parts.Jobs = append(parts.Jobs, flow.Job{Name: "alert claim settler", Role: flow.RoleAPI, Run: settler.Run})
		parts.Routes = api.Alerts{
			Raise:        handlers.RaiseAlertHandler{Alerts: repo, FastPath: redisAlerts, Logger: p.Logger},
			Accept:       handlers.RequestAcceptanceHandler{Claims: redisAlerts, Alerts: repo, Commands: p.Commands},
			Cancel:       handlers.RequestCancellationHandler{Claims: redisAlerts, Alerts: repo, Commands: p.Commands},
			Queries:      handlers.AlertQueries{ReadModel: redisAlerts, Alerts: repo, Feeds: repo},
			Residents:    residents,
			MaxBodyBytes: p.Config.MaxBodyBytes,
		}.Mount
	}
	if p.Roles.Push {
		parts.PushRoutes = api.AlertPush{Hub: p.Hub, Feed: repo, Residents: residents, Heartbeat: m.Heartbeat, Buffer: m.Buffer,
			ConnectTimeout: m.ConnectTimeout, Logger: p.Logger}.Mount
	}
	return parts, nil
}

// hubNotifier publishes a complex's notices to this process's sessions.
type hubNotifier struct{ hub *push.Hub }

func (n hubNotifier) Notify(complexID string, position int64, noticeType string, payload []byte) {
	n.hub.Publish(push.Message{Key: api.LineKey(complexID), Type: noticeType, Position: position, Payload: payload})
}

func timeFlag(dst *time.Time) func(string) error {
	return func(v string) error {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("want an RFC3339 time like 2026-12-01T00:00:00Z")
		}
		*dst = t
		return nil
	}
}
