package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"sort"
	"strings"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/app"
)

// replayCommand reads the event history from the event store (never from
// the live consumers' offsets) and prints statistics: events per type and
// coupons issued per campaign.
func replayCommand(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	from := fs.Int64("from", 0, "start after this global position")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	stats, err := Replay(ctx, postgres.NewEventStore(db, nil, app.EventTypes()...), *from)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(stats)
}

// ReplayStats are what a replay computes.
type ReplayStats struct {
	Events             int            `json:"events"`
	LastPosition       int64          `json:"lastPosition"`
	ByType             map[string]int `json:"byType"`
	CouponsPerCampaign map[string]int `json:"couponsPerCampaign"`
	Streams            []string       `json:"streamCategories"`
}

// Replay reads the whole history after position `from` in pages.
func Replay(ctx context.Context, store *postgres.EventStore, from int64) (ReplayStats, error) {
	s := ReplayStats{ByType: map[string]int{}, CouponsPerCampaign: map[string]int{}}
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
			if r.Type == (coupon.CouponIssued{}).WireName() {
				e, err := store.Decode(r.Type, r.Payload)
				if err != nil {
					return s, err
				}
				s.CouponsPerCampaign[e.(coupon.CouponIssued).CampaignID]++
			}
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
