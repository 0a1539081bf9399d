package benchkit

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
)

// QuietLogger logs records of level and above to stderr until quiet is set,
// then none: a benchmark sets it when it stops Surge, whose forwarders'
// queries in flight are cancelled then, which watermill-sql logs as errors
// that mean nothing here.
func QuietLogger(level slog.Level) (logger *slog.Logger, quiet *atomic.Bool) {
	quiet = new(atomic.Bool)
	return slog.New(quietHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}), quiet}), quiet
}

// quietHandler drops every record once quiet is set.
type quietHandler struct {
	slog.Handler
	quiet *atomic.Bool
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.quiet.Load() && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a), h.quiet}
}

func (h quietHandler) WithGroup(n string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(n), h.quiet}
}
