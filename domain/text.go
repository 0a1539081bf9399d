package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CleanText is the one rule for text a user sends (names, ids, messages):
// valid UTF-8, normalised to NFC (so "é" typed two ways is one value),
// trimmed of surrounding space, and free of control and format characters
// (NUL, ANSI escapes, bidi overrides), which no name needs and which
// terminals, logs and PostgreSQL treat specially. ok is false when the
// text holds something that cannot be cleaned away: invalid bytes or
// control characters. Newlines and tabs are refused too unless multiline.
func CleanText(s string, multiline bool) (clean string, ok bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = strings.TrimSpace(norm.NFC.String(s))
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf) || r == utf8.RuneError {
			return "", false
		}
	}
	return s, true
}

// CleanID is CleanText for an identifier that travels in URL paths and
// stream ids: it may not contain '/' or be "." or "..", and must be
// 1..maxRunes characters.
func CleanID(s string, maxRunes int) (string, bool) {
	s, ok := CleanText(s, false)
	if !ok || s == "" || s == "." || s == ".." || strings.ContainsRune(s, '/') || utf8.RuneCountInString(s) > maxRunes {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return s, true
}

// ValidSegment says whether id is 1..maxLen characters of [A-Za-z0-9._-],
// not "." or "..": the ids Surge mints or accepts as URL path segments,
// stream ids, object keys and STOMP destinations (rooms, complexes,
// templates).
func ValidSegment(id string, maxLen int) bool {
	if len(id) < 1 || len(id) > maxLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
