package handlers

import (
	"sync"

	"github.com/surge-platform/surge/domain/chat"
)

// KnownRooms remembers the rooms this process has seen exist. A room is
// never deleted, so once known it stays known: posting a message and
// opening a stream then ask neither Redis nor the store about it (under a
// storm of 5,000 streams, those round trips were what queued). Bounded:
// past max rooms it forgets them all and learns again.
type KnownRooms struct {
	mu    sync.RWMutex
	rooms map[string]*chat.Room
	max   int
}

// NewKnownRooms remembers up to max rooms.
func NewKnownRooms(max int) *KnownRooms {
	return &KnownRooms{rooms: map[string]*chat.Room{}, max: max}
}

// Room is a room known to exist (its other state may be stale: only its
// existence is remembered), or nil.
func (k *KnownRooms) Room(roomID string) *chat.Room {
	if k == nil {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.rooms[roomID]
}

// Has says whether the room is known to exist.
func (k *KnownRooms) Has(roomID string) bool {
	if k == nil {
		return false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.rooms[roomID]
	return ok
}

// Add remembers a room that exists (the room may be nil when only its
// existence is known).
func (k *KnownRooms) Add(roomID string, room *chat.Room) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur, ok := k.rooms[roomID]; ok && (cur != nil || room == nil) {
		return
	}
	if len(k.rooms) >= k.max {
		clear(k.rooms)
	}
	k.rooms[roomID] = room
}
