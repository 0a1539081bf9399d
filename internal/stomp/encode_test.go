package stomp

import (
	"strconv"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *Frame
		want string
	}{
		{"MESSAGE", &Frame{Command: "MESSAGE", Headers: []Header{
			{"subscription", "sub-0"}, {"message-id", "007"}, {"destination", "/topic/alerts"},
			{"content-type", "application/json"}}, Body: []byte(`{"a":1}`)},
			"MESSAGE\nsubscription:sub-0\nmessage-id:007\ndestination:/topic/alerts\ncontent-type:application/json\ncontent-length:7\n\n{\"a\":1}\x00"},
		{"no body, no content-length", NewFrame("RECEIPT", "receipt-id", "42"), "RECEIPT\nreceipt-id:42\n\n\x00"},
		{"no headers", &Frame{Command: "DISCONNECT"}, "DISCONNECT\n\n\x00"},
		{"existing content-length kept", &Frame{Command: "SEND", Headers: []Header{{"content-length", "3"}, {"a", "b"}}, Body: []byte("xyz")},
			"SEND\ncontent-length:3\na:b\n\nxyz\x00"},
		{"body with NUL", &Frame{Command: "MESSAGE", Body: []byte("a\x00b")}, "MESSAGE\ncontent-length:3\n\na\x00b\x00"},
		{"escaping", NewFrame("MESSAGE", "a:b\\c", "x\ny\rz:\\"),
			"MESSAGE\na\\cb\\\\c:x\\ny\\rz\\c\\\\\n\n\x00"},
		{"ERROR escaped", NewFrame("ERROR", "message", `stomp: unknown command "a\\b"`),
			"ERROR\nmessage:stomp\\c unknown command \"a\\\\\\\\b\"\n\n\x00"},
		{"CONNECTED unescaped", NewFrame("CONNECTED", "version", "1.2", "server", `surge\1:2`, "heart-beat", "10000,10000"),
			"CONNECTED\nversion:1.2\nserver:surge\\1:2\nheart-beat:10000,10000\n\n\x00"},
		{"CONNECT unescaped", NewFrame("CONNECT", "login", `a\b:c`), "CONNECT\nlogin:a\\b:c\n\n\x00"},
		{"NUL in header replaced", NewFrame("MESSAGE", "k\x00", "a\x00b"), "MESSAGE\nk\uFFFD:a\uFFFDb\n\n\x00"},
		{"EOL in unescaped header replaced", NewFrame("CONNECTED", "a:b", "x\r\ny"), "CONNECTED\na\uFFFDb:x\uFFFD\uFFFDy\n\n\x00"},
		{"UTF-8 kept", NewFrame("MESSAGE", "title", "Überflutung ⚠"), "MESSAGE\ntitle:Überflutung ⚠\n\n\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendFrame(nil, tc.f))
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			prefix := "prefix"
			if got := string(AppendFrame([]byte(prefix), tc.f)); got != prefix+tc.want {
				t.Errorf("did not append to dst: %q", got)
			}
		})
	}
}

func TestAppendFrameDoesNotAllocate(t *testing.T) {
	f := messageFrame()
	dst := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { dst = AppendFrame(dst[:0], f) }); n != 0 {
		t.Errorf("AppendFrame allocates %v times into a large enough dst", n)
	}
}

// TestRoundTrip checks that decoding an encoded frame gives it back, for
// header text that needs every escape.
func TestRoundTrip(t *testing.T) {
	nasty := []string{"", "plain", ":", "\n", "\r", "\\", "\r\n", "a:b", `\n`, `\c`, "\\\\", "x\\", "\\x",
		" spaced ", "ü⚠😀", "trailing\r", "\n\nleading", "a\\:b\n\rc"}
	commands := []string{"SEND", "SUBSCRIBE", "MESSAGE", "ERROR", "ACK"}
	lim := Limits{MaxFrameBytes: 1 << 20}
	i := 0
	for _, k := range nasty {
		if k == "" {
			continue // the spec requires a non-empty name
		}
		for _, v := range nasty {
			i++
			f := &Frame{Command: commands[i%len(commands)], Headers: []Header{{k, v}, {"id", v}, {k, "dup"}}}
			if i%2 == 0 {
				f.Body = []byte("body\x00with\nNUL" + v)
			}
			enc := AppendFrame(nil, f)
			want := expectDecoded(f)
			for _, split := range []int{0, len(enc) / 2, len(enc) - 1} {
				r := feedChunks(t, lim, enc[:split], enc[split:])
				if r.err != nil || len(r.frames) != 1 || !equalFrame(r.frames[0], want) || r.beats != 0 || r.buffered != 0 {
					t.Fatalf("round trip of %q via %q: %s, %v", formatFrames([]*Frame{f}), enc, formatFrames(r.frames), r.err)
				}
			}
		}
	}
}

// expectDecoded is what decoding AppendFrame(f) gives: f plus the
// content-length header AppendFrame adds.
func expectDecoded(f *Frame) *Frame {
	want := &Frame{Command: f.Command, Headers: append([]Header(nil), f.Headers...), Body: f.Body}
	if _, ok := f.Get("content-length"); !ok && len(f.Body) > 0 {
		want.Headers = append(want.Headers, Header{"content-length", strconv.Itoa(len(f.Body))})
	}
	if len(want.Body) == 0 {
		want.Body = nil
	}
	return want
}
