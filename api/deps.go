package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/internal/poison"
)

// PoisonQueue is the operator's view of poisoned messages.
type PoisonQueue interface {
	List(ctx context.Context, limit int) ([]poison.Entry, error)
	Get(ctx context.Context, id int64) (poison.Entry, error)
	Requeue(ctx context.Context, id int64) (poison.Entry, error)
	Discard(ctx context.Context, id int64) error
}

// Check is one readiness check (PostgreSQL, Redis, Kafka).
type Check func(ctx context.Context) error

// Deps are what the platform's own routes need; each flow brings its own
// port (Coupons, Prices, ...) as a Mount.
type Deps struct {
	Poison         PoisonQueue // nil: admin endpoints answer 503
	AdminToken     string
	ReadyChecks    map[string]Check
	Registry       *prometheus.Registry
	MetricsHandler http.Handler
	Logger         *slog.Logger
	// Flows mount their routes under /v1, in this order.
	Flows []func(g *gin.RouterGroup)
	// Push mounts the push endpoints (WebSocket, SSE) at the root.
	Push []func(r gin.IRoutes)
}
