package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// decodeCase is one decoder table entry. Every case is also decoded byte
// by byte and in every 2-way split, and seeds FuzzDecoder.
type decodeCase struct {
	name   string
	lim    Limits
	in     string
	frames []*Frame
	beats  int
	is     error  // for errors.Is, or nil
	reason string // substring of the ProtocolError's Reason; "" for no error
}

var small = Limits{MaxFrameBytes: 64, MaxHeaders: 2, MaxHeaderBytes: 8}

var decodeCases = []decodeCase{
	{name: "simple", in: "SEND\ndestination:/queue/a\n\nhello\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"destination", "/queue/a"}}, Body: []byte("hello")}}},
	{name: "no headers no body", in: "DISCONNECT\n\n\x00",
		frames: []*Frame{{Command: "DISCONNECT"}}},
	{name: "CRLF", in: "SEND\r\ndestination:/q\r\nreceipt:7\r\n\r\nhi\r\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"destination", "/q"}, {"receipt", "7"}}, Body: []byte("hi\r\n")}}},
	{name: "empty value", in: "SEND\nk:\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"k", ""}}}}},
	{name: "heart-beats between frames", in: "\n\r\nSEND\n\n\x00\n\nACK\nid:1\n\n\x00\r\n\n",
		frames: []*Frame{{Command: "SEND"}, {Command: "ACK", Headers: []Header{{"id", "1"}}}}, beats: 6},
	{name: "heart-beats only", in: "\n\r\n\n", beats: 3},
	{name: "several frames", in: "SUBSCRIBE\nid:0\ndestination:/topic/alerts\nack:client\n\n\x00" +
		"SEND\ndestination:/queue/b\ncontent-type:text/plain\n\nbody\x00UNSUBSCRIBE\nid:0\n\n\x00",
		frames: []*Frame{
			{Command: "SUBSCRIBE", Headers: []Header{{"id", "0"}, {"destination", "/topic/alerts"}, {"ack", "client"}}},
			{Command: "SEND", Headers: []Header{{"destination", "/queue/b"}, {"content-type", "text/plain"}}, Body: []byte("body")},
			{Command: "UNSUBSCRIBE", Headers: []Header{{"id", "0"}}},
		}},
	{name: "every client command", in: "CONNECT\n\n\x00STOMP\n\n\x00SEND\n\n\x00SUBSCRIBE\n\n\x00UNSUBSCRIBE\n\n\x00" +
		"ACK\n\n\x00NACK\n\n\x00BEGIN\n\n\x00COMMIT\n\n\x00ABORT\n\n\x00DISCONNECT\r\n\r\n\x00",
		frames: []*Frame{{Command: "CONNECT"}, {Command: "STOMP"}, {Command: "SEND"}, {Command: "SUBSCRIBE"},
			{Command: "UNSUBSCRIBE"}, {Command: "ACK"}, {Command: "NACK"}, {Command: "BEGIN"},
			{Command: "COMMIT"}, {Command: "ABORT"}, {Command: "DISCONNECT"}}},
	{name: "server frames", in: "CONNECTED\nversion:1.2\n\n\x00MESSAGE\nsubscription:0\n\n{}\x00RECEIPT\nreceipt-id:1\n\n\x00ERROR\nmessage:x\n\n\x00",
		frames: []*Frame{{Command: "CONNECTED", Headers: []Header{{"version", "1.2"}}},
			{Command: "MESSAGE", Headers: []Header{{"subscription", "0"}}, Body: []byte("{}")},
			{Command: "RECEIPT", Headers: []Header{{"receipt-id", "1"}}},
			{Command: "ERROR", Headers: []Header{{"message", "x"}}}}},
	{name: "content-length body with NULs", in: "SEND\ncontent-length:5\n\na\x00b\x00c\x00\n",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "5"}}, Body: []byte("a\x00b\x00c")}}, beats: 1},
	{name: "content-length zero", in: "SEND\ncontent-length:0\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "0"}}}}},
	{name: "content-length leading zeros", in: "SEND\ncontent-length:002\n\nab\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "002"}}, Body: []byte("ab")}}},
	{name: "body ends at first NUL", in: "SEND\n\nabc\x00SEND\n\n\x00",
		frames: []*Frame{{Command: "SEND", Body: []byte("abc")}, {Command: "SEND"}}},
	{name: "repeated headers kept, first counts", in: "SEND\nfoo:1\nfoo:2\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"foo", "1"}, {"foo", "2"}}}}},
	{name: "first content-length counts", in: "SEND\ncontent-length:1\ncontent-length:3\n\na\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "1"}, {"content-length", "3"}}, Body: []byte("a")}}},
	{name: "escapes in SEND", in: "SEND\nde\\cst:a\\nb\\\\c\\cd\\r\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"de:st", "a\nb\\c:d\r"}}}}},
	{name: "escapes in SUBSCRIBE", in: "SUBSCRIBE\nid:\\\\\\\\\ndestination:/topic/a\\cb\n\n\x00",
		frames: []*Frame{{Command: "SUBSCRIBE", Headers: []Header{{"id", `\\`}, {"destination", "/topic/a:b"}}}}},
	{name: "raw colon in value", in: "SEND\ndestination:/queue/a:b\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"destination", "/queue/a:b"}}}}},
	{name: "CONNECT is not unescaped", in: "CONNECT\naccept-version:1.0,1.1,1.2\nlogin:us\\er\npasscode:a:b\\n\\t\n\n\x00",
		frames: []*Frame{{Command: "CONNECT", Headers: []Header{{"accept-version", "1.0,1.1,1.2"}, {"login", `us\er`}, {"passcode", `a:b\n\t`}}}}},
	{name: "STOMP is not unescaped", in: "STOMP\nhost:a\\c\n\n\x00",
		frames: []*Frame{{Command: "STOMP", Headers: []Header{{"host", `a\c`}}}}},
	{name: "UTF-8 header", in: "SEND\ntitle:Überflutung ⚠\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"title", "Überflutung ⚠"}}}}},
	{name: "binary body", in: "SEND\n\n\xff\xfe\x00",
		frames: []*Frame{{Command: "SEND", Body: []byte("\xff\xfe")}}},

	{name: "bad escape", in: "SEND\nk:a\\tb\n\n\x00", reason: `undefined escape sequence "\\t"`},
	{name: "bad escape in key", in: "SEND\n\\x:1\n\n\x00", reason: "undefined escape"},
	{name: "bad escape non-ASCII", in: "SEND\nk:\\é\n\n\x00", reason: `"\\\u00e9"`},
	{name: "incomplete escape", in: "SEND\nk:ab\\\n\n\x00", reason: "incomplete escape"},
	{name: "frames before error are returned", in: "SEND\n\n\x00NACK\nk:\\q\n\n\x00SEND\n\n\x00",
		frames: []*Frame{{Command: "SEND"}}, reason: "undefined escape"},
	{name: "unknown command", in: "FOO\n\n\x00", reason: `unknown command "FOO"`},
	{name: "lower-case command", in: "send\n\n\x00", reason: `unknown command "send"`},
	{name: "command too long", in: "UNSUBSCRIBES\n\n\x00", reason: `unknown command "UNSUBSCRIBES"`},
	{name: "command with trailing space", in: "SEND \n\n\x00", reason: `unknown command "SEND "`},
	{name: "HTTP request", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", reason: `unknown command "GET / HTTP/1"`},
	{name: "header without colon", in: "SEND\nfoo\n\n\x00", reason: `header line without ':' "foo"`},
	{name: "empty header name", in: "SEND\n:v\n\n\x00", reason: "empty name"},
	{name: "missing NUL after content-length body", in: "SEND\ncontent-length:2\n\nabc\x00", reason: "not followed by a NUL"},
	{name: "invalid content-length", in: "SEND\ncontent-length:abc\n\n\x00", reason: `invalid content-length "abc"`},
	{name: "negative content-length", in: "SEND\ncontent-length:-1\n\n\x00", reason: "invalid content-length"},
	{name: "signed content-length", in: "SEND\ncontent-length:+1\n\nx\x00", reason: "invalid content-length"},
	{name: "spaced content-length", in: "SEND\ncontent-length: 1\n\nx\x00", reason: "invalid content-length"},
	{name: "empty content-length", in: "SEND\ncontent-length:\n\n\x00", reason: "invalid content-length"},
	{name: "huge content-length", in: "SEND\ncontent-length:99999999999999999999999999\n\n", is: ErrFrameTooLarge, reason: "frame exceeds 65536 bytes"},
	{name: "invalid UTF-8 in header", in: "SEND\nk:\xff\n\n\x00", reason: "not valid UTF-8"},
	{name: "invalid UTF-8 in CONNECT header", in: "CONNECT\nlogin:\xc3\x28\n\n\x00", reason: "not valid UTF-8"},
	{name: "invalid UTF-8 in command", in: "SE\xffND\n\n\x00", reason: `unknown command "SE\xffND"`},
	{name: "NUL in headers", in: "SEND\nk:v\x00", reason: "NUL octet before the end of the headers"},
	{name: "missing blank line", in: "SEND\nk:v\n\x00", reason: "NUL octet before"},
	{name: "lone NUL", in: "\x00", reason: "NUL octet before"},
	{name: "NUL after command", in: "SEND\x00", reason: "NUL octet before"},
	{name: "CR CR is not an EOL", in: "\r\rSEND\n\n\x00", reason: `unknown command "\r\rSEND"`},
	{name: "pending CR", in: "\n\r", beats: 1},
	{name: "incomplete frame", in: "SEND\ndestination:/q\n\nabc"},

	{name: "frame at limit", lim: small, in: "SEND\n\n" + strings.Repeat("x", 57) + "\x00",
		frames: []*Frame{{Command: "SEND", Body: []byte(strings.Repeat("x", 57))}}},
	{name: "frame over limit", lim: small, in: "SEND\n\n" + strings.Repeat("x", 58) + "\x00", is: ErrFrameTooLarge, reason: "frame exceeds 64 bytes"},
	{name: "headers over frame limit", lim: Limits{MaxFrameBytes: 16}, in: "SEND\nk:12345678901\n\n\x00", is: ErrFrameTooLarge},
	{name: "content-length frame at limit", lim: Limits{MaxFrameBytes: 27}, in: "SEND\ncontent-length:3\n\nabc\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "3"}}, Body: []byte("abc")}}},
	{name: "content-length frame over limit", lim: Limits{MaxFrameBytes: 26}, in: "SEND\ncontent-length:3\n\nabc\x00", is: ErrFrameTooLarge},
	{name: "content-length over limit", lim: Limits{MaxFrameBytes: 64}, in: "SEND\ncontent-length:40\n\n", is: ErrFrameTooLarge},
	{name: "content-length fits", lim: Limits{MaxFrameBytes: 64}, in: "SEND\ncontent-length:39\n\n" + strings.Repeat("y", 39) + "\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"content-length", "39"}}, Body: []byte(strings.Repeat("y", 39))}}},
	{name: "headers at limit", lim: small, in: "SEND\na:1\nb:2\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"a", "1"}, {"b", "2"}}}}},
	{name: "too many headers", lim: small, in: "SEND\na:1\nb:2\nc:3\n\n\x00", is: ErrTooManyHeaders, reason: "more than 2 headers"},
	{name: "header line at limit", lim: small, in: "SEND\nk:123456\n\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"k", "123456"}}}}},
	{name: "header line at limit CRLF", lim: small, in: "SEND\r\nk:123456\r\n\r\n\x00",
		frames: []*Frame{{Command: "SEND", Headers: []Header{{"k", "123456"}}}}},
	{name: "header line over limit", lim: small, in: "SEND\nk:1234567\n\n\x00", is: ErrHeaderTooLarge, reason: "header line exceeds 8 bytes"},
	{name: "header line over limit CR", lim: small, in: "SEND\nk:123456\r\r\n\n\x00", is: ErrHeaderTooLarge},
}

// result is everything a decoder run produces.
type result struct {
	frames   []*Frame
	beats    int
	err      error
	buffered int
}

// feedChunks decodes chunks with a fresh decoder, checking after every Feed
// that Buffered stays within the frame limit.
func feedChunks(t testing.TB, lim Limits, chunks ...[]byte) result {
	t.Helper()
	d := NewDecoder(lim)
	limit := lim.withDefaults().MaxFrameBytes
	var r result
	for _, c := range chunks {
		fs, hb, err := d.Feed(c)
		r.frames = append(r.frames, fs...)
		r.beats += hb
		if d.Buffered() > limit {
			t.Fatalf("Buffered() = %d, over MaxFrameBytes %d", d.Buffered(), limit)
		}
		if err != nil {
			r.err = err
			break
		}
	}
	r.buffered = d.Buffered()
	return r
}

func sameResult(a, b result) bool {
	return equalFrames(a.frames, b.frames) && a.beats == b.beats && a.buffered == b.buffered &&
		fmt.Sprint(a.err) == fmt.Sprint(b.err)
}

func equalFrame(a, b *Frame) bool {
	if a.Command != b.Command || !bytes.Equal(a.Body, b.Body) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i] != b.Headers[i] {
			return false
		}
	}
	return true
}

func equalFrames(a, b []*Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalFrame(a[i], b[i]) {
			return false
		}
	}
	return true
}

func formatFrames(fs []*Frame) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%s %q %q", f.Command, f.Headers, f.Body))
	}
	return "[" + strings.Join(s, "; ") + "]"
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got := feedChunks(t, tc.lim, in)
			if !equalFrames(got.frames, tc.frames) {
				t.Errorf("frames:\n got %s\nwant %s", formatFrames(got.frames), formatFrames(tc.frames))
			}
			if got.beats != tc.beats {
				t.Errorf("heart-beats = %d, want %d", got.beats, tc.beats)
			}
			checkError(t, got.err, tc.is, tc.reason)

			// The same stream split anywhere gives the same result.
			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, in[i:i+1])
			}
			if r := feedChunks(t, tc.lim, bytewise...); !sameResult(r, got) {
				t.Errorf("byte by byte: %s %d %v, whole: %s %d %v",
					formatFrames(r.frames), r.beats, r.err, formatFrames(got.frames), got.beats, got.err)
			}
			for i := 0; i <= len(in); i++ {
				if r := feedChunks(t, tc.lim, in[:i], in[i:]); !sameResult(r, got) {
					t.Errorf("split at %d: %s %d %v, whole: %s %d %v",
						i, formatFrames(r.frames), r.beats, r.err, formatFrames(got.frames), got.beats, got.err)
				}
			}
		})
	}
}

func checkError(t *testing.T, err, is error, reason string) {
	t.Helper()
	if reason == "" && is == nil {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *ProtocolError", err, err)
	}
	if !strings.Contains(pe.Reason, reason) {
		t.Errorf("Reason %q does not contain %q", pe.Reason, reason)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %v is not %v", err, is)
	}
	checkSafe(t, pe.Reason)
}

// checkSafe asserts that an error text is fit to echo to a client.
func checkSafe(t *testing.T, reason string) {
	t.Helper()
	if len(reason) > 120 {
		t.Errorf("Reason is %d bytes long: %q", len(reason), reason)
	}
	for _, c := range []byte(reason) {
		if c < ' ' || c > '~' {
			t.Errorf("Reason %q has byte %#x", reason, c)
			break
		}
	}
}

func TestErrorSticky(t *testing.T) {
	d := NewDecoder(Limits{})
	_, _, err := d.Feed([]byte("FOO\n"))
	if err == nil {
		t.Fatal("no error for unknown command")
	}
	fs, hb, err2 := d.Feed([]byte("\nSEND\n\n\x00"))
	if err2 != err || fs != nil || hb != 0 {
		t.Errorf("after error Feed = %v, %d, %v; want nil, 0, %v", fs, hb, err2, err)
	}
	if d.Buffered() != 0 {
		t.Errorf("Buffered() = %d after error", d.Buffered())
	}
}

func TestBuffered(t *testing.T) {
	d := NewDecoder(Limits{})
	steps := []struct {
		in       string
		frames   int
		buffered int
	}{
		{"SEND\ndest", 0, 9},
		{"ination:/q\n\nab", 0, 23},
		{"c\x00SE", 1, 2},
		{"ND\n\n\x00\r", 1, 1},
		{"\n", 0, 0},
	}
	for _, s := range steps {
		fs, _, err := d.Feed([]byte(s.in))
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != s.frames || d.Buffered() != s.buffered {
			t.Errorf("Feed(%q): %d frames, Buffered %d; want %d, %d", s.in, len(fs), d.Buffered(), s.frames, s.buffered)
		}
	}
}

// TestFeedDoesNotRetainData checks that frames do not alias the caller's
// buffer, which WebSocket libraries reuse.
func TestFeedDoesNotRetainData(t *testing.T) {
	d := NewDecoder(Limits{})
	in := []byte("SEND\nk:v\n\nbody\x00SEND\nk:")
	fs, _, err := d.Feed(in)
	if err != nil || len(fs) != 1 {
		t.Fatal(fs, err)
	}
	for i := range in {
		in[i] = 'X'
	}
	fs2, _, err := d.Feed([]byte("w\n\n\x00"))
	if err != nil || len(fs2) != 1 {
		t.Fatal(fs2, err)
	}
	if v, _ := fs[0].Get("k"); v != "v" || string(fs[0].Body) != "body" {
		t.Errorf("first frame changed with the input buffer: %q %q", v, fs[0].Body)
	}
	if v, _ := fs2[0].Get("k"); v != "w" {
		t.Errorf("second frame: k = %q, want w", v)
	}
}

// feedUntilError feeds in byte by byte and returns how many bytes it took
// to get an error (0 if none).
func feedUntilError(t *testing.T, lim Limits, in string) (int, error) {
	t.Helper()
	d := NewDecoder(lim)
	for i := range len(in) {
		if _, _, err := d.Feed([]byte{in[i]}); err != nil {
			return i + 1, err
		}
	}
	return 0, nil
}

// TestLimitsEnforcedEarly checks that oversized input is rejected as soon
// as it cannot fit, not after it has all been buffered.
func TestLimitsEnforcedEarly(t *testing.T) {
	lim := Limits{MaxFrameBytes: 100, MaxHeaderBytes: 20, MaxHeaders: 4}
	for _, tc := range []struct {
		name string
		in   string
		at   int // bytes fed when the error comes
		is   error
	}{
		// 100 bytes without a NUL cannot be a frame of at most 100.
		{"body", "SEND\n\n" + strings.Repeat("x", 200), 100, ErrFrameTooLarge},
		// 20 bytes of text and one more that is not '\r'.
		{"header line", "SEND\n" + strings.Repeat("a", 100), 5 + 21, ErrHeaderTooLarge},
		{"header line after CR", "SEND\n" + strings.Repeat("a", 20) + "\ra", 5 + 22, ErrHeaderTooLarge},
		{"header count", "SEND\na:1\nb:2\nc:3\nd:4\ne:5\n\n\x00", 5 + 4*4 + 4, ErrTooManyHeaders},
		// Known from the header line, before any body arrives.
		{"content-length", "SEND\ncontent-length:101\n" + strings.Repeat("x", 200), 24, ErrFrameTooLarge},
		{"content-length and headers", "SEND\ncontent-length:80\n\n" + strings.Repeat("x", 200), 24, ErrFrameTooLarge},
		{"command", "SUBSCRIBEXYZ" + strings.Repeat("x", 100), 12, nil},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := feedUntilError(t, lim, tc.in)
			if at != tc.at {
				t.Errorf("error after %d bytes, want %d (%v)", at, tc.at, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			var pe *ProtocolError
			if errors.As(err, &pe) {
				checkSafe(t, pe.Reason)
			}
		})
	}
}

// TestFeedLinear checks the invariant that keeps byte-by-byte feeding
// linear: after a Feed that completes nothing, everything buffered has been
// scanned, so the next Feed looks at new bytes only.
func TestFeedLinear(t *testing.T) {
	lim := Limits{MaxFrameBytes: 1 << 20}
	body := strings.Repeat("b", 100<<10)
	for _, in := range []string{
		"SEND\ndestination:/q\nreceipt:1\n\n" + body + "\x00",
		"SEND\nlong:" + strings.Repeat("h", 4000) + "\n\n\x00",
	} {
		d := NewDecoder(lim)
		for i := range len(in) {
			fs, _, err := d.Feed([]byte{in[i]})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) == 0 && d.state != stateIdle && d.scan != d.Buffered() {
				t.Fatalf("after %d bytes scan = %d, buffered = %d", i+1, d.scan, d.Buffered())
			}
			if i == len(in)-1 && (len(fs) != 1 || d.Buffered() != 0) {
				t.Fatalf("last byte: %d frames, %d buffered", len(fs), d.Buffered())
			}
		}
	}
}

