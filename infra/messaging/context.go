package messaging

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/internal/correlation"
)

// CorrelationID returns the correlation id of the work in ctx: the HTTP
// request's, or the one of the message being handled.
func CorrelationID(ctx context.Context) string {
	if id := correlation.ID(ctx); id != "" {
		return id
	}
	if msg := cqrs.OriginalMessageFromCtx(ctx); msg != nil {
		return middleware.MessageCorrelationID(msg)
	}
	return ""
}

// CausationID returns the id of the message that caused the work in ctx, if
// the work is the handling of a message.
func CausationID(ctx context.Context) string {
	if msg := cqrs.OriginalMessageFromCtx(ctx); msg != nil {
		return msg.UUID
	}
	return ""
}
