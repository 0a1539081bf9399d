package stomp

import (
	"errors"
	"strconv"
)

// Limit violations. Decoder returns them wrapped in a *ProtocolError, so
// both errors.Is and errors.As work.
var (
	ErrFrameTooLarge  = errors.New("stomp: frame too large")
	ErrTooManyHeaders = errors.New("stomp: too many headers")
	ErrHeaderTooLarge = errors.New("stomp: header line too large")
)

// ProtocolError reports input that violates the protocol or a limit. After
// one the connection is to be closed, ideally after an ERROR frame with
// Reason as its message header.
type ProtocolError struct {
	// Reason is short and readable. It quotes at most a short, escaped
	// excerpt of the input, so it is safe to echo to the client.
	Reason string
	err    error // the limit sentinel, if any
}

func (e *ProtocolError) Error() string { return "stomp: " + e.Reason }

// Unwrap returns the limit sentinel (ErrFrameTooLarge, ...) or nil.
func (e *ProtocolError) Unwrap() error { return e.err }

func protocolError(reason string) error { return &ProtocolError{Reason: reason} }

func errFrameTooLarge(limit int) error {
	return &ProtocolError{Reason: "frame exceeds " + strconv.Itoa(limit) + " bytes", err: ErrFrameTooLarge}
}

func errTooManyHeaders(limit int) error {
	return &ProtocolError{Reason: "frame has more than " + strconv.Itoa(limit) + " headers", err: ErrTooManyHeaders}
}

func errHeaderTooLarge(limit int) error {
	return &ProtocolError{Reason: "header line exceeds " + strconv.Itoa(limit) + " bytes", err: ErrHeaderTooLarge}
}

// maxExcerpt bounds how much client input an error message quotes.
const maxExcerpt = 24

// quote returns a short excerpt of client input as a printable ASCII Go
// string literal.
func quote(b []byte) string {
	if len(b) > maxExcerpt {
		return strconv.QuoteToASCII(string(b[:maxExcerpt])) + "..."
	}
	return strconv.QuoteToASCII(string(b))
}