// TestDecoderReleasesMemory checks that a large frame does not pin its
// buffers in an idle decoder (a server holds one per connection).
func TestDecoderReleasesMemory(t *testing.T) {
	d := NewDecoder(Limits{})
	in := []byte("SEND\nk:" + strings.Repeat("v", 3000) + "\nk2:" + strings.Repeat("w", 3000) + "\n\n" + strings.Repeat("b", 50000) + "\x00")
	for i := 0; i < len(in); i += 1000 {
		if _, _, err := d.Feed(in[i:min(i+1000, len(in))]); err != nil {
			t.Fatal(err)
		}
	}
	if cap(d.buf) > retainBytes || cap(d.text) > retainBytes {
		t.Errorf("idle decoder keeps %d + %d bytes", cap(d.buf), cap(d.text))
	}

	// A large message of whole frames that ends in a partial one, fed while
	// another partial frame was waiting.
	if _, _, err := d.Feed([]byte("SEND\n")); err != nil {
		t.Fatal(err)
	}
	many := append([]byte("\n\n\x00"), bytes.Repeat([]byte("ACK\nid:1\n\n\x00"), 10000)...)
	many = append(many, "SEND\nk:v"...)
	fs, _, err := d.Feed(many)
	if err != nil || len(fs) != 10001 {
		t.Fatal(len(fs), err)
	}
	if d.Buffered() != 8 || cap(d.buf) > retainBytes {
		t.Errorf("after a large message: Buffered() = %d, cap %d", d.Buffered(), cap(d.buf))
	}
}

