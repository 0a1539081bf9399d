package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/app"
)

// replayCommand reads the event history from the event store (never from
// the live consumers' offsets, never touching a read model): with no
// report, statistics of the whole history; with one (`surge replay
// coupons`), that flow's analytics.
func replayCommand(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string) error {
	surge, err := app.New(ctx, cfg, app.Roles{}, logger)
	if err != nil {
		return err
	}
	defer surge.Close()
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return replayReport(ctx, surge, args[0], args[1:], os.Stdout)
	}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	from := fs.Int64("from", 0, "start after this global position")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stats, err := Replay(ctx, surge.EventStore(), *from)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(stats)
}

// replayReport runs one flow's report over the whole history.
func replayReport(ctx context.Context, surge *app.App, name string, args []string, out io.Writer) error {
	var names []string
	for _, r := range surge.Reports() {
		names = append(names, r.Name())
		if r.Name() != name {
			continue
		}
		r.Reset()
		fs := flag.NewFlagSet("replay "+name, flag.ContinueOnError)
		r.Flags(fs)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if _, err := surge.Replay(ctx, r); err != nil {
			return err
		}
		return r.Write(out)
	}
	return fmt.Errorf("replay: no report %q (reports: %s)", name, strings.Join(names, ", "))
}

// ReplayStats are what a replay of the whole history computes.
type ReplayStats struct {
	Events       int            `json:"events"`
	LastPosition int64          `json:"lastPosition"`
	ByType       map[string]int `json:"byType"`
	Streams      []string       `json:"streamCategories"`
}

// Replay reads the whole history after position `from` in pages.
func Replay(ctx context.Context, store *postgres.EventStore, from int64) (ReplayStats, error) {
	s := ReplayStats{ByType: map[string]int{}}
	categories := map[string]bool{}
	pos := from
	for {
		page, err := store.ReadAll(ctx, pos, 1000)
		if err != nil {
			return s, err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			s.Events++
			s.ByType[r.Type]++
			categories[strings.SplitN(r.StreamID, "/", 2)[0]] = true
			pos = r.Position
		}
	}
	s.LastPosition = pos
	for c := range categories {
		s.Streams = append(s.Streams, c)
	}
	sort.Strings(s.Streams)
	return s, nil
}
