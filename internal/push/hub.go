// Package push fans payloads out to the subscribers of one process: a
// single upstream subscription per process (a live Kafka consumer, a Redis
// channel) publishes into the Hub, and every WebSocket, SSE stream or held
// request of the process subscribes to the keys it cares about.
//
// The hub never blocks its publisher. Each subscriber has a bounded buffer;
// one that falls behind is dropped (its Done channel closes and Err is
// ErrSlow), and must resync from the last position it saw: no subscriber can
// hold up the others, and none silently misses a message.
package push

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Message is one payload for the subscribers of Key.
type Message struct {
	Key      string // what subscribers subscribe to ("line/A", "room/r1", "price/p1")
	Type     string // the kind of payload ("alert", "message", ...), for the transport
	Position int64  // the key's own order (0: none); subscribers resume after it
	Payload  []byte
}

// Why a subscription ended.
var (
	ErrSlow   = errors.New("subscriber too slow: its buffer overflowed; resync from the last position")
	ErrClosed = errors.New("the hub is shutting down")
)

// Hub is a process's fan-out.
type Hub struct {
	mu       sync.Mutex
	subs     map[string]map[*Subscription]struct{}
	closed   bool
	closedCh chan struct{}

	// heads is, per key with subscribers, the highest position published:
	// what a feed watcher compares with the feed's head in the store.
	heads map[string]int64

	dropped   prometheus.Counter
	delivered prometheus.Counter

	// Coalescing (SetCoalescing): a key with at least coalesceAt
	// subscribers gets its messages in batches, linger apart.
	coalesceAt int
	linger     time.Duration
	pending    map[string][]*Message // guarded by mu
}

// MaxBatch is the most messages a coalesced batch holds: a batch is handed
// to each subscriber in a row, so a subscriber's buffer (SURGE_PUSH_BUFFER,
// 256) must hold one with room to spare.
const MaxBatch = 64

// SetCoalescing makes the messages of a key with at least subscribers
// subscribers wait up to linger and reach them together (0: never). Every
// message wakes every subscriber's goroutine and costs it a write; in a
// room of 5,000 streams at 50 messages a second that is 250k of each a
// second, which two cores cannot do (docs/benchmarks.md, hot chat); a
// batch of linger's messages costs one. Call it before the first Publish.
func (h *Hub) SetCoalescing(subscribers int, linger time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.coalesceAt, h.linger = subscribers, linger
}

// NewHub creates a hub; its metrics (surge_push_subscribers,
// surge_push_delivered_total, surge_push_dropped_total) go to reg if not nil.
func NewHub(reg prometheus.Registerer) (*Hub, error) {
	h := &Hub{
		subs:     map[string]map[*Subscription]struct{}{},
		heads:    map[string]int64{},
		pending:  map[string][]*Message{},
		closedCh: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "push_dropped_total",
			Help: "Subscribers dropped because their buffer overflowed (they resync from their last position)."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "surge", Name: "push_delivered_total",
			Help: "Messages handed to a local subscriber."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.dropped, h.delivered, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "surge", Name: "push_subscribers", Help: "Local subscribers (WebSocket and SSE clients, held requests).",
		}, func() float64 { return float64(h.Subscribers()) })} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// Subscription is one subscriber (a connection, a stream, a held request):
// one bounded channel for every key it follows.
type Subscription struct {
	hub  *Hub
	keys map[string]struct{} // guarded by hub.mu
	once bool                // ends at its first message (a held request waiting for one outcome)
	ch   chan *Message
	done chan struct{}
	end  sync.Once
	err  error
}

// NewSubscription is a subscriber following no key yet (Add some); up to
// buffer messages may wait for it, and one that lets more wait is dropped.
func (h *Hub) NewSubscription(buffer int) *Subscription {
	return &Subscription{hub: h, keys: map[string]struct{}{}, ch: make(chan *Message, max(1, buffer)), done: make(chan struct{})}
}

// Subscribe delivers every message published for key from now on.
func (h *Hub) Subscribe(key string, buffer int) *Subscription {
	s := h.NewSubscription(buffer)
	s.Add(key)
	return s
}

// Wait ends (Done closes, Err is nil) at the next message for key: for a
// request held until one outcome is announced.
func (h *Hub) Wait(key string) *Subscription {
	s := h.NewSubscription(1)
	s.once = true
	s.Add(key)
	return s
}

// Add follows key too (messages published from now on).
func (s *Subscription) Add(key string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.finish(ErrClosed)
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	set := h.subs[key]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.subs[key] = set
	}
	set[s] = struct{}{}
	s.keys[key] = struct{}{}
}

