package benchkit

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Hub is a baseline server's fan-out from memory, in the manner of Surge's
// push hub: per topic (a complex, a room) its subscribers, each with a
// bounded buffer; Publish never waits, and drops a subscriber whose buffer
// is full. It numbers each topic's notices (Next) and counts what /stats
// reports (ServeStats).
type Hub[T any] struct {
	buffer   int
	mu       sync.Mutex
	subs     map[string]map[*Sub[T]]struct{}
	position map[string]int64

	subscribers, dropped, delivered atomic.Int64
}

// Sub is one subscriber of a Hub; a connection's struct may hold it.
type Sub[T any] struct {
	C    chan T        // what is published to it; only the hub sends
	Slow chan struct{} // closed when the hub dropped it for a full buffer
	once sync.Once
}

// NewHub is a hub whose subscribers buffer up to buffer notices each.
func NewHub[T any](buffer int) *Hub[T] {
	return &Hub[T]{buffer: buffer, subs: map[string]map[*Sub[T]]struct{}{}, position: map[string]int64{}}
}

// Subscribe makes s's channels and adds it to topic's subscribers.
func (h *Hub[T]) Subscribe(topic string, s *Sub[T]) {
	s.C, s.Slow = make(chan T, h.buffer), make(chan struct{})
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[topic]
	if set == nil {
		set = map[*Sub[T]]struct{}{}
		h.subs[topic] = set
	}
	set[s] = struct{}{}
	h.subscribers.Add(1)
}

// Unsubscribe removes s from topic's subscribers, if the hub has not dropped
// it already.
func (h *Hub[T]) Unsubscribe(topic string, s *Sub[T]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[topic][s]; ok {
		delete(h.subs[topic], s)
		h.subscribers.Add(-1)
	}
}

// Next is topic's next position (1, 2, ...).
func (h *Hub[T]) Next(topic string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.position[topic]++
	return h.position[topic]
}

// Publish hands v to every subscriber of topic without waiting; one whose
// buffer is full is dropped, its Slow closed.
func (h *Hub[T]) Publish(topic string, v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[topic] {
		select {
		case s.C <- v:
			h.delivered.Add(1)
		default:
			delete(h.subs[topic], s)
			h.subscribers.Add(-1)
			h.dropped.Add(1)
			s.once.Do(func() { close(s.Slow) })
		}
	}
}

// ServeStats answers GET /stats: the hub's counts and this process's Go
// figures (GoStats, as Surge's /metrics tells them).
func (h *Hub[T]) ServeStats(w http.ResponseWriter, _ *http.Request) {
	st := RuntimeStats()
	st.Subscribers = float64(h.subscribers.Load())
	st.Dropped = float64(h.dropped.Load())
	st.Delivered = float64(h.delivered.Load())
	WriteStats(w, st)
}

// DecodeBody decodes a baseline request's JSON body (at most 64 KiB) into
// v; if that fails, or valid (of the path's id) is false, it answers 400 and
// returns false.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any, valid bool) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil || !valid {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return false
	}
	return true
}

// Accepted answers 202 with body (JSON) and flushes it, so that what the
// baseline does next (its Publish) follows the answer on its way, as
// Surge's push follows its 202.
func Accepted(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(body)) //nolint:errcheck
	w.(http.Flusher).Flush()
}
