package handlers

import (
	"context"
	"sync"
)

// RoomBulkhead bounds how many fetches of one room run at once in this
// process. A room in a storm (700 clients fetching at once) would
// otherwise hold every Redis connection and every run-queue slot, and a
// fetch of the room next door would wait behind hundreds of its fetches;
// with the bulkhead, the storm's fetches beyond the limit wait their turn
// parked (costing nothing) and the neighbour's goes straight through. The
// storm's own throughput is the same: the CPU was the limit, not the
// concurrency.
type RoomBulkhead struct {
	limit int
	mu    sync.Mutex
	rooms map[string]*roomSlots
}

type roomSlots struct {
	free  chan struct{} // a token per fetch that may run
	users int           // fetches running or waiting: the entry goes with the last
}

// NewRoomBulkhead lets limit fetches of a room run at once (0: no limit).
func NewRoomBulkhead(limit int) *RoomBulkhead {
	return &RoomBulkhead{limit: limit, rooms: map[string]*roomSlots{}}
}

// Enter waits for a slot of the room (or ctx) and returns its release.
func (b *RoomBulkhead) Enter(ctx context.Context, roomID string) (func(), error) {
	if b == nil || b.limit <= 0 {
		return func() {}, nil
	}
	b.mu.Lock()
	s, ok := b.rooms[roomID]
	if !ok {
		s = &roomSlots{free: make(chan struct{}, b.limit)}
		for range b.limit {
			s.free <- struct{}{}
		}
		b.rooms[roomID] = s
	}
	s.users++
	b.mu.Unlock()
	leave := func() {
		b.mu.Lock()
		if s.users--; s.users == 0 {
			delete(b.rooms, roomID)
		}
		b.mu.Unlock()
	}
	select {
	case <-s.free:
		return func() { s.free <- struct{}{}; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// Rooms is how many rooms have fetches running or waiting (tests).
func (b *RoomBulkhead) Rooms() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.rooms)
}
