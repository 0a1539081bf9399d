package stomp

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits are small, so that the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxFrameBytes: 256, MaxHeaders: 6, MaxHeaderBytes: 48}

// roomy decodes re-encoded frames, which may be larger than the original
// (escapes, the added content-length).
var roomy = Limits{MaxFrameBytes: 1 << 20, MaxHeaders: 1 << 10, MaxHeaderBytes: 1 << 20}

// FuzzDecoder feeds arbitrary input in two chunks, with small and default
// limits, and checks that the split does not matter, that Buffered stays
// within the limit, and that every decoded frame survives re-encoding.
func FuzzDecoder(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2))
	}
	f.Add(AppendFrame(nil, messageFrame()), uint16(100))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		k := int(split) % (len(in) + 1)
		for _, lim := range []Limits{fuzzLimits, {}} {
			whole := feedChunks(t, lim, in)
			if r := feedChunks(t, lim, in[:k], in[k:]); !sameResult(r, whole) {
				t.Fatalf("split at %d: %s %d %v; whole: %s %d %v",
					k, formatFrames(r.frames), r.beats, r.err, formatFrames(whole.frames), whole.beats, whole.err)
			}
			for _, fr := range whole.frames {
				if !utf8.ValidString(fr.Command) {
					t.Fatalf("invalid command %q", fr.Command)
				}
				for _, h := range fr.Headers {
					if h.Key == "" || !utf8.ValidString(h.Key) || !utf8.ValidString(h.Value) {
						t.Fatalf("invalid header %q", h)
					}
				}
				if literal(fr.Command) && hasCR(fr) {
					continue // a raw CR in an unescaped header cannot be encoded
				}
				enc := AppendFrame(nil, fr)
				r := feedChunks(t, roomy, enc[:len(enc)/2], enc[len(enc)/2:])
				if want := expectDecoded(fr); r.err != nil || len(r.frames) != 1 || !equalFrame(r.frames[0], want) {
					t.Fatalf("re-encoding %s as %q gave %s, %v", formatFrames([]*Frame{fr}), enc, formatFrames(r.frames), r.err)
				}
			}
		}
	})
}

// roundTripCommands are the commands with escaped headers.
var roundTripCommands = []string{"SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN",
	"COMMIT", "ABORT", "DISCONNECT", "MESSAGE", "RECEIPT", "ERROR"}

// FuzzRoundTrip checks that AppendFrame output decodes to the same frame,
// split anywhere.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(0), "destination", "/queue/a", "receipt", "1", []byte("hello"), uint16(10))
	f.Add(uint8(9), "subscription", "a:b\nc\\d\re", "k:\n\\", "", []byte("a\x00b"), uint16(3))
	f.Add(uint8(11), "message", "stomp: \\t", "content-type", "text/plain", []byte{}, uint16(0))
	f.Add(uint8(4), "\\c", "\\n", "ü", "⚠\r", []byte("\n\n\x00"), uint16(65535))
	f.Fuzz(func(t *testing.T, cmd uint8, k1, v1, k2, v2 string, body []byte, split uint16) {
		for _, s := range []string{k1, v1, k2, v2} {
			// Decoded headers are UTF-8 without NUL; AppendFrame replaces NUL.
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Skip()
			}
		}
		if k1 == "" || k2 == "" || k1 == "content-length" || k2 == "content-length" {
			t.Skip() // empty names are invalid; a foreign content-length would not match the body
		}
		fr := &Frame{
			Command: roundTripCommands[int(cmd)%len(roundTripCommands)],
			Headers: []Header{{k1, v1}, {k2, v2}, {k1, v2}},
			Body:    body,
		}
		enc := AppendFrame(nil, fr)
		k := int(split) % (len(enc) + 1)
		r := feedChunks(t, roomy, enc[:k], enc[k:])
		if want := expectDecoded(fr); r.err != nil || len(r.frames) != 1 || !equalFrame(r.frames[0], want) || r.buffered != 0 {
			t.Fatalf("%s encoded as %q decoded to %s, %v", formatFrames([]*Frame{fr}), enc, formatFrames(r.frames), r.err)
		}
	})
}

func hasCR(f *Frame) bool {
	for _, h := range f.Headers {
		if strings.ContainsRune(h.Key, '\r') || strings.ContainsRune(h.Value, '\r') {
			return true
		}
	}
	return false
}
