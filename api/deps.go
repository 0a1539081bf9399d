package api

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/projections"
)

// CommandBus sends a command to its Kafka topic; it returns once stored.
type CommandBus interface {
	Send(ctx context.Context, cmd any) error
}

// OpenCampaign opens a campaign synchronously (its outcome is the answer).
type OpenCampaign interface {
	Handle(ctx context.Context, cmd *coupon.OpenCampaign) error
}

// ApplyForCoupon admits an applicant and sends IssueCoupon; it returns the
// normalised user id.
type ApplyForCoupon interface {
	Handle(ctx context.Context, cmd handlers.ApplyForCoupon) (string, error)
}

// CampaignReader reads the campaign read models.
type CampaignReader interface {
	Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error)
	CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error)
}

// PoisonQueue is the operator's view of poisoned messages.
type PoisonQueue interface {
	List(ctx context.Context, limit int) ([]messaging.PoisonEntry, error)
	Get(ctx context.Context, id int64) (messaging.PoisonEntry, error)
	Requeue(ctx context.Context, id int64) (messaging.PoisonEntry, error)
	Discard(ctx context.Context, id int64) error
}

// Check is one readiness check (PostgreSQL, Redis, Kafka).
type Check func(ctx context.Context) error

// Deps are what the API needs; internal/app wires real adapters in.
type Deps struct {
	Commands       CommandBus
	OpenCampaign   OpenCampaign
	Apply          ApplyForCoupon
	Campaigns      CampaignReader
	Poison         PoisonQueue // nil: admin endpoints answer 503
	Prices         PriceDeps   // price comparison (api/prices.go); zero: its endpoint answers 503
	AdminToken     string
	MaxBodyBytes   int64
	ReadyChecks    map[string]Check
	Registry       *prometheus.Registry
	MetricsHandler http.Handler
}
