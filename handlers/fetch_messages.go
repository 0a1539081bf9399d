package handlers

import (
	"context"
	"time"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/projections"
)

// ChatTimeline is the rooms' Redis timeline: Fetch counts the fetch (every
// fetch is counted, for the detector) and reads a page in one round trip;
// Throttle is the per-client limiter shared by every instance.
type ChatTimeline interface {
	Fetch(ctx context.Context, roomID string, after int64, limit int) (projections.RoomPage, error)
	Throttle(ctx context.Context, roomID, client string, perSecond float64, burst int) (allowed bool, retryAfter time.Duration, err error)
}

// ChatHistory is the rooms' feed in the event store: messages older than
// Redis keeps, and everything while Redis is being rebuilt.
type ChatHistory interface {
	Messages(ctx context.Context, roomID string, after int64, limit int) ([]chat.MessageView, error)
}

// FetchMessages asks for a room's messages after a position; Client is who
// asks (the X-Client-ID header, else the remote address).
type FetchMessages struct {
	RoomID string
	After  int64
	Limit  int
	Client string
}

// MessagePage is a fetch's answer, or why not (Throttled).
type MessagePage struct {
	Messages   []chat.MessageView
	Position   int64 // the last message's, else After
	Hot        bool
	Throttled  bool          // the room runs hot and this client is over its rate
	RetryAfter time.Duration // when a throttled client may fetch again
}

// MaxFetch is the most messages one fetch returns.
const MaxFetch = 100

// FetchMessagesHandler serves a room's messages from the Redis timeline
// (the last 1,000), from the event store beyond it or while Redis is
// rebuilt. A room that runs hot is throttled per client (a GCRA limiter in
// Redis); a room that does not is never throttled.
type FetchMessagesHandler struct {
	Timeline ChatTimeline
	History  ChatHistory
	Rooms    ChatRepository
	// Rate and Burst of a client's fetches of a hot room; Rate 0: no throttling.
	Rate  float64
	Burst int
	// Bulkhead bounds one room's fetches running at once (nil: no bound).
	Bulkhead *RoomBulkhead
	// Shortcut refuses, without Redis, the fetches of a hot room the shared
	// limiter is sure to refuse (nil: every fetch asks Redis).
	Shortcut *HotRoomShortcut
	// Pages serves a page read from Redis within its TTL again (nil: every
	// fetch reads Redis).
	Pages *RecentPages
}

func (h FetchMessagesHandler) Handle(ctx context.Context, q FetchMessages) (MessagePage, error) {
	if !chat.ValidRoomID(q.RoomID) {
		return MessagePage{}, chat.ErrRoomNotFound
	}
	limit := min(max(q.Limit, 1), MaxFetch)
	// Before the bulkhead: a refused fetch of a storm does not wait for a
	// slot it would not use.
	if wait, refused := h.Shortcut.Refuse(q.RoomID, q.Client, time.Now()); refused {
		return MessagePage{Hot: true, Throttled: true, RetryAfter: wait}, nil
	}
	page, recent := h.Pages.Get(q.RoomID, q.After, limit, time.Now())
	if recent && !(page.Hot && h.Rate > 0) {
		// Answered without Redis (the fetch is counted by the tally).
		h.Shortcut.Observe(q.RoomID, q.Client, false, true, 0, time.Now())
		return h.answer(ctx, q, limit, page)
	}
	release, err := h.Bulkhead.Enter(ctx, q.RoomID)
	if err != nil {
		return MessagePage{}, err
	}
	defer release()
	if !recent {
		read := time.Now()
		if page, err = h.Timeline.Fetch(ctx, q.RoomID, q.After, limit); err != nil {
			return MessagePage{}, err
		}
		h.Pages.Put(q.RoomID, q.After, limit, page, read)
	}
	if !page.Hot {
		h.Shortcut.Observe(q.RoomID, q.Client, false, true, 0, time.Now())
	}
	if page.Hot && h.Rate > 0 {
		asked := time.Now() // not after: what the shortcut learns must not run ahead of the limiter
		allowed, retryAfter, err := h.Timeline.Throttle(ctx, q.RoomID, q.Client, h.Rate, h.Burst)
		if err != nil {
			return MessagePage{}, err
		}
		h.Shortcut.Observe(q.RoomID, q.Client, true, allowed, retryAfter, asked)
		if !allowed {
			return MessagePage{Hot: true, Throttled: true, RetryAfter: retryAfter}, nil
		}
	}
	return h.answer(ctx, q, limit, page)
}

// answer is the page a fetch gets from what Redis read (from the event
// store where Redis does not hold it all).
func (h FetchMessagesHandler) answer(ctx context.Context, q FetchMessages, limit int, page projections.RoomPage) (MessagePage, error) {
	var err error
	out := MessagePage{Messages: page.Messages, Hot: page.Hot}
	olderThanRedis := page.Oldest > 0 && q.After+1 < page.Oldest
	if !page.Known || !page.Complete || olderThanRedis {
		// Redis does not hold this room, or not all of it, or not that far
		// back: the event store answers.
		if !page.Known {
			room, err := h.Rooms.LoadRoom(ctx, q.RoomID)
			if err != nil {
				return MessagePage{}, err
			}
			if !room.Exists() {
				return MessagePage{}, chat.ErrRoomNotFound
			}
			out.Hot = room.Hot
		}
		if out.Messages, err = h.History.Messages(ctx, q.RoomID, q.After, limit); err != nil {
			return MessagePage{}, err
		}
	}
	if out.Messages == nil {
		out.Messages = []chat.MessageView{}
	}
	out.Position = q.After
	if n := len(out.Messages); n > 0 {
		out.Position = out.Messages[n-1].Position
	}
	return out, nil
}
