package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/testenv"
	"github.com/surge-platform/surge/projections"
)

type noFastPath struct{}

func (noFastPath) SaveRaised(context.Context, alert.AlertRaised) error { return nil }

// `surge replay alerts` over a known history with controlled times: per
// complex raised, accepted, cancelled, open and time to accept (p50, p95,
// max, nearest rank), per hour of the day raised; --since/--until bound it.
func TestReplayAlertsCountsAKnownHistoryExactly(t *testing.T) {
	cfg := testenv.Config(t)
	app := startApp(t, cfg, allRoles)
	ctx := context.Background()
	repo := postgres.NewAlertRepository(app.EventStore())
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	at := func(hms string) time.Time {
		d, err := time.ParseDuration(hms)
		testenv.Must(t, err, "duration")
		return day.Add(d)
	}
	raise := func(complexID, house, when string) string {
		h := handlers.RaiseAlertHandler{Alerts: repo, FastPath: noFastPath{}, Clock: func() time.Time { return at(when) }}
		e, err := h.Handle(ctx, handlers.RaiseAlert{ComplexID: complexID, House: house})
		testenv.Must(t, err, "raise")
		return e.AlertID
	}
	accept := func(id, complexID, house, when string) {
		h := handlers.AcceptAlertHandler{Alerts: repo, Clock: func() time.Time { return at(when) }}
		testenv.Must(t, h.Handle(ctx, &alert.AcceptAlert{AlertID: id, ComplexID: complexID, House: house}), "accept")
	}
	cancel := func(id, complexID, house, when string) {
		h := handlers.CancelAlertHandler{Alerts: repo, Clock: func() time.Time { return at(when) }}
		testenv.Must(t, h.Handle(ctx, &alert.CancelAlert{AlertID: id, ComplexID: complexID, House: house}), "cancel")
	}
	a1 := raise("A", "101", "1h")
	accept(a1, "A", "201", "1h0m30s") // 30 s
	a2 := raise("A", "102", "1h10m")
	accept(a2, "A", "202", "1h11m") // 60 s
	accept(a2, "A", "203", "1h12m") // refused: not a second acceptance
	a3 := raise("A", "103", "2h")
	accept(a3, "A", "204", "2h2m") // 120 s
	a4 := raise("A", "104", "2h30m")
	cancel(a4, "A", "104", "2h31m")
	raise("A", "105", "3h") // open
	b1 := raise("B", "101", "23h")
	accept(b1, "B", "201", "23h0m10s") // 10 s
	raise("B", "102", "23h30m")        // open

	report := func(args ...string) (complexes []projections.ComplexStats, hours [24]int) {
		var out strings.Builder
		testenv.Must(t, replayReport(ctx, app.App, "alerts", append([]string{"--format", "json"}, args...), &out), "replay alerts")
		var v struct {
			Complexes []projections.ComplexStats `json:"complexes"`
			Hours     [24]int                    `json:"raisedByHourUTC"`
		}
		testenv.Must(t, json.Unmarshal([]byte(out.String()), &v), "decode %s", out.String())
		return v.Complexes, v.Hours
	}
	complexes, hours := report()
	want := []projections.ComplexStats{
		{Complex: "A", Raised: 5, Accepted: 3, Cancelled: 1, Open: 1, AcceptP50Second: 60, AcceptP95Second: 120, AcceptMaxSecond: 120},
		{Complex: "B", Raised: 2, Accepted: 1, Open: 1, AcceptP50Second: 10, AcceptP95Second: 10, AcceptMaxSecond: 10},
	}
	if !reflect.DeepEqual(complexes, want) {
		t.Fatalf("complexes = %+v\nwant %+v", complexes, want)
	}
	if wantHours := [24]int{1: 2, 2: 2, 3: 1, 23: 2}; hours != wantHours {
		t.Fatalf("raised by hour = %v, want %v", hours, wantHours)
	}
	complexes, hours = report("--since", "2026-11-30T02:00:00Z", "--until", "2026-11-30T03:00:00Z")
	if want := []projections.ComplexStats{{Complex: "A", Raised: 2, Accepted: 1, Cancelled: 1, AcceptP50Second: 120, AcceptP95Second: 120, AcceptMaxSecond: 120}}; !reflect.DeepEqual(complexes, want) {
		t.Fatalf("bounded: %+v", complexes)
	}
	if hours != [24]int{2: 2} {
		t.Fatalf("bounded hours %v", hours)
	}
	var table, csv strings.Builder
	testenv.Must(t, replayReport(ctx, app.App, "alerts", nil, &table), "table")
	testenv.Must(t, replayReport(ctx, app.App, "alerts", []string{"--format", "csv"}, &csv), "csv")
	if !strings.Contains(table.String(), "60.000s") || !strings.Contains(csv.String(), "A,5,3,1,1,60.000,120.000,120.000") {
		t.Fatalf("table:\n%s\ncsv:\n%s", table.String(), csv.String())
	}
	if err := replayReport(ctx, app.App, "alerts", []string{"--format", "xml"}, &table); err == nil {
		t.Fatal("--format xml accepted")
	}
}
