package handlers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoomBulkheadBoundsOneRoomAndLetsOthersThrough(t *testing.T) {
	b := NewRoomBulkhead(2)
	ctx := context.Background()
	var running, most atomic.Int32
	hold := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			release, err := b.Enter(ctx, "storm")
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-hold
			running.Add(-1)
			release()
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// The storm holds its 2 slots and 4 wait: the room next door enters at once.
	next, err := b.Enter(ctx, "next-door")
	if err != nil {
		t.Fatal(err)
	}
	next()
	// A waiter that gives up leaves, taking nothing.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.Enter(short, "storm"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a waiter past its deadline: %v", err)
	}
	close(hold)
	wg.Wait()
	if most.Load() != 2 {
		t.Fatalf("%d fetches of one room ran at once, want 2", most.Load())
	}
	if b.Rooms() != 0 {
		t.Fatalf("%d rooms still tracked after every fetch ended", b.Rooms())
	}
	var unbounded *RoomBulkhead
	release, err := unbounded.Enter(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	release()
}
