package stomp

import (
	"slices"
	"strconv"
)

// special marks the bytes appendText must look at; all others are copied
// in runs.
var special = [256]bool{'\\': true, ':': true, '\r': true, '\n': true, 0: true}

// replacement stands in for bytes a header cannot carry (NUL anywhere; EOLs,
// and ':' in keys, of unescaped frames): writing them would let header
// content change the framing.
const replacement = "\uFFFD"

// AppendFrame appends the encoding of f to dst and returns the extended
// buffer. Headers are escaped unless f.Command is CONNECT, STOMP or
// CONNECTED. A content-length header is added when the body is non-empty
// and f has none; an existing one is written as it is.
//
// @stomp/stompjs 7.5 unescapes values with chained replacements, so a
// backslash followed by 'r', 'n' or 'c' in a value reaches it altered
// (\\n on the wire becomes a backslash and a newline): keep backslashes out
// of values meant for it where that matters.
func AppendFrame(dst []byte, f *Frame) []byte {
	lit := literal(f.Command)
	// Grow once for the common case of nothing to escape.
	n := len(f.Command) + len(f.Body) + len("\ncontent-length:\n\n\x00") + 20
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	dst = slices.Grow(dst, n)

	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	hasLength := false
	for _, h := range f.Headers {
		dst = appendText(dst, h.Key, lit, true)
		dst = append(dst, ':')
		dst = appendText(dst, h.Value, lit, false)
		dst = append(dst, '\n')
		hasLength = hasLength || h.Key == "content-length"
	}
	if !hasLength && len(f.Body) > 0 {
		dst = append(dst, "content-length:"...)
		dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, f.Body...)
	return append(dst, 0)
}

// appendText appends a header key or value, escaped unless lit.
func appendText(dst []byte, s string, lit, key bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !special[c] {
			continue
		}
		var rep string
		switch {
		case c == 0:
			rep = replacement
		case lit && (c == '\r' || c == '\n' || (c == ':' && key)):
			rep = replacement
		case lit:
			continue
		case c == '\\':
			rep = `\\`
		case c == ':':
			rep = `\c`
		case c == '\r':
			rep = `\r`
		default: // '\n'
			rep = `\n`
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, rep...)
		start = i + 1
	}
	return append(dst, s[start:]...)
}
