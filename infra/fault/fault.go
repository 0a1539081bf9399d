// Package fault says whether a failure is worth retrying. Adapters mark what
// no retry can fix (a payload that cannot be decoded, data PostgreSQL refuses
// as invalid); the router sends such messages to the poison queue at once
// instead of blocking their partition through every retry.
package fault

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/surge-platform/surge/domain"
)

// PermanentError marks a failure that no retry can fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that it is not retried (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent says whether retrying err is pointless: it was marked
// permanent, it breaks a domain rule, or PostgreSQL refused the data itself.
func IsPermanent(err error) bool {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return true
	}
	if domain.KindOf(err) == domain.KindInvalid {
		return true
	}
	return IsDataError(err)
}

// IsDataError says whether PostgreSQL rejected the data of a statement:
// SQLSTATE class 22 (data exception: invalid UTF-8, a value out of range)
// or 23 (integrity constraint violation). The same statement with the same
// data fails the same way every time. Callers that expect a particular
// constraint (a stream version conflict, a quota) check for it first.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	return pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23"
}

// SQLState returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Constraint returns the constraint a PostgreSQL error in err's chain names, or "".
func Constraint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}
