package stomp

import (
	"bytes"
	"unicode/utf8"
)

// Limits bound what a Decoder accepts from a peer. Zero (or negative)
// fields take the defaults; MaxFrameBytes is capped at 1 GiB and
// MaxHeaderBytes at MaxFrameBytes, so offsets cannot overflow.
type Limits struct {
	MaxFrameBytes  int // whole frame incl. command, headers, body and NUL; 0 = 64 KiB
	MaxHeaders     int // header lines per frame; 0 = 32
	MaxHeaderBytes int // one header line without its EOL; 0 = 4 KiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = 64 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 32
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 4 << 10
	}
	l.MaxFrameBytes = min(l.MaxFrameBytes, 1<<30)
	l.MaxHeaderBytes = min(l.MaxHeaderBytes, l.MaxFrameBytes)
	return l
}

// retainBytes is the largest buffer capacity an idle Decoder keeps: a server
// holds one Decoder per connection, and one large frame must not pin its
// buffer for the connection's lifetime.
const retainBytes = 4 << 10

const (
	stateIdle    = iota // between frames: heart-beats allowed
	stateCommand        // reading the command line
	stateHeaders        // reading header lines
	stateBody           // reading the body and its NUL
)

// Decoder turns a byte stream into frames. The stream may be split at any
// point (STOMP over WebSocket gives no guarantee that a message holds exactly
// one frame). A Decoder is not safe for concurrent use.
//
// It checks the framing, not the meaning: server commands (MESSAGE, ...)
// are decoded too, and which commands a client may send, which headers they
// require and which may carry a body is left to the server.
type Decoder struct {
	lim Limits
	buf []byte // the start of an incomplete frame, carried between Feeds
	err error  // sticky: after an error the connection is to be closed

	// The frame being decoded. Offsets count from the frame's first byte, so
	// they stay valid when the frame's bytes move into buf.
	state     int
	scan      int // where to resume: the bytes before it end no line or body
	lineStart int
	bodyStart int
	bodyLen   int // from content-length; -1 without one
	command   string
	literal   bool   // CONNECT, STOMP, CONNECTED: no unescaping
	text      []byte // decoded header keys and values, back to back
	spans     []span
}

// span locates a header in Decoder.text: the key is text[key:val], the value
// text[val:end].
type span struct{ key, val, end int }

// NewDecoder returns a Decoder enforcing lim.
func NewDecoder(lim Limits) *Decoder {
	d := &Decoder{lim: lim.withDefaults()}
	d.reset()
	return d
}

// Buffered reports how many bytes of an incomplete frame are held. It never
// exceeds Limits.MaxFrameBytes.
func (d *Decoder) Buffered() int { return len(d.buf) }

// Feed appends data and returns every complete frame now available, plus how
// many heart-beat EOLs were seen (including the optional EOLs after a frame's
// NUL, which are indistinguishable from them). Feed does not retain data.
//
// After an error the decoder is unusable (the connection is to be closed):
// Feed returns the frames decoded before the offending bytes together with
// the error, and the same error on every later call. Errors are
// *ProtocolError.
func (d *Decoder) Feed(data []byte) (frames []*Frame, heartbeats int, err error) {
	if d.err != nil {
		return nil, 0, d.err
	}
	// Decode straight from data unless an incomplete frame is waiting:
	// most WebSocket messages hold whole frames, so nothing is copied.
	src, buffered := data, len(d.buf) > 0
	if buffered {
		d.buf = append(d.buf, data...)
		src = d.buf
	}
	off := 0 // start of the current frame in src
	for off < len(src) {
		if d.state == stateIdle {
			for off < len(src) {
				if src[off] == '\n' {
					off++
				} else if src[off] == '\r' && off+1 < len(src) && src[off+1] == '\n' {
					off += 2
				} else {
					break
				}
				heartbeats++
			}
			// A trailing '\r' may yet become a heart-beat.
			if off == len(src) || (off+1 == len(src) && src[off] == '\r') {
				break
			}
			d.state = stateCommand
		}
		f, n, err := d.decode(src[off:])
		if err != nil {
			d.err, d.buf, d.text, d.spans = err, nil, nil, nil
			return frames, heartbeats, err
		}
		if f == nil {
			break
		}
		frames = append(frames, f)
		off += n
	}

	rest := src[off:]
	switch {
	case !buffered:
		d.buf = append(d.buf[:0], rest...)
	case off > 0: // never when nothing was consumed: that would copy the same bytes on every Feed
		d.buf = d.buf[:copy(d.buf, rest)]
	}
	// Give back what a large message left behind. Halving len is needed to
	// get here again, so the copies stay linear in the input.
	if cap(d.buf) > retainBytes && cap(d.buf) > 2*len(d.buf) {
		d.buf = bytes.Clone(d.buf)
	}
	return frames, heartbeats, nil
}

// reset prepares for the next frame.
func (d *Decoder) reset() {
	d.state, d.scan, d.lineStart, d.bodyStart, d.bodyLen = stateIdle, 0, 0, 0, -1
	d.command, d.literal = "", false
	if cap(d.text) > retainBytes {
		d.text = nil
	}
	d.text, d.spans = d.text[:0], d.spans[:0]
}

