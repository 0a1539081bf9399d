package handlers

import (
	"context"
	"log/slog"
	"time"
)

// FeedHeads reads the last position of feeds from the event store.
type FeedHeads interface {
	Heads(ctx context.Context, feeds []string) (map[string]int64, error)
}

// LiveFeeds is this process's fan-out: which feeds it has subscribers for
// and the highest position it delivered to them.
type LiveFeeds interface {
	Watched() map[string]int64
	MarkHead(feed string, position int64)
}

// WatchLiveFeeds closes the last gap of live delivery: the push of a
// notice comes from Kafka, and a session fills a gap when the next notice
// shows one; a notice lost on the way with nothing after it would wait. So
// every Interval each push instance compares the feeds it has subscribers
// for with their heads in the event store, and tells the subscribers of a
// feed that is ahead to read the rest.
type WatchLiveFeeds struct {
	Heads    FeedHeads
	Live     LiveFeeds
	Interval time.Duration
	Logger   *slog.Logger
	Marked   func(n int) // metrics: feeds found ahead; may be nil
}

// Run watches until ctx ends.
func (w WatchLiveFeeds) Run(ctx context.Context) {
	every(ctx, w.Interval, func() {
		if _, err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("watching the live feeds' heads failed", "err", err)
		}
	})
}

// Once compares once and returns how many feeds were ahead.
func (w WatchLiveFeeds) Once(ctx context.Context) (int, error) {
	watched := w.Live.Watched()
	if len(watched) == 0 {
		return 0, nil
	}
	feeds := make([]string, 0, len(watched))
	for f := range watched {
		feeds = append(feeds, f)
	}
	heads, err := w.Heads.Heads(ctx, feeds)
	if err != nil {
		return 0, err
	}
	ahead := 0
	for f, head := range heads {
		if head > watched[f] {
			w.Live.MarkHead(f, head)
			ahead++
		}
	}
	if ahead > 0 && w.Marked != nil {
		w.Marked(ahead)
	}
	return ahead, nil
}
