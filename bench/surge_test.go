package bench

import (
	"log/slog"
	"testing"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/app"
)

// surge is a Surge process the benchmarks drive, wired by internal/app
// exactly as `surge serve` wires it, with the roles a benchmark needs. Its
// EventStore appends as the command handlers do, and its Publisher is the
// Prometheus-decorated Kafka publisher every role sends through.
type surge struct {
	*app.App
	cfg    config.Config
	logger *slog.Logger
	URL    string // http://host:port of the API ("" without it)
}

type surgeRoles struct {
	API       bool
	Forwarder bool
	// HoldForwarders starts no forwarders; startForwarders starts them
	// later, in a second process-like App on the same backends.
	HoldForwarders bool
}

// startSurge runs the roles on cfg's backends until the benchmark ends.
func startSurge(b *testing.B, cfg config.Config, roles surgeRoles) *surge {
	b.Helper()
	logger, quiet := benchkit.QuietLogger(slog.LevelWarn)
	ownDatabase(cfg.DatabaseURL)
	s := &surge{cfg: cfg, logger: logger}
	// A process with no role does not connect to Kafka; the taps need the
	// topics whatever the roles.
	benchkit.Must(b, kafka.EnsureTopics(b.Context(), cfg.KafkaBrokers, app.Topics()), "topics")
	s.App = benchkit.RunApp(b, cfg, app.Roles{API: roles.API, Forwarder: roles.Forwarder && !roles.HoldForwarders}, logger)
	if addr := s.Addr(); addr != "" {
		s.URL = "http://" + addr
	}
	b.Cleanup(func() { quiet.Store(true) }) // runs first: clean-ups run last-in first-out
	return s
}

// startForwarders runs the outbox forwarders of s's backends (held by
// HoldForwarders) and returns once they are running.
func (s *surge) startForwarders(b *testing.B) {
	b.Helper()
	benchkit.RunApp(b, s.cfg, app.Roles{Forwarder: true}, s.logger)
}
