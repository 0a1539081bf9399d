package benchkit

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/internal/app"
)

// RunApp starts Surge with roles on cfg's backends, wired by internal/app as
// `surge serve` wires it, and runs it until the benchmark's clean-up, which
// shuts it down as SIGTERM would.
func RunApp(tb testing.TB, cfg config.Config, roles app.Roles, logger *slog.Logger) *app.App {
	tb.Helper()
	a, stop := StartApp(tb, cfg, roles, logger)
	tb.Cleanup(func() { stop(0) })
	return a
}

// StartApp is RunApp that leaves stopping to the caller: stop shuts Surge
// down as SIGTERM would and waits for it, at most wait (0: as long as it
// takes); false if it had not stopped by then.
func StartApp(tb testing.TB, cfg config.Config, roles app.Roles, logger *slog.Logger) (a *app.App, stop func(wait time.Duration) bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, roles, logger)
	if err != nil {
		cancel()
		tb.Fatalf("start surge: %v", err)
	}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("surge stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatal("surge not ready after 60s")
	}
	stopped := make(chan struct{})
	go func() { <-done; close(stopped) }()
	return a, func(wait time.Duration) bool {
		cancel()
		if wait <= 0 {
			<-stopped
			return true
		}
		select {
		case <-stopped:
			return true
		case <-time.After(wait):
			return false
		}
	}
}
