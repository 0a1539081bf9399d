package stomp

import "testing"

// stompjsClient is what @stomp/stompjs 7.5.0 sends on a 1.2 session
// (FrameImpl.marshall; the heart-beat is its "\n"): CONNECT unescaped,
// the other frames with escaped values and content-length on bodies.
const stompjsClient = "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\nlogin:a\\b:c\nhost:alerts\n\n\x00" +
	"SUBSCRIBE\nid:sub-0\ndestination:/topic/alerts.riverside\nack:client-individual\n\n\x00" +
	"SEND\ndestination:/app/a\\cb\nnote:x\\\\y\\nz\\r\ncontent-type:application/json\ncontent-length:34\n\n{\"ok\":true,\"t\":\"\xc3\x9cberflutung \xe2\x9a\xa0\"}\x00" +
	"SEND\ndestination:/app/bin\ncontent-length:5\n\n\x01\x00\x02\x00\xff\x00" +
	"ACK\nid:m-1\nreceipt:r-1\n\n\x00" +
	"\n" +
	"DISCONNECT\nreceipt:r-2\n\n\x00"

func TestStompjsClientFrames(t *testing.T) {
	want := []*Frame{
		{Command: "CONNECT", Headers: []Header{{"accept-version", "1.2,1.1,1.0"}, {"heart-beat", "10000,10000"}, {"login", `a\b:c`}, {"host", "alerts"}}},
		{Command: "SUBSCRIBE", Headers: []Header{{"id", "sub-0"}, {"destination", "/topic/alerts.riverside"}, {"ack", "client-individual"}}},
		{Command: "SEND", Headers: []Header{{"destination", "/app/a:b"}, {"note", "x\\y\nz\r"}, {"content-type", "application/json"}, {"content-length", "34"}},
			Body: []byte(`{"ok":true,"t":"Überflutung ⚠"}`)},
		{Command: "SEND", Headers: []Header{{"destination", "/app/bin"}, {"content-length", "5"}}, Body: []byte{1, 0, 2, 0, 255}},
		{Command: "ACK", Headers: []Header{{"id", "m-1"}, {"receipt", "r-1"}}},
		{Command: "DISCONNECT", Headers: []Header{{"receipt", "r-2"}}},
	}
	in := []byte(stompjsClient)
	for _, chunk := range []int{len(in), 1, 7, 64} {
		var chunks [][]byte
		for i := 0; i < len(in); i += chunk {
			chunks = append(chunks, in[i:min(i+chunk, len(in))])
		}
		r := feedChunks(t, Limits{}, chunks...)
		if r.err != nil || !equalFrames(r.frames, want) || r.beats != 1 {
			t.Errorf("chunks of %d: %s, %d beats, %v", chunk, formatFrames(r.frames), r.beats, r.err)
		}
	}
	v, _ := want[0].Get("accept-version")
	if got, err := NegotiateVersion(v, true); got != "1.2" || err != nil {
		t.Errorf("NegotiateVersion(%q) = %q, %v", v, got, err)
	}
}
