package handlers_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/projections"
)

// fakeGauge is the fetch counts and heat state as Redis would hold them;
// heat follows the reports as the projection would.
type fakeGauge struct {
	mu   sync.Mutex
	rate map[string]projections.FetchRate
	heat map[string]projections.HeatState
}

func (g *fakeGauge) Candidates(context.Context, time.Duration, time.Time) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id := range g.rate {
		ids = append(ids, id)
	}
	return ids, nil
}

func (g *fakeGauge) Rates(context.Context, []string, time.Duration, time.Time) (map[string]projections.FetchRate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]projections.FetchRate{}
	for k, v := range g.rate {
		out[k] = v
	}
	return out, nil
}

func (g *fakeGauge) Heat(context.Context, []string) (map[string]projections.HeatState, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]projections.HeatState{}
	for k, v := range g.heat {
		out[k] = v
	}
	return out, nil
}

func (g *fakeGauge) SetCoolSince(_ context.Context, id string, since time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.heat[id]
	h.CoolSince = since
	g.heat[id] = h
	return nil
}

// applying reports is what the room's stream and projection do.
type heatBus struct {
	g       *fakeGauge
	reports []chat.ReportRoomHeat
}

func (b *heatBus) Send(_ context.Context, cmd any) error {
	r := cmd.(chat.ReportRoomHeat)
	b.reports = append(b.reports, r)
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	h := b.g.heat[r.RoomID]
	h.Hot = r.Hot
	b.g.heat[r.RoomID] = h
	return nil
}

func TestDetectorHeatsAtTheThresholdAndCoolsAfterTheCooldownWithoutFlapping(t *testing.T) {
	g := &fakeGauge{rate: map[string]projections.FetchRate{"r": {}}, heat: map[string]projections.HeatState{}}
	bus := &heatBus{g: g}
	d := handlers.DetectHotRooms{Gauge: g, Commands: bus, Threshold: 200, Window: 3 * time.Second, Cooldown: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 50_000_000, time.UTC) // 50 ms past a second, as the detector ticks
	tick := func(sec int, window, last float64) {
		g.mu.Lock()
		g.rate["r"] = projections.FetchRate{Window: window, LastSecond: last}
		g.mu.Unlock()
		if err := d.Once(context.Background(), t0.Add(time.Duration(sec)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	tick(0, 150, 150) // busy, below the threshold
	tick(1, 199, 199)
	if len(bus.reports) != 0 {
		t.Fatalf("reported below the threshold: %+v", bus.reports)
	}
	tick(2, 200, 250) // reaches it
	if len(bus.reports) != 1 || !bus.reports[0].Hot || bus.reports[0].Rate != 200 {
		t.Fatalf("reports %+v, want one hot at 200/s", bus.reports)
	}
	// Around the threshold, and between half and all of it: still hot, no
	// flapping, no second report.
	for s, r := range []float64{180, 120, 300, 101, 100} {
		tick(3+s, r, r)
	}
	if len(bus.reports) != 1 {
		t.Fatalf("flapped: %+v", bus.reports)
	}
	// Below half from second 8 on; busy again at 12 restarts the cooldown.
	for s := 8; s < 12; s++ {
		tick(s, 50, 50)
	}
	tick(12, 150, 150) // (each tick's last complete second is the one before it)
	for s := 13; s <= 21; s++ {
		tick(s, 10, 10)
	}
	if len(bus.reports) != 1 {
		t.Fatalf("cooled before 10 s below half (seconds 12..21): %+v", bus.reports)
	}
	tick(22, 0, 0) // seconds 12..21 were all below half
	if len(bus.reports) != 2 || bus.reports[1].Hot {
		t.Fatalf("reports %+v, want hot then cool", bus.reports)
	}
	tick(23, 0, 0)
	if len(bus.reports) != 2 {
		t.Fatalf("reported cool twice: %+v", bus.reports)
	}
}

// A detector that takes over carries on where the last one was: the
// cooldown start is kept in Redis, and a restart says nothing twice.
func TestDetectorTakeoverContinuesTheCooldown(t *testing.T) {
	g := &fakeGauge{rate: map[string]projections.FetchRate{"r": {}}, heat: map[string]projections.HeatState{"r": {Hot: true}}}
	bus := &heatBus{g: g}
	first := handlers.DetectHotRooms{Gauge: g, Commands: bus, Threshold: 200, Window: 3 * time.Second, Cooldown: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	second := first
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 50_000_000, time.UTC)
	at := func(d handlers.DetectHotRooms, sec int) {
		if err := d.Once(context.Background(), t0.Add(time.Duration(sec)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for s := 0; s < 6; s++ {
		at(first, s) // quiet; the cooldown began at second -1
	}
	for s := 6; s <= 8; s++ {
		at(second, s)
	}
	if len(bus.reports) != 0 {
		t.Fatalf("cooled early: %+v", bus.reports)
	}
	at(second, 9) // quiet since second -1: 10 s
	if len(bus.reports) != 1 || bus.reports[0].Hot {
		t.Fatalf("reports %+v, want the takeover to cool the room 10 s after the quiet began", bus.reports)
	}
}
