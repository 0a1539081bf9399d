package messaging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/surge-platform/surge/infra/messaging"
)

func TestLoggerWritesEnabledLinesWithTheirWithFieldsAndSkipsTheRest(t *testing.T) {
	var buf bytes.Buffer
	logger := messaging.NewLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	perMessage := logger.With(watermill.LogFields{"topic": "coupons.events", "n": 1}).With(watermill.LogFields{"n": 2, "msg_uuid": "m1"})
	perMessage.Trace("trace line", nil)
	perMessage.Debug("debug line", nil)
	perMessage.Info("info line (Watermill info goes out at debug)", nil)
	perMessage.Error("could not publish", errors.New("boom"), watermill.LogFields{"attempt": 3})

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want only the error:\n%s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "ERROR", "msg": "could not publish", "error": "boom", "topic": "coupons.events", "n": float64(2), "msg_uuid": "m1", "attempt": float64(3)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], v, lines[0])
		}
	}
}

func TestLoggerMapsWatermillInfoToDebug(t *testing.T) {
	var buf bytes.Buffer
	logger := messaging.NewLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	logger.Info("subscribed", watermill.LogFields{"topic": "t"})
	logger.Trace("trace stays off at debug", nil)
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"level":"DEBUG","msg":"subscribed","topic":"t"`) {
		t.Fatalf("got %d lines:\n%s", n, buf.String())
	}
}
