package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain"
)

// Error is the one error shape of the API: {"error":{"code","message"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// errUnavailable hides internals behind a stable code.
var errUnavailable = newError(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; try again shortly")

// statusOf maps domain error kinds to HTTP statuses; this is the only place
// that does.
var statusOf = map[domain.Kind]int{
	domain.KindInvalid:  http.StatusUnprocessableEntity,
	domain.KindNotFound: http.StatusNotFound,
	domain.KindConflict: http.StatusConflict,
	domain.KindGone:     http.StatusGone,
	// Not theirs to do: authenticated, but not allowed.
	domain.KindForbidden:       http.StatusForbidden,
	domain.KindUnauthenticated: http.StatusUnauthorized,
	// Being repaired: retrying shortly succeeds (Retry-After), nothing was taken.
	domain.KindUnavailable: http.StatusServiceUnavailable,
}

// respondError writes err as the API's JSON error.
func respondError(c *gin.Context, err error) {
	var apiErr *Error
	var de *domain.Error
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &de):
		apiErr = newError(statusOf[de.Kind], de.Code, de.Message)
	default:
		loggerOf(c).ErrorContext(c.Request.Context(), "request failed", "err", err, "path", c.FullPath(), "correlation_id", c.GetString(correlationKey))
		apiErr = errUnavailable
	}
	if apiErr.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(apiErr.Status, gin.H{"error": apiErr})
}

const loggerKey = "logger"

// loggerOf is the server's logger (set by the first middleware).
func loggerOf(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.New(slog.DiscardHandler)
}
