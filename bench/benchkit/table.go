package benchkit

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Table collects rows and notes and renders them aligned.
type Table struct {
	Title string
	Head  []string
	rows  [][]string
	notes []string
}

// Row adds a row: float64 cells with one decimal, durations in ms with two,
// anything else with fmt.Sprint.
func (t *Table) Row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case float64:
			r[i] = strconv.FormatFloat(v, 'f', 1, 64)
		case time.Duration:
			r[i] = strconv.FormatFloat(Ms(v), 'f', 2, 64) + " ms"
		default:
			r[i] = fmt.Sprint(v)
		}
	}
	t.rows = append(t.rows, r)
}

// Note adds a line printed under the rows.
func (t *Table) Note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// String renders the title, the right-aligned rows and the notes.
func (t *Table) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n=== %s ===\n", t.Title)
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.Head, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintf(&sb, "  %s\n", n)
	}
	return sb.String()
}

// Print writes the table to stdout: benchmark logs (b.Log) are cut to a few
// lines by the testing package.
func (t *Table) Print() { fmt.Print(t.String()) }

// KiB renders bytes as "26.8 KiB".
func KiB(bytes float64) string { return strconv.FormatFloat(bytes/1024, 'f', 1, 64) + " KiB" }

// MiB renders bytes as "48.1 MiB".
func MiB(bytes int64) string { return strconv.FormatFloat(float64(bytes)/(1<<20), 'f', 1, 64) + " MiB" }

// Verdict renders "MET"/"MISSED" for a target.
func Verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}