// decode continues the frame that starts at b[0]. It returns the frame and
// its length once complete, or a nil frame if more bytes are needed.
func (d *Decoder) decode(b []byte) (*Frame, int, error) {
	frameMax := d.lim.MaxFrameBytes
	for d.state != stateBody {
		lineMax := d.lim.MaxHeaderBytes
		if d.state == stateCommand {
			lineMax = maxCommandLen
		}
		// Scan only the bytes the line may legally span: lineMax bytes of
		// text and one more for its '\r' or '\n'.
		limit := min(d.lineStart+lineMax+1, frameMax)
		end := min(len(b), limit)
		w := b[d.scan:end]
		i := bytes.IndexByte(w, '\n')
		if i >= 0 {
			w = w[:i]
		}
		if bytes.IndexByte(w, 0) >= 0 {
			return nil, 0, protocolError("NUL octet before the end of the headers")
		}
		eol := d.scan + i
		if i < 0 {
			d.scan = end
			if end < limit {
				return nil, 0, nil
			}
			if limit == frameMax {
				return nil, 0, errFrameTooLarge(frameMax)
			}
			// The window is full: only a "\r\n" straddling its end is legal.
			if b[end-1] != '\r' || (end < len(b) && b[end] != '\n') {
				return nil, 0, d.lineTooLong(b[d.lineStart:end])
			}
			if end == len(b) {
				return nil, 0, nil
			}
			eol = end
		}
		line := b[d.lineStart:eol]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		d.scan, d.lineStart = eol+1, eol+1
		if err := d.line(line); err != nil {
			return nil, 0, err
		}
	}

	if d.bodyLen >= 0 {
		end := d.bodyStart + d.bodyLen
		if len(b) <= end {
			return nil, 0, nil
		}
		if b[end] != 0 {
			return nil, 0, protocolError("body is not followed by a NUL octet at content-length")
		}
		return d.finish(b[d.bodyStart:end]), end + 1, nil
	}
	end := min(len(b), frameMax)
	i := bytes.IndexByte(b[d.scan:end], 0)
	if i < 0 {
		d.scan = end
		if end == frameMax {
			return nil, 0, errFrameTooLarge(frameMax)
		}
		return nil, 0, nil
	}
	nul := d.scan + i
	return d.finish(b[d.bodyStart:nul]), nul + 1, nil
}

func (d *Decoder) lineTooLong(line []byte) error {
	if d.state == stateCommand {
		return protocolError("unknown command " + quote(line))
	}
	return errHeaderTooLarge(d.lim.MaxHeaderBytes)
}

// line handles a complete command or header line, without its EOL.
func (d *Decoder) line(line []byte) error {
	if d.state == stateCommand {
		cmd, ok := lookupCommand(line)
		if !ok {
			return protocolError("unknown command " + quote(line))
		}
		d.command, d.literal, d.state = cmd, literal(cmd), stateHeaders
		return nil
	}
	if len(line) == 0 {
		d.state, d.bodyStart = stateBody, d.scan
		// Reject an oversized body before it arrives.
		if d.bodyLen >= 0 && d.bodyStart+d.bodyLen+1 > d.lim.MaxFrameBytes {
			return errFrameTooLarge(d.lim.MaxFrameBytes)
		}
		return nil
	}
	if len(d.spans) == d.lim.MaxHeaders {
		return errTooManyHeaders(d.lim.MaxHeaders)
	}
	if !utf8.Valid(line) {
		return protocolError("header is not valid UTF-8")
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return protocolError("header line without ':' " + quote(line))
	}
	if colon == 0 {
		return protocolError("header with an empty name " + quote(line))
	}
	sp := span{key: len(d.text)}
	var err error
	if d.text, err = d.appendText(d.text, line[:colon]); err != nil {
		return err
	}
	sp.val = len(d.text)
	// A raw ':' in the value is tolerated: clients commonly send them.
	if d.text, err = d.appendText(d.text, line[colon+1:]); err != nil {
		return err
	}
	sp.end = len(d.text)
	if d.bodyLen < 0 && string(d.text[sp.key:sp.val]) == "content-length" {
		n, ok := parseLength(d.text[sp.val:sp.end], d.lim.MaxFrameBytes)
		if !ok {
			return protocolError("invalid content-length " + quote(d.text[sp.val:sp.end]))
		}
		if n > d.lim.MaxFrameBytes {
			return errFrameTooLarge(d.lim.MaxFrameBytes)
		}
		d.bodyLen = n
	}
	d.spans = append(d.spans, sp)
	return nil
}

// appendText appends a header key or value, decoding escapes unless the
// frame is one of the unescaped ones.
func (d *Decoder) appendText(dst, s []byte) ([]byte, error) {
	if d.literal {
		return append(dst, s...), nil
	}
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...), nil
		}
		dst = append(dst, s[:i]...)
		if i+1 == len(s) {
			return dst, protocolError(`header ends with an incomplete escape "\\"`)
		}
		var c byte
		switch s[i+1] {
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 'c':
			c = ':'
		case '\\':
			c = '\\'
		default:
			_, size := utf8.DecodeRune(s[i+1:])
			return dst, protocolError("undefined escape sequence " + quote(s[i:i+1+size]) + " in header")
		}
		dst = append(dst, c)
		s = s[i+2:]
	}
}

// parseLength parses a content-length value: decimal digits only, as the
// spec defines no sign or spaces. Values above limit are returned as
// limit+1 so that a huge number cannot overflow.
func parseLength(b []byte, limit int) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= limit {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, limit+1), true
}

// finish builds the frame from the decoded headers and body and resets the
// decoder for the next frame.
func (d *Decoder) finish(body []byte) *Frame {
	f := &Frame{Command: d.command}
	if len(d.spans) > 0 {
		s := string(d.text) // one allocation for all keys and values
		f.Headers = make([]Header, len(d.spans))
		for i, sp := range d.spans {
			f.Headers[i] = Header{s[sp.key:sp.val], s[sp.val:sp.end]}
		}
	}
	if len(body) > 0 {
		f.Body = bytes.Clone(body)
	}
	d.reset()
	return f
}
