// Package api is the HTTP port: it decodes and validates requests, sets the
// correlation id, sends commands or reads read models, and maps errors to
// statuses in one place (errors.go). Routes are listed in routes.go.
package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Server holds the HTTP handlers.
type Server struct {
	deps    Deps
	metrics *httpMetrics
}

// NewHandler builds the gin engine with every route and middleware.
func NewHandler(deps Deps) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	metrics, err := newHTTPMetrics(deps.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{deps: deps, metrics: metrics}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r.Use(func(c *gin.Context) { c.Set(loggerKey, logger) }, s.recoverJSON, s.correlation, s.metrics.middleware, apiSecurityHeaders)
	r.NoRoute(func(c *gin.Context) {
		respondError(c, newError(http.StatusNotFound, "route_not_found", "no such route"))
	})
	r.NoMethod(func(c *gin.Context) {
		respondError(c, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})
	s.routes(r)
	return r, nil
}

func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			respondError(c, newError(http.StatusInternalServerError, "internal", "internal error"))
		}
	}()
	c.Next()
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "surge", Name: "http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "surge", Name: "http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *httpMetrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(methodLabel(c.Request.Method), route, strconv.Itoa(c.Writer.Status())).Inc()
	m.duration.WithLabelValues(methodLabel(c.Request.Method), route).Observe(time.Since(start).Seconds())
}
