package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
)

// poisonCommand operates the poison queue directly on its database (and on
// Kafka for requeue), without a running API.
func poisonCommand(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("poison: want list, show ID, requeue ID or discard ID")
	}
	db, err := postgres.Open(ctx, cfg.PoisonDatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.InitPoisonTables(ctx, db); err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")

	sub, rest := args[0], args[1:]
	if sub == "list" {
		fs := flag.NewFlagSet("poison list", flag.ContinueOnError)
		limit := fs.Int("limit", 100, "entries to show")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		entries, err := postgres.NewPoisonQueue(db, nil).List(ctx, *limit)
		if err != nil {
			return err
		}
		return enc.Encode(entries)
	}
	if len(rest) != 1 {
		return fmt.Errorf("poison %s: want exactly one entry id", sub)
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		return fmt.Errorf("poison %s: entry id %q is not a number", sub, rest[0])
	}
	switch sub {
	case "show":
		e, err := postgres.NewPoisonQueue(db, nil).Get(ctx, id)
		if err != nil {
			return err
		}
		return enc.Encode(e)
	case "discard":
		if err := postgres.NewPoisonQueue(db, nil).Discard(ctx, id); err != nil {
			return err
		}
		fmt.Printf("discarded %d\n", id)
		return nil
	case "requeue":
		if len(cfg.KafkaBrokers) == 0 {
			return fmt.Errorf("poison requeue needs SURGE_KAFKA_BROKERS (the embedded broker lives inside 'serve'; use the admin API then)")
		}
		pub, err := kafka.NewPublisher(cfg.KafkaBrokers, messaging.NewLogger(logger))
		if err != nil {
			return err
		}
		defer pub.Close()
		e, err := postgres.NewPoisonQueue(db, pub).Requeue(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("requeued %d (message %s) to %s\n", e.ID, e.MessageID, e.Topic)
		return nil
	}
	return fmt.Errorf("poison: unknown subcommand %q", sub)
}