// TestHugeLimits checks that limits near the int range cannot overflow
// offsets.
func TestHugeLimits(t *testing.T) {
	lim := Limits{MaxFrameBytes: math.MaxInt, MaxHeaders: math.MaxInt, MaxHeaderBytes: math.MaxInt}
	in := "SEND\nk:" + strings.Repeat("v", 10000) + "\ncontent-length:9223372036854775807"
	if r := feedChunks(t, lim, []byte(in[:5000]), []byte(in[5000:])); r.err != nil || r.buffered != len(in) {
		t.Fatalf("%d buffered, %v", r.buffered, r.err)
	}
	if r := feedChunks(t, lim, []byte(in+"\n")); !errors.Is(r.err, ErrFrameTooLarge) {
		t.Fatalf("error %v, want ErrFrameTooLarge", r.err)
	}
}

func TestFrameAccessors(t *testing.T) {
	f := NewFrame("MESSAGE", "a", "1", "b", "2", "a", "3")
	if v, ok := f.Get("a"); !ok || v != "1" {
		t.Errorf(`Get("a") = %q, %v; want "1", true`, v, ok)
	}
	if v, ok := f.Get("c"); ok || v != "" {
		t.Errorf(`Get("c") = %q, %v; want "", false`, v, ok)
	}
	f.Set("a", "x")
	f.Set("c", "y")
	want := []Header{{"a", "x"}, {"b", "2"}, {"a", "3"}, {"c", "y"}}
	if !equalFrame(f, &Frame{Command: "MESSAGE", Headers: want}) {
		t.Errorf("headers = %q, want %q", f.Headers, want)
	}
	if f := NewFrame("ACK"); f.Command != "ACK" || f.Headers != nil {
		t.Errorf("NewFrame(ACK) = %+v", f)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewFrame with an odd argument count did not panic")
		}
	}()
	NewFrame("SEND", oddArgs()...)
}

// oddArgs hides the odd count from staticcheck: the panic is the point.
func oddArgs() []string { return []string{"k"} }
