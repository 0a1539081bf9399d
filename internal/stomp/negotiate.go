package stomp

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// NegotiateVersion picks the protocol version from a CONNECT frame's
// accept-version header: the highest of 1.0, 1.1 and 1.2 the client
// offers. A missing header means a 1.0 client. The error (a
// *ProtocolError) means there is no common version; the spec then asks for
// an ERROR frame with a version header listing the supported ones.
func NegotiateVersion(acceptVersion string, present bool) (string, error) {
	if !present {
		return "1.0", nil
	}
	best := ""
	for v := range strings.SplitSeq(acceptVersion, ",") {
		switch v = strings.TrimSpace(v); v {
		case "1.0", "1.1", "1.2":
			best = max(best, v) // the three compare correctly as strings
		}
	}
	if best == "" {
		return "", protocolError("no supported protocol version in accept-version " +
			quote([]byte(acceptVersion)) + "; supported versions are 1.0,1.1,1.2")
	}
	return best, nil
}

// ParseHeartBeat parses a heart-beat header value "cx,cy" (milliseconds,
// non-negative integers). An empty value, as from a missing header, means
// 0,0: no heart-beats.
func ParseHeartBeat(v string) (cx, cy int, err error) {
	if v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(v, ",")
	if ok {
		cx, ok = parseMillis(a)
	}
	if ok {
		cy, ok = parseMillis(b)
	}
	if !ok {
		return 0, 0, protocolError("invalid heart-beat " + quote([]byte(v)) + `, want "cx,cy" in milliseconds`)
	}
	return cx, cy, nil
}

// parseMillis parses one heart-beat interval. Surrounding spaces are
// tolerated; a sign is not. The bound (about 24 days) keeps durations far
// from overflowing.
func parseMillis(s string) (int, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 31)
	return int(n), err == nil
}

// NegotiateHeartBeat applies the spec's heart-beat rules to the client's
// header (cx: the smallest interval it can send at, cy: the interval it
// wants to receive at) and the server's own sx and sy, all in milliseconds.
// send is how often the server must send (0: never), expect how often it
// should hear from the client (0: no expectation); a server usually allows
// some slack on expect before giving up on the client.
func NegotiateHeartBeat(cx, cy, sx, sy int) (send, expect time.Duration) {
	if sx > 0 && cy > 0 {
		send = millis(max(sx, cy))
	}
	if cx > 0 && sy > 0 {
		expect = millis(max(cx, sy))
	}
	return send, expect
}

func millis(n int) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	return time.Duration(min(int64(n), limit)) * time.Millisecond
}
