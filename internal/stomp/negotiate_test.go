package stomp

import (
	"errors"
	"testing"
	"time"
)

func TestNegotiateVersion(t *testing.T) {
	for _, tc := range []struct {
		accept  string
		present bool
		want    string // "" for an error
	}{
		{"", false, "1.0"},
		{"1.0,1.1,1.2", true, "1.2"},
		{"1.2,1.1,1.0", true, "1.2"}, // stompjs order
		{"1.1,1.0", true, "1.1"},
		{"1.0", true, "1.0"},
		{"1.1", true, "1.1"},
		{" 1.0 , 1.1 ", true, "1.1"},
		{"2.0,1.1,1.3", true, "1.1"},
		{"1.2.0", true, ""},
		{"2.0", true, ""},
		{"", true, ""},
		{",,,", true, ""},
		{"1.10", true, ""},
	} {
		got, err := NegotiateVersion(tc.accept, tc.present)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NegotiateVersion(%q, %v) = %q, %v; want %q", tc.accept, tc.present, got, err, tc.want)
		}
		var pe *ProtocolError
		if err != nil {
			if !errors.As(err, &pe) {
				t.Errorf("error %T, want *ProtocolError", err)
			} else {
				checkSafe(t, pe.Reason)
			}
		}
	}
}

func TestParseHeartBeat(t *testing.T) {
	for _, tc := range []struct {
		in     string
		cx, cy int
		ok     bool
	}{
		{"", 0, 0, true},
		{"0,0", 0, 0, true},
		{"10000,10000", 10000, 10000, true},
		{"1000,0", 1000, 0, true},
		{"0, 5000", 0, 5000, true},
		{"2147483647,1", 2147483647, 1, true},
		{"2147483648,1", 0, 0, false},
		{"-1,0", 0, 0, false},
		{"+1,0", 0, 0, false},
		{"1", 0, 0, false},
		{"1,2,3", 0, 0, false},
		{",", 0, 0, false},
		{"a,b", 0, 0, false},
		{"1.5,2", 0, 0, false},
		{"99999999999999999999999,1", 0, 0, false},
	} {
		cx, cy, err := ParseHeartBeat(tc.in)
		if cx != tc.cx || cy != tc.cy || (err == nil) != tc.ok {
			t.Errorf("ParseHeartBeat(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, cx, cy, err, tc.cx, tc.cy, tc.ok)
		}
		var pe *ProtocolError
		if err != nil {
			if !errors.As(err, &pe) {
				t.Errorf("error %T, want *ProtocolError", err)
			} else {
				checkSafe(t, pe.Reason)
			}
		}
	}
}

func TestNegotiateHeartBeat(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		client         string
		sx, sy         int
		send, expected time.Duration
	}{
		{"10000,10000", 5000, 10000, 10 * s, 10 * s},
		{"0,0", 5000, 10000, 0, 0},
		{"", 5000, 10000, 0, 0},
		{"1000,0", 5000, 10000, 0, 10 * s},
		{"0,1000", 5000, 10000, 5 * s, 0},
		{"20000,3000", 5000, 10000, 5 * s, 20 * s},
		{"10000,10000", 0, 0, 0, 0},
		{"10000,10000", 0, 10000, 0, 10 * s},
		{"2147483647,2147483647", 1, 1, 2147483647 * time.Millisecond, 2147483647 * time.Millisecond},
	} {
		cx, cy, err := ParseHeartBeat(tc.client)
		if err != nil {
			t.Fatal(err)
		}
		send, expect := NegotiateHeartBeat(cx, cy, tc.sx, tc.sy)
		if send != tc.send || expect != tc.expected {
			t.Errorf("client %q, server %d,%d: send %v, expect %v; want %v, %v",
				tc.client, tc.sx, tc.sy, send, expect, tc.send, tc.expected)
		}
	}
	// Values beyond what ParseHeartBeat allows do not overflow or go negative.
	if send, expect := NegotiateHeartBeat(1<<62, 1<<62, -5, 1<<62); send != 0 || expect <= 0 {
		t.Errorf("huge values: send %v, expect %v", send, expect)
	}
}
