// Package correlation carries the correlation id of a piece of work (an
// HTTP request, a message being handled) in its context. It is neutral
// ground: the API sets it, the messaging layer and the event store read it.
package correlation

import "context"

type key struct{}

// With stores id in ctx.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// ID is the correlation id stored in ctx ("" if none).
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
