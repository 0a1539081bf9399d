// Package stomp is the frame layer of STOMP 1.0, 1.1 and 1.2
// (https://stomp.github.io/stomp-specification-1.2.html) for a server that
// speaks STOMP over WebSocket.
//
// Its scope is deliberately narrow: the wire format (Decoder, AppendFrame),
// header escaping, size limits for untrusted input, and the version and
// heart-beat negotiation rules of the CONNECT/CONNECTED handshake. Sessions,
// subscriptions, acknowledgements, transactions and receipts belong to the
// server that uses it.
//
// The Decoder faces the internet: every frame is bounded by Limits, which
// are enforced as soon as the buffered bytes make a violation certain, and
// every malformed input yields a *ProtocolError whose Reason is short and
// safe to send back in an ERROR frame.
//
// Escaping follows STOMP 1.2 (which 1.1 clients also accept) for every frame
// except CONNECT, STOMP and CONNECTED, which the specification leaves
// unescaped for 1.0 compatibility. Header bytes of 1.0 peers are therefore
// also unescaped; 1.0 clients that put backslashes in header values are not
// supported (stompjs escapes in 1.1 and 1.2, and NegotiateVersion prefers
// those).
package stomp

// Header is one header line of a frame.
type Header struct{ Key, Value string }

// Frame is one STOMP frame.
type Frame struct {
	Command string
	Headers []Header // in wire order; repeated keys are kept, the first one counts
	Body    []byte
}

// Get returns the value of the first header named key: STOMP gives the first
// of repeated headers precedence.
func (f *Frame) Get(key string) (string, bool) {
	for _, h := range f.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// Set replaces the value of the first header named key, or appends the header.
func (f *Frame) Set(key, value string) {
	for i := range f.Headers {
		if f.Headers[i].Key == key {
			f.Headers[i].Value = value
			return
		}
	}
	f.Headers = append(f.Headers, Header{key, value})
}

// NewFrame returns a frame with the given headers, kv being key, value pairs.
// It panics on an odd number of arguments, like strings.NewReplacer.
func NewFrame(command string, kv ...string) *Frame {
	if len(kv)%2 != 0 {
		panic("stomp: NewFrame: odd number of key, value arguments")
	}
	f := &Frame{Command: command}
	if len(kv) > 0 {
		f.Headers = make([]Header, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			f.Headers = append(f.Headers, Header{kv[i], kv[i+1]})
		}
	}
	return f
}

// commands are all STOMP commands, client frames first (most frequent first).
// The Decoder accepts server frames too so that Go clients and tests can use
// it; a server must reject the ones a client may not send.
var commands = [...]string{
	"SEND", "ACK", "NACK", "SUBSCRIBE", "UNSUBSCRIBE", "BEGIN", "COMMIT",
	"ABORT", "DISCONNECT", "CONNECT", "STOMP",
	"MESSAGE", "RECEIPT", "ERROR", "CONNECTED",
}

// maxCommandLen is the length of the longest command, UNSUBSCRIBE: a longer
// command line is rejected without waiting for its end.
const maxCommandLen = len("UNSUBSCRIBE")

// lookupCommand returns the constant for b, so decoding a command does not
// allocate.
func lookupCommand(b []byte) (string, bool) {
	for _, c := range commands {
		if string(b) == c {
			return c, true
		}
	}
	return "", false
}

// literal reports whether the headers of command are sent without escaping.
func literal(command string) bool {
	return command == "CONNECT" || command == "STOMP" || command == "CONNECTED"
}
