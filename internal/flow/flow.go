// Package flow is the shape of a flow module: what one flow of the platform
// (coupons, prices, alerts, ...) declares about itself, in one value, so
// that the process wiring (internal/app) and the operator commands
// (`surge rebuild`, `surge replay`) read the same table. Adding a flow is
// one new Module (internal/flows/<flow>.go) and one line in the list
// (internal/app/flows.go); docs/adding-a-flow.md walks through it.
package flow

import (
	"context"
	"database/sql"
	"flag"
	"io"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/push"
)

// Module is one flow. Configure runs first for every module (so every
// configuration error of every flow is reported at once); Build then makes
// the flow's parts from the shared platform.
type Module interface {
	// Name is the flow's name ("coupons"); it names its configuration
	// section and its replay report.
	Name() string
	// Topics are the flow's Kafka topics and the messages on each: the one
	// place a message's topic is declared (routes derive from WireName).
	Topics() []kafka.Topic
	// Configure reads the flow's SURGE_* settings; errors go to r.
	Configure(r *config.Reader)
	// Build wires the flow's handlers, projections, routes and jobs. It
	// connects nothing itself: every connection is the platform's.
	Build(p *Platform) (*Parts, error)
}

// Platform is what every flow shares: the process's connections and
// adapters, built once by internal/app.
type Platform struct {
	Config   config.Config
	Roles    Roles
	Logger   *slog.Logger
	Registry *prometheus.Registry

	DB     *sql.DB
	Store  *postgres.EventStore // appends through the outbox (read-only in offline tools)
	Redis  goredis.UniversalClient
	Leases *redis.Leases // one instance at a time runs a job

	// Commands sends a command to its Kafka topic (nil when the process
	// has no Kafka connection: an offline tool).
	Commands handlers.CommandSender
	// Queue measures a consumer group's backlog on a topic (nil offline).
	Queue func(group, topic string) *kafka.Queue
	// Hub fans payloads out to this process's own subscribers (a WebSocket,
	// an SSE stream, a held request).
	Hub *push.Hub
}

// Parts are what a built flow runs. Each part runs in the role it belongs
// to; a process runs the parts of the roles it was started with.
type Parts struct {
	// Commands are command handlers (role commands); a handler's name is
	// its consumer group.
	Commands []cqrs.CommandHandler
	// Groups are event handlers sharing a subscription: read models and
	// reactions.
	Groups []Group
	// Routes mounts the flow's HTTP routes (role api); they are listed in
	// api/routes.go.
	Routes func(g *gin.RouterGroup)
	// PushRoutes mounts the flow's push endpoints (role push): WebSocket
	// and SSE streams, at the root.
	PushRoutes func(r gin.IRoutes)
	// Jobs are background loops.
	Jobs []Job
	// Reports are the flow's analytics over the whole history
	// (`surge replay <report>`).
	Reports []Report
	// Tools are the flow's operator commands (`surge <name> ...`), run by
	// a process with no role.
	Tools []Tool
	// Repairing names what the flow is rebuilding from the event store now
	// (Redis lost it); /readyz shows it.
	Repairing func() []string
	// OnShutdown runs when the HTTP server starts shutting down: held
	// requests and streams are told to finish now.
	OnShutdown []func()
	// Close releases what Build opened (subscriptions), after everything
	// stopped.
	Close []func() error
}

// Group is a set of event handlers that share one subscription to Topic,
// and so see its events in order.
type Group struct {
	Name     string // the consumer group; never rename it (a new name replays the topic)
	Topic    string
	Role     Role // RoleProjections for read models and reactions, RolePush for fan-out to clients
	Handlers []cqrs.GroupEventHandler
	// ReadModel marks a projection into Redis: the platform also catches
	// it up from the event store (nothing Kafka lost is missed) and
	// rebuilds it when Redis lost its data or on `surge rebuild`.
	ReadModel bool
	// Live groups consume without a consumer group, from the end of the
	// topic, in every process of the role: every instance sees every
	// event (fan-out to its own clients), and a restart does not replay.
	Live bool
}

// Job is a background loop of a role; Run returns when ctx ends.
type Job struct {
	Name string
	Role Role
	Run  func(ctx context.Context)
}

// Tool is an operator command of a flow, such as `surge warm-pool gc`.
type Tool struct {
	Name string // the words after `surge`, e.g. "warm-pool gc"
	Run  func(ctx context.Context, args []string, out io.Writer) error
}

// Report is an analytics replay: its handlers see every stored event, in
// order, and never touch live consumers or read models.
type Report interface {
	Name() string           // `surge replay <name>`
	Flags(fs *flag.FlagSet) // its options
	Handlers() []cqrs.GroupEventHandler
	Reset()                  // forget the last replay's options and numbers
	Write(w io.Writer) error // the result, once the history was read
}

// Role is one part of `surge serve --roles`.
type Role int

const (
	RoleAPI         Role = iota + 1 // HTTP endpoints
	RolePush                        // WebSocket and SSE clients (the seed's consumer servers)
	RoleCommands                    // command handlers: Kafka -> event store + outbox
	RoleForwarder                   // outbox -> Kafka
	RoleProjections                 // Kafka events -> Redis read models, reactions
)

// Roles select what a `serve` process runs, so each can be scaled apart.
type Roles struct {
	API         bool
	Push        bool
	Commands    bool
	Forwarder   bool
	Projections bool
}

// AllRoles runs everything in one process.
var AllRoles = Roles{API: true, Push: true, Commands: true, Forwarder: true, Projections: true}

// Has says whether r includes role.
func (r Roles) Has(role Role) bool {
	switch role {
	case RoleAPI:
		return r.API
	case RolePush:
		return r.Push
	case RoleCommands:
		return r.Commands
	case RoleForwarder:
		return r.Forwarder
	case RoleProjections:
		return r.Projections
	}
	return false
}

// None says whether no role is selected (an offline tool).
func (r Roles) None() bool { return r == Roles{} }

func (r Role) String() string {
	switch r {
	case RoleAPI:
		return "api"
	case RolePush:
		return "push"
	case RoleCommands:
		return "commands"
	case RoleForwarder:
		return "forwarder"
	case RoleProjections:
		return "projections"
	}
	return "unknown"
}

// ReportModel is what a report computes (an in-memory projection).
type ReportModel interface {
	Reset()
	Write(w io.Writer) error
}

// NewReport makes a Report of its model and the handlers that feed it;
// flags may be nil.
func NewReport(name string, model ReportModel, flags func(*flag.FlagSet), handlers ...cqrs.GroupEventHandler) Report {
	return report{name: name, model: model, flags: flags, handlers: handlers}
}

type report struct {
	name     string
	model    ReportModel
	flags    func(*flag.FlagSet)
	handlers []cqrs.GroupEventHandler
}

func (r report) Name() string { return r.name }
func (r report) Flags(fs *flag.FlagSet) {
	if r.flags != nil {
		r.flags(fs)
	}
}
func (r report) Handlers() []cqrs.GroupEventHandler { return r.handlers }
func (r report) Reset()                             { r.model.Reset() }
func (r report) Write(w io.Writer) error            { return r.model.Write(w) }
