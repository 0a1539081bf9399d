package messaging

import (
	"context"
	"errors"

	"github.com/surge-platform/surge/domain"
)

// PermanentError marks a failure that no retry can fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so the router skips retries and poisons the message.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent says whether retrying err is pointless: an undecodable payload,
// an unknown message type, or a violated domain rule.
func IsPermanent(err error) bool {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return true
	}
	return domain.KindOf(err) == domain.KindInvalid
}

// shouldPoison keeps shutdown out of the poison queue: a handler cut short by
// a closing router is nacked and redelivered, not poisoned.
func shouldPoison(err error) bool {
	return !errors.Is(err, context.Canceled)
}
