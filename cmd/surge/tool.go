package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/internal/app"
)

// toolCommand runs a flow's operator command by name ("warm-pool gc") in
// a process with no role.
func toolCommand(ctx context.Context, cfg config.Config, logger *slog.Logger, name string, args []string) error {
	surge, err := app.New(ctx, cfg, app.Roles{}, logger)
	if err != nil {
		return err
	}
	defer surge.Close()
	for _, t := range surge.Tools() {
		if t.Name == name {
			return t.Run(ctx, args, os.Stdout)
		}
	}
	return fmt.Errorf("unknown command %q (see surge help)", name)
}
