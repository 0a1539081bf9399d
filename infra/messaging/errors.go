package messaging

import (
	"context"
	"errors"
)

// shouldPoison keeps shutdown out of the poison queue: a handler cut short by
// a closing router is nacked and redelivered, not poisoned.
func shouldPoison(err error) bool {
	return !errors.Is(err, context.Canceled)
}
