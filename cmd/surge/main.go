// Command surge is the one Surge binary:
//
//	surge serve [--roles api,push,commands,forwarder,projections]
//	surge kafka --addr 127.0.0.1:9092
//	surge poison list|show ID|requeue ID|discard ID
//	surge replay
//	surge rebuild
//	surge token --complex A --house 101-1203
//	surge vendor-sim --addr 127.0.0.1:9300 --vendors a,b,c
//	surge s3 --addr 127.0.0.1:9000 [--dir DIR] [--latency 200ms]
//	surge warm-pool gc [--grace 1h]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/internal/app"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cfg, err := app.LoadConfig(config.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := newLogger(cfg)
	slog.SetDefault(logger)
	redis.RouteLogs(logger)
	kafka.RouteLogs(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, cfg, logger, args)
	case "kafka":
		err = runBroker(ctx, logger, args)
	case "poison":
		err = poisonCommand(ctx, cfg, logger, args)
	case "replay":
		err = replayCommand(ctx, cfg, logger, args)
	case "rebuild":
		err = rebuildCommand(ctx, cfg, logger)
	case "token":
		err = tokenCommand(cfg, args)
	case "vendor-sim":
		err = vendorSimCommand(ctx, logger, args)
	case "s3":
		err = s3Command(ctx, logger, args)
	case "warm-pool":
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		err = toolCommand(ctx, cfg, logger, "warm-pool "+args[0], args[1:])
	case "help", "-h", "--help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		logger.Error(os.Args[1]+" failed", "err", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  surge serve [--roles api,push,commands,forwarder,projections]   run the platform (default: all roles)
  surge kafka --addr 127.0.0.1:9092                          run a local Kafka-protocol broker (kfake)
  surge poison list [--limit N] | show ID | requeue ID | discard ID
  surge replay [--from POSITION]                              statistics over the event history
  surge replay REPORT [options]                               a flow's analytics over the whole history (coupons, ...)
  surge rebuild                                               refill the Redis read models from the event store
  surge token --complex A --house 101-1203 [--ttl 24h]         a resident token (HS256, signed with SURGE_RESIDENT_JWT_SECRET)
  surge vendor-sim [--addr 127.0.0.1:9300] [--vendors a,b,c] [--latency 300ms] [--jitter 50ms] [--failure-rate 0] [--no-offer-rate 0]
                                                              simulated price vendors (GET /stats, POST /reset)
  surge s3 [--addr 127.0.0.1:9000] [--dir DIR] [--latency 200ms] [--buckets surge-assets]
                                                              a local S3-compatible server (gofakes3)
  surge warm-pool gc [--grace 1h]                             delete copied objects no design or ready copy owns
configuration comes from SURGE_* environment variables (see README.md).
`)
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	rolesFlag := fs.String("roles", "all", "comma-separated roles to run: api, push, commands, forwarder, projections, all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	roles, err := parseRoles(*rolesFlag)
	if err != nil {
		return err
	}
	surge, err := app.New(ctx, cfg, roles, logger)
	if err != nil {
		return err
	}
	return surge.Run(ctx, nil)
}

func parseRoles(s string) (app.Roles, error) {
	var r app.Roles
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "api":
			r.API = true
		case "push":
			r.Push = true
		case "commands":
			r.Commands = true
		case "forwarder":
			r.Forwarder = true
		case "projections":
			r.Projections = true
		case "all":
			r = app.AllRoles
		default:
			return r, fmt.Errorf("unknown role %q (want api, push, commands, forwarder, projections or all)", name)
		}
	}
	return r, nil
}

func runBroker(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9092", "listen address (127.0.0.1 only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cluster, err := kafka.StartBroker(*addr, app.Topics())
	if err != nil {
		return err
	}
	defer cluster.Close()
	var names []string
	for _, t := range app.Topics() {
		names = append(names, t.Name)
	}
	logger.Info("kafka broker listening", "addr", cluster.ListenAddrs(), "topics", names)
	fmt.Println("READY", cluster.ListenAddrs()[0])
	<-ctx.Done()
	logger.Info("kafka broker stopping")
	return nil
}
