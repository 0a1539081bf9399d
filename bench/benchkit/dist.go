package benchkit

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dist is a sorted latency sample.
type Dist struct{ sorted []time.Duration }

// NewDist sorts a copy of samples.
func NewDist(samples []time.Duration) Dist {
	s := slices.Clone(samples)
	slices.Sort(s)
	return Dist{sorted: s}
}

// Pct is the nearest-rank percentile (p in 0..100); 0 if there are no samples.
func (d Dist) Pct(p float64) time.Duration {
	if len(d.sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(d.sorted)))) - 1
	return d.sorted[max(0, min(i, len(d.sorted)-1))]
}

// Len is the number of samples.
func (d Dist) Len() int { return len(d.sorted) }

// Max is the largest sample.
func (d Dist) Max() time.Duration { return d.Pct(100) }

// Ms is d in (fractional) milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Median returns the median of xs (the mean of the middle two for an even
// count); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FormatFloats renders xs as "0.52, 0.48, 0.55".
func FormatFloats(xs []float64, prec int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', prec, 64)
	}
	return strings.Join(parts, ", ")
}
