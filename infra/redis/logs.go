package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RouteLogs sends go-redis's own log lines through logger (WARN), at most
// one line per message format every 10 s, with the number suppressed in
// between: a Redis that is down would otherwise make the client print a
// line of its own format for every pooled connection it fails to dial.
func RouteLogs(logger *slog.Logger) {
	goredis.SetLogger(&clientLog{logger: logger, every: 10 * time.Second, last: map[string]*logWindow{}})
}

type logWindow struct {
	at         time.Time
	suppressed int
}

type clientLog struct {
	logger *slog.Logger
	every  time.Duration
	mu     sync.Mutex
	last   map[string]*logWindow
}

func (l *clientLog) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	w := l.last[format]
	if w == nil {
		if len(l.last) > 256 { // formats are constants; this only bounds the map
			clear(l.last)
		}
		w = &logWindow{}
		l.last[format] = w
	}
	now := time.Now()
	if !w.at.IsZero() && now.Sub(w.at) < l.every {
		w.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := w.suppressed
	w.at, w.suppressed = now, 0
	l.mu.Unlock()
	l.logger.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...), "component", "go-redis", "suppressed_since_last", suppressed)
}
