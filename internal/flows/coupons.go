// Package flows holds one module per flow of the platform: its topics, its
// settings, and how its handlers, projections, routes and jobs are wired
// from the shared platform (internal/flow). The list of modules is
// internal/app/flows.go.
package flows

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/projections"
)

// The coupon flow's topics.
const (
	CouponCommands = "coupons.commands"
	CouponEvents   = "coupons.events"
)

// Coupons is the first-come coupon flow (seed 001): a Redis gate admits
// applicants fast, IssueCoupon writes each coupon at the database's pace,
// and the database's count has the last word.
type Coupons struct {
	resendGrace    time.Duration
	resendInterval time.Duration
	drainTimeout   time.Duration
}

func (*Coupons) Name() string { return "coupons" }

func (*Coupons) Topics() []kafka.Topic {
	return []kafka.Topic{
		{Name: CouponCommands, Kind: kafka.Commands, Partitions: 12, Retention: 7 * 24 * time.Hour,
			Messages: []kafka.Message{coupon.IssueCoupon{}}},
		{Name: CouponEvents, Kind: kafka.Events, Partitions: 12, Retention: -1,
			Messages: []kafka.Message{coupon.CampaignOpened{}, coupon.CouponIssued{}, coupon.CouponRejected{}}},
	}
}

func (m *Coupons) Configure(r *config.Reader) {
	// How long an admission may wait for its outcome before IssueCoupon is
	// re-sent, and how often the API looks.
	m.resendGrace = r.Duration("SURGE_RESEND_GRACE", 2*time.Minute, 10*time.Millisecond, 24*time.Hour)
	m.resendInterval = r.Duration("SURGE_RESEND_INTERVAL", 30*time.Second, 10*time.Millisecond, time.Hour)
	// How long a gate repair waits for the commands queued in Kafka.
	m.drainTimeout = r.Duration("SURGE_GATE_DRAIN_TIMEOUT", 30*time.Second, 0, 10*time.Minute)
}

func (m *Coupons) Build(p *flow.Platform) (*flow.Parts, error) {
	repo := postgres.NewCouponRepository(p.Store)
	campaigns := redis.NewCampaigns(p.Redis, p.Config.RedisPrefix)
	projection := projections.CampaignProjection{Store: campaigns}
	issue := handlers.IssueCouponHandler{Campaigns: repo, Coupons: repo}

	parts := &flow.Parts{
		Commands: []cqrs.CommandHandler{cqrs.NewCommandHandler(issue.HandlerName(), issue.Handle)},
		Groups: []flow.Group{{
			Name: projection.Name(), Topic: CouponEvents, Role: flow.RoleProjections, ReadModel: true,
			Handlers: []cqrs.GroupEventHandler{
				cqrs.NewGroupEventHandler(projection.OnCampaignOpened),
				cqrs.NewGroupEventHandler(projection.OnCouponIssued),
				cqrs.NewGroupEventHandler(projection.OnCouponRejected),
			},
		}},
	}
	report := &projections.CampaignReport{}
	parts.Reports = []flow.Report{flow.NewReport("coupons", report, nil,
		cqrs.NewGroupEventHandler(report.OnCampaignOpened),
		cqrs.NewGroupEventHandler(report.OnCouponIssued),
		cqrs.NewGroupEventHandler(report.OnCouponRejected),
	)}
	if !p.Roles.API {
		return parts, nil
	}

	// The API takes gate slots, so it also repairs gates Redis lost,
	// settles admissions whose outcome it could not learn, and re-sends the
	// commands of slots a crashed API never sent.
	repairs := &handlers.RepairCampaignGate{
		Campaigns:    repo,
		Outcomes:     repo,
		Queue:        p.Queue(issue.HandlerName(), CouponCommands),
		Gate:         campaigns,
		Exclusive:    p.Leases,
		DrainTimeout: m.drainTimeout,
		Logger:       p.Logger,
	}
	ambiguous := &handlers.ReleaseAmbiguousAdmissions{Gate: campaigns, Interval: 200 * time.Millisecond, Max: 100_000, Logger: p.Logger}
	resent := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "surge", Name: "coupon_commands_resent_total",
		Help: "IssueCoupon commands re-sent for admissions that had no outcome after SURGE_RESEND_GRACE.",
	})
	passes := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "surge", Name: "coupon_resend_passes_total",
		Help: "Passes of the resender over the pending admissions made by this instance.",
	})
	unresolved := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "surge", Name: "coupon_admissions_unresolved",
		Help: "Admissions whose outcome Redis did not report (timeout), waiting to be released.",
	}, func() float64 { return float64(ambiguous.Pending()) })
	if err := register(p.Registry, resent, passes, unresolved); err != nil {
		return nil, err
	}
	resender := handlers.ResendPendingAdmissions{
		Campaigns:  repo,
		Admissions: campaigns,
		Commands:   p.Commands,
		Exclusive:  p.Leases,
		Grace:      m.resendGrace,
		Interval:   m.resendInterval,
		Resent:     func(n int) { resent.Add(float64(n)) },
		Passed:     passes.Inc,
		Logger:     p.Logger,
	}
	parts.Routes = api.Coupons{
		Open:         handlers.OpenCampaignHandler{Campaigns: repo, Gate: campaigns, Repairs: repairs},
		Apply:        handlers.ApplyForCouponHandler{Gate: campaigns, Commands: p.Commands, Repairs: repairs, Ambiguous: ambiguous},
		Campaigns:    handlers.CouponQueries{ReadModel: campaigns, Repairs: repairs, Index: repo},
		MaxBodyBytes: p.Config.MaxBodyBytes,
	}.Mount
	parts.Jobs = []flow.Job{
		{Name: "coupon resender", Role: flow.RoleAPI, Run: resender.Run},
		{Name: "ambiguous admissions", Role: flow.RoleAPI, Run: ambiguous.Run},
		{Name: "gate repairs", Role: flow.RoleAPI, Run: repairs.Run},
	}
	parts.Repairing = func() []string {
		var out []string
		for _, id := range repairs.Repairing() {
			out = append(out, "campaign gate "+id)
		}
		return out
	}
	return parts, nil
}

// register registers collectors on reg.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