// Remove stops following key.
func (s *Subscription) Remove(key string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unfollow(s, key)
}

func (h *Hub) unfollow(s *Subscription, key string) {
	delete(s.keys, key)
	if set := h.subs[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, key)
			delete(h.heads, key)
		}
	}
}

// Watched is, per key with subscribers, the highest position published
// to it since it had them (0: none yet).
func (h *Hub) Watched() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int64, len(h.subs))
	for key := range h.subs {
		out[key] = h.heads[key]
	}
	return out
}

// MarkHead tells the subscribers of key that its feed reaches position:
// one that has seen less reads the rest from the store. A message lost on
// its way to this process (Kafka lost it, the consumer reconnected) is so
// delivered even if nothing follows it.
func (h *Hub) MarkHead(key string, position int64) {
	h.Publish(Message{Key: key, Position: position})
}

// C delivers the messages (shared between subscribers: do not modify).
func (s *Subscription) C() <-chan *Message { return s.ch }

// Done is closed when the subscription ends: dropped (ErrSlow), the hub
// closed (ErrClosed), Close, or a Wait's message arrived (nil).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended (nil while it runs or after Close or
// a Wait's message).
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close unsubscribes from every key.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.finish(nil)
}

func (s *Subscription) finish(err error) {
	s.end.Do(func() {
		s.err = err
		close(s.done)
	})
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key := range s.keys {
		h.unfollow(s, key)
	}
}

// Publish hands m to every subscriber of m.Key without waiting for any (or,
// for a key SetCoalescing gathers, within its linger); a subscriber whose
// buffer is full is dropped with ErrSlow. It returns how many subscribers
// got it (or will).
func (h *Hub) Publish(m Message) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[m.Key]
	if len(set) > 0 && m.Position > h.heads[m.Key] {
		h.heads[m.Key] = m.Position
	}
	msg := &m
	// A batch being gathered takes every later message of its key, so
	// that the order holds.
	if batch, gathering := h.pending[m.Key]; gathering || (h.linger > 0 && h.coalesceAt > 0 && len(set) >= h.coalesceAt) {
		batch = append(batch, msg)
		if len(batch) >= MaxBatch {
			// Out at once: handed over in a row, a longer batch would
			// overflow the buffer of a subscriber that keeps up. (The
			// linger's timer flushes whatever gathers after it, early.)
			delete(h.pending, m.Key)
			h.deliver(set, batch...)
			return len(set)
		}
		h.pending[m.Key] = batch
		if !gathering {
			time.AfterFunc(h.linger, func() { h.flush(m.Key) })
		}
		return len(set)
	}
	return h.deliver(set, msg)
}

// flush hands a key's gathered batch to its subscribers.
func (h *Hub) flush(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	batch := h.pending[key]
	delete(h.pending, key)
	h.deliver(h.subs[key], batch...)
}

// deliver hands msgs to every subscriber in set, each subscriber all of
// them in a row (so its goroutine wakes once for the batch); one whose
// buffer is full is dropped with ErrSlow (h.mu held).
func (h *Hub) deliver(set map[*Subscription]struct{}, msgs ...*Message) int {
	n := 0
	for s := range set {
	batch:
		for _, msg := range msgs {
			select {
			case s.ch <- msg:
				n++
				if s.once {
					h.dropAll(s)
					s.finish(nil)
					break batch
				}
			default:
				h.dropAll(s)
				s.finish(ErrSlow)
				h.dropped.Inc()
				break batch
			}
		}
	}
	h.delivered.Add(float64(n))
	return n
}

// dropAll unfollows every key of s (h.mu held).
func (h *Hub) dropAll(s *Subscription) {
	for key := range s.keys {
		h.unfollow(s, key)
	}
}

// Closed is closed when the hub shuts down: connections that follow no key
// yet end too.
func (h *Hub) Closed() <-chan struct{} { return h.closedCh }

// Subscribers counts the subscriptions following some key.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[*Subscription]struct{}{}
	for _, set := range h.subs {
		for s := range set {
			seen[s] = struct{}{}
		}
	}
	return len(seen)
}

// Close ends every subscription with ErrClosed (so streams and held
// requests return and their connections close) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		close(h.closedCh)
	}
	h.closed = true
	for key, set := range h.subs {
		for s := range set {
			s.finish(ErrClosed)
			delete(s.keys, key)
		}
		delete(h.subs, key)
	}
}
