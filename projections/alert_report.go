package projections

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/surge-platform/surge/domain/alert"
)

// AlertReport is the alert flow's analytics over the whole history
// (`surge replay alerts`): per complex, how many alerts were raised,
// accepted, cancelled and are still open, and how long acceptance took
// (p50, p95, max); per hour of the day (UTC), how many were raised. Only
// alerts raised in [Since, Until) count (zero: unbounded).
type AlertReport struct {
	Since, Until time.Time
	Format       string // table (default), json or csv

	alerts map[string]*reportedAlert
}

type reportedAlert struct {
	complex  string
	raisedAt time.Time
	status   alert.Status
	accepted time.Duration
}

// Reset forgets the options and the alerts seen.
func (r *AlertReport) Reset() { *r = AlertReport{} }

func (r *AlertReport) OnAlertRaised(_ context.Context, e *alert.AlertRaised) error {
	if (!r.Since.IsZero() && e.RaisedAt.Before(r.Since)) || (!r.Until.IsZero() && !e.RaisedAt.Before(r.Until)) {
		return nil
	}
	if r.alerts == nil {
		r.alerts = map[string]*reportedAlert{}
	}
	if _, seen := r.alerts[e.AlertID]; !seen {
		r.alerts[e.AlertID] = &reportedAlert{complex: e.ComplexID, raisedAt: e.RaisedAt, status: alert.Raised}
	}
	return nil
}

func (r *AlertReport) OnAlertAccepted(_ context.Context, e *alert.AlertAccepted) error {
	if a := r.alerts[e.AlertID]; a != nil && a.status == alert.Raised {
		a.status, a.accepted = alert.Accepted, e.AcceptedAt.Sub(a.raisedAt)
	}
	return nil
}

func (r *AlertReport) OnAlertCancelled(_ context.Context, e *alert.AlertCancelled) error {
	if a := r.alerts[e.AlertID]; a != nil && a.status == alert.Raised {
		a.status = alert.Cancelled
	}
	return nil
}

// ComplexStats are one complex's numbers; times in seconds.
type ComplexStats struct {
	Complex         string  `json:"complex"`
	Raised          int     `json:"raised"`
	Accepted        int     `json:"accepted"`
	Cancelled       int     `json:"cancelled"`
	Open            int     `json:"open"`
	AcceptP50Second float64 `json:"timeToAcceptP50Seconds"`
	AcceptP95Second float64 `json:"timeToAcceptP95Seconds"`
	AcceptMaxSecond float64 `json:"timeToAcceptMaxSeconds"`
}

// Stats are the report's numbers: per complex (by id) and raised per hour
// of the day (UTC, 0..23).
func (r *AlertReport) Stats() ([]ComplexStats, [24]int) {
	byComplex := map[string]*ComplexStats{}
	waits := map[string][]time.Duration{}
	var hours [24]int
	for _, a := range r.alerts {
		s := byComplex[a.complex]
		if s == nil {
			s = &ComplexStats{Complex: a.complex}
			byComplex[a.complex] = s
		}
		s.Raised++
		hours[a.raisedAt.UTC().Hour()]++
		switch a.status {
		case alert.Accepted:
			s.Accepted++
			waits[a.complex] = append(waits[a.complex], a.accepted)
		case alert.Cancelled:
			s.Cancelled++
		default:
			s.Open++
		}
	}
	out := make([]ComplexStats, 0, len(byComplex))
	for c, s := range byComplex {
		w := waits[c]
		sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
		if len(w) > 0 {
			s.AcceptP50Second, s.AcceptP95Second, s.AcceptMaxSecond = nearestRank(w, 0.50), nearestRank(w, 0.95), w[len(w)-1].Seconds()
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Complex < out[j].Complex })
	return out, hours
}

// nearestRank is the p-th percentile of sorted durations (nearest rank).
func nearestRank(sorted []time.Duration, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, i)].Seconds()
}

// Write prints the report in r.Format.
func (r *AlertReport) Write(w io.Writer) error {
	complexes, hours := r.Stats()
	switch r.Format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"complexes": complexes, "raisedByHourUTC": hours})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"complex", "raised", "accepted", "cancelled", "open", "accept_p50_s", "accept_p95_s", "accept_max_s"}) //nolint:errcheck
		for _, s := range complexes {
			cw.Write([]string{s.Complex, strconv.Itoa(s.Raised), strconv.Itoa(s.Accepted), strconv.Itoa(s.Cancelled), strconv.Itoa(s.Open), //nolint:errcheck
				fmtSeconds(s.AcceptP50Second), fmtSeconds(s.AcceptP95Second), fmtSeconds(s.AcceptMaxSecond)})
		}
		cw.Write(nil)                            //nolint:errcheck
		cw.Write([]string{"hour_utc", "raised"}) //nolint:errcheck
		for h, n := range hours {
			cw.Write([]string{strconv.Itoa(h), strconv.Itoa(n)}) //nolint:errcheck
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "complex\traised\taccepted\tcancelled\topen\taccept p50\taccept p95\taccept max\t")
	for _, s := range complexes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%ss\t%ss\t%ss\t\n", s.Complex, s.Raised, s.Accepted, s.Cancelled, s.Open,
			fmtSeconds(s.AcceptP50Second), fmtSeconds(s.AcceptP95Second), fmtSeconds(s.AcceptMaxSecond))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "hour (UTC)\traised\t")
	for h, n := range hours {
		fmt.Fprintf(tw, "%02d\t%d\t\n", h, n)
	}
	return tw.Flush()
}

func fmtSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
