package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/surge-platform/surge/handlers"
)

// Admissions with an unknown outcome are released by their own token once
// the gate answers again; a later admission of the same user stays.
func TestAmbiguousAdmissionsAreReleasedWhenRedisIsBack(t *testing.T) {
	gate := newFakeGate()
	gate.admitted["spring/u1"] = "t-old" // the ambiguous admission took the slot
	gate.admitted["spring/u2"] = "t-new" // u2's ambiguous attempt took nothing; a later one did
	gate.relErr = errors.New("redis unreachable")
	r := &handlers.ReleaseAmbiguousAdmissions{Gate: gate, Interval: 20 * time.Millisecond, Max: 10, Logger: slog.New(slog.DiscardHandler)}
	r.Add("spring", "u1", "t-old")
	r.Add("spring", "u2", "t-lost")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // several passes while Redis is unreachable
	if r.Pending() != 2 {
		t.Fatalf("pending %d while Redis is down, want 2", r.Pending())
	}
	gate.mu.Lock()
	gate.relErr = nil
	gate.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for r.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if r.Pending() != 0 || fmt.Sprint(gate.admitted) != "map[spring/u2:t-new]" {
		t.Fatalf("pending %d, admitted %v: want u1 released, u2's later admission kept", r.Pending(), gate.admitted)
	}
}

func TestAmbiguousAdmissionsAreBounded(t *testing.T) {
	r := &handlers.ReleaseAmbiguousAdmissions{Gate: newFakeGate(), Interval: time.Hour, Max: 3, Logger: slog.New(slog.DiscardHandler)}
	for i := range 5 {
		r.Add("spring", fmt.Sprintf("u%d", i), "t")
	}
	if r.Pending() != 3 {
		t.Fatalf("pending %d, want the bound 3", r.Pending())
	}
}
