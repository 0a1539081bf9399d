// Package domain holds what every aggregate shares: the error kinds that the
// API maps to HTTP statuses and the router maps to "retry" or "poison".
package domain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind says what went wrong in terms a caller can act on.
type Kind int

const (
	// KindInvalid: the input breaks a rule of the domain. Retrying cannot help.
	KindInvalid Kind = iota + 1
	// KindNotFound: the thing addressed does not exist.
	KindNotFound
	// KindConflict: the request clashes with the current state (a duplicate).
	KindConflict
	// KindGone: the thing existed but can no longer serve the request (sold out).
	KindGone
	// KindForbidden: the caller may not do this (not theirs to do).
	KindForbidden
	// KindUnauthenticated: the caller did not prove who they are (no or a
	// bad token).
	KindUnauthenticated
	// KindUnavailable: the request cannot be decided right now (a fast path
	// is being repaired); the same request succeeds if retried shortly.
	KindUnavailable
)

// Error is a domain error with a stable machine-readable code.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Invalid builds a KindInvalid error.
func Invalid(code, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFound builds a KindNotFound error.
func NotFound(code, format string, args ...any) error {
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Conflict builds a KindConflict error.
func Conflict(code, format string, args ...any) error {
	return &Error{Kind: KindConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Gone builds a KindGone error.
func Gone(code, format string, args ...any) error {
	return &Error{Kind: KindGone, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Forbidden builds a KindForbidden error.
func Forbidden(code, format string, args ...any) error {
	return &Error{Kind: KindForbidden, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unauthenticated builds a KindUnauthenticated error.
func Unauthenticated(code, format string, args ...any) error {
	return &Error{Kind: KindUnauthenticated, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable builds a KindUnavailable error.
func Unavailable(code, format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Code: code, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of a domain error anywhere in err's chain, or 0.
func KindOf(err error) Kind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return 0
}

// Event is implemented by every domain event: the versioned name it travels
// under on the wire and in the event store.
type Event interface {
	WireName() string
}

// ErrNotInFastPath is returned by a fast path (Redis) that holds nothing of
// what was asked: it may never have existed, or Redis lost it. Ask the
// record (the event store), never answer "not found" from it alone.
var ErrNotInFastPath = errors.New("not in the fast path")

// ErrConcurrentModification is returned by a repository when another writer
// appended to the same stream first. The handler reloads and decides again.
var ErrConcurrentModification = errors.New("stream was modified concurrently")

// SchemaVersion reads the version suffix of a wire name ("x.y.v3" -> 3; 1
// when there is none).
func SchemaVersion(wireName string) int {
	i := strings.LastIndex(wireName, ".v")
	if i < 0 {
		return 1
	}
	v, err := strconv.Atoi(wireName[i+2:])
	if err != nil {
		return 1
	}
	return v
}
