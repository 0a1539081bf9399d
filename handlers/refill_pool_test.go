package handlers

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
)

type brokenTemplateRepo struct{ PoolRepository }

func (brokenTemplateRepo) LoadTemplate(context.Context, string) (*pool.Template, error) {
	return pool.LoadTemplate([]domain.Event{pool.TemplateOpened{TemplateID: "spring", Name: "Spring",
		Assets: []string{"templates/spring/01.png"}, Target: 4, OpenedAt: time.Now()}}), nil
}
func (brokenTemplateRepo) ReadyCopies(context.Context, string) ([]pool.ReadyCopy, error) {
	return nil, nil
}

type goneAssets struct {
	AssetStore
	err error
}

func (a goneAssets) CopyAll(context.Context, []pool.CopyKey) error { return a.err }

type markerPool struct {
	WarmPool
	kept []time.Duration
	done int
}

func (p *markerPool) KeepRefill(_ context.Context, _ string, ttl time.Duration) error {
	p.kept = append(p.kept, ttl)
	return nil
}
func (p *markerPool) RefillDone(context.Context, string) error { p.done++; return nil }

// A template whose asset left the bucket: the refill goes to the poison
// queue at once (a permanent error) and keeps its marker for
// brokenTemplateBackoff, so the sweeper does not ask again when the usual
// marker would expire. An outage of the store is retried as before.
func TestARefillOfABrokenTemplateBacksOff(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		err       error
		permanent bool
		kept      []time.Duration
	}{
		"asset gone":   {err: domain.Invalid("asset_missing", "an asset of the template no longer exists"), permanent: true, kept: []time.Duration{brokenTemplateBackoff}},
		"store outage": {err: errors.Join(ErrAssetStoreUnavailable, errors.New("503")), permanent: false},
	} {
		t.Run(name, func(t *testing.T) {
			marker := &markerPool{}
			h := RefillPoolHandler{Templates: brokenTemplateRepo{}, Pool: marker, Assets: goneAssets{err: tc.err},
				CopyDeadline: time.Second, Logger: slog.New(slog.DiscardHandler)}
			err := h.Handle(ctx, &pool.RefillPool{TemplateID: "spring"})
			if err == nil || (domain.KindOf(err) == domain.KindInvalid) != tc.permanent {
				t.Fatalf("err %v (kind %v), want permanent %v", err, domain.KindOf(err), tc.permanent)
			}
			if len(marker.kept) != len(tc.kept) || (len(tc.kept) > 0 && marker.kept[0] != tc.kept[0]) || marker.done != 0 {
				t.Fatalf("marker kept for %v, dropped %d times; want kept for %v, never dropped", marker.kept, marker.done, tc.kept)
			}
		})
	}
}
