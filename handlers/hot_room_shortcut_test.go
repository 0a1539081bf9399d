package handlers

import (
	"testing"
	"time"
)

// The copy of the limiter counts with the shared limiter's very period: a
// rate it rounds (to a thousandth of a fetch a second) would otherwise
// drift, and a client fetching at exactly the allowed pace would be refused
// here after a few dozen fetches.
func TestTheShortcutUsesTheSharedLimitersPeriod(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{1, time.Second},
		{0.6667, 1000 * time.Second / 667},
		{2.5, 400 * time.Millisecond},
		{0.001, 1000 * time.Second},
	} {
		s := NewHotRoomShortcut(nil, tc.rate, 2)
		if s.period != tc.want || s.burst != 2*tc.want {
			t.Errorf("rate %g: period %s, burst %s; want %s and %s", tc.rate, s.period, s.burst, tc.want, 2*tc.want)
		}
	}
	// A client at exactly the allowed pace for 1,000 fetches is never
	// refused here.
	s := NewHotRoomShortcut(nil, 0.6667, 1)
	s.Fresh = time.Hour * 24 * 365
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if _, refused := s.Refuse("r", "a", now); refused {
			t.Fatalf("fetch %d at the allowed pace refused", i)
		}
		s.Observe("r", "a", true, true, 0, now)
		now = now.Add(1000 * time.Second / 667)
	}
}
