package messaging

import (
	"context"
	"log/slog"
	"maps"

	"github.com/ThreeDotsLabs/watermill"
)

// NewLogger adapts logger for Watermill. Watermill's info logs are
// per-subscription chatter, so they go out at debug.
//
// Watermill's own slog adapter converts a call's fields, and runs
// slog.Logger.With (which encodes them for the handler), before slog
// decides whether the level is on. watermill-sql and the router do that
// for every message they move, at trace and debug, which cost a few per
// cent of the outbox's CPU for lines that were never written. This adapter
// checks the level first and keeps With fields until a line is written.
func NewLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return &levelGatedLogger{slog: logger}
}

type levelGatedLogger struct {
	slog   *slog.Logger
	parent *levelGatedLogger   // With chains; merged only for lines written
	fields watermill.LogFields // this link's With fields
}

func (l *levelGatedLogger) log(level slog.Level, msg string, fields watermill.LogFields, extra ...any) {
	if !l.slog.Enabled(context.Background(), level) {
		return
	}
	all := watermill.LogFields{}
	var chain []*levelGatedLogger
	for c := l; c != nil; c = c.parent {
		chain = append(chain, c)
	}
	for i := len(chain) - 1; i >= 0; i-- { // outermost first, so inner fields win
		maps.Copy(all, chain[i].fields)
	}
	maps.Copy(all, fields)
	args := make([]any, 0, 2*len(all)+len(extra))
	for k, v := range all {
		args = append(args, k, v)
	}
	l.slog.Log(context.Background(), level, msg, append(args, extra...)...)
}

func (l *levelGatedLogger) Error(msg string, err error, fields watermill.LogFields) {
	l.log(slog.LevelError, msg, fields, "error", err)
}

func (l *levelGatedLogger) Info(msg string, fields watermill.LogFields) {
	l.log(slog.LevelDebug, msg, fields)
}

func (l *levelGatedLogger) Debug(msg string, fields watermill.LogFields) {
	l.log(slog.LevelDebug, msg, fields)
}

func (l *levelGatedLogger) Trace(msg string, fields watermill.LogFields) {
	l.log(watermill.LevelTrace, msg, fields)
}

func (l *levelGatedLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return &levelGatedLogger{slog: l.slog, parent: l, fields: fields}
}
