package stomp

import (
	"strings"
	"testing"
)

// messageFrame is a typical alert push: 6 headers and a 300-byte JSON body.
func messageFrame() *Frame {
	body := `{"id":"alert-2291","kind":"flood","severity":"extreme","area":"Riverside district",` +
		`"title":"Flash flood warning","text":"Move to higher ground now. Avoid the underpasses on Main Street and the river path.",` +
		`"issued":"2025-03-01T14:05:00Z","expires":"2025-03-01T20:00:00Z"}`
	body += strings.Repeat(" ", 300-len(body))
	return &Frame{
		Command: "MESSAGE",
		Headers: []Header{
			{"subscription", "sub-0"},
			{"message-id", "alerts-7f3a-000129"},
			{"destination", "/topic/alerts.riverside"},
			{"content-type", "application/json"},
			{"content-length", "300"},
			{"ack", "auto"},
		},
		Body: []byte(body),
	}
}

func BenchmarkAppendMessageFrame(b *testing.B) {
	f := messageFrame()
	buf := AppendFrame(nil, f)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], f)
	}
}

func BenchmarkDecodeSendFrame(b *testing.B) {
	f := messageFrame()
	f.Command = "SEND"
	f.Headers = []Header{
		{"destination", "/app/alerts.ack"},
		{"content-type", "application/json"},
		{"receipt", "r-17"},
	}
	in := AppendFrame(nil, f)
	d := NewDecoder(Limits{})
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		fs, _, err := d.Feed(in)
		if err != nil || len(fs) != 1 {
			b.Fatal(fs, err)
		}
	}
}

// BenchmarkDecodeByteByByte measures the worst split: one byte per Feed.
func BenchmarkDecodeByteByByte(b *testing.B) {
	in := AppendFrame(nil, &Frame{Command: "SEND", Headers: []Header{{"destination", "/q"}},
		Body: []byte(strings.Repeat("x", 16<<10))})
	d := NewDecoder(Limits{})
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for i := range in {
			fs, _, err := d.Feed(in[i : i+1])
			if err != nil {
				b.Fatal(err)
			}
			n += len(fs)
		}
		if n != 1 {
			b.Fatal(n)
		}
	}
}
