package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/internal/push"
)

// RoomStream is the chat flow's push port: GET /v1/rooms/{id}/stream, a
// Server-Sent Events stream of the room's feed (message, reaction, hot,
// cooled), each with id: <position>. A reconnect with Last-Event-ID first
// gets what it missed, then live, with no gap and no duplicate. Every
// instance streams every event to its own clients (a live consumer fills
// the process's hub); a slow client is dropped and reconnects, never
// blocking the others.
type RoomStream struct {
	Hub    *push.Hub
	Feed   RoomFeedReader
	Rooms  RoomExistence
	Buffer int           // events that may wait for one client
	Ping   time.Duration // a comment line this often keeps proxies and dead-client detection going
}

// RoomFeedReader reads a room's feed from the event store.
type RoomFeedReader interface {
	Feed(ctx context.Context, roomID string, after int64, limit int) ([]chat.FeedEntry, error)
	Last(ctx context.Context, roomID string) (int64, error)
}

// RoomExistence says whether a room exists (chat.ErrRoomNotFound if not).
type RoomExistence interface {
	Exists(ctx context.Context, roomID string) error
}

// RoomKey is the hub key of a room's events.
func RoomKey(roomID string) string { return "room/" + roomID }

const (
	sseWriteTimeout = 10 * time.Second
	sseCatchUpPage  = 500
)

func (s RoomStream) stream(c *gin.Context) {
	id, err := roomID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	after := int64(-1)
	if v := c.GetHeader("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			respondError(c, newError(http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID must be a position (an integer from 0)"))
			return
		}
		after = n
	}
	ctx := c.Request.Context()
	if err := s.Rooms.Exists(ctx, id); err != nil {
		respondError(c, err)
		return
	}
	// Follow the room in the hub first, then read the feed: nothing
	// published in between is missed.
	sub := s.Hub.Subscribe(RoomKey(id), s.Buffer)
	defer sub.Close()
	last := after
	if after < 0 {
		if last, err = s.Feed.Last(ctx, id); err != nil {
			respondError(c, err)
			return
		}
	}
	rc := http.NewResponseController(c.Writer)
	// The server's deadlines were for a request; a stream keeps going, and
	// each write gets its own deadline instead.
	rc.SetReadDeadline(time.Time{}) //nolint:errcheck
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := &sseWriter{rc: rc, out: bufio.NewWriterSize(c.Writer, 4096)}
	if err := w.raw("retry: 1000\n\n"); err != nil {
		return
	}
	if after >= 0 && !s.catchUp(ctx, w, id, &last, -1) {
		return
	}
	ping := time.NewTicker(s.Ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			// Too slow, or the server is shutting down: end the stream; the
			// client reconnects with Last-Event-ID and misses nothing.
			if errors.Is(sub.Err(), push.ErrSlow) {
				w.raw(": you fell behind; reconnect with Last-Event-ID\n\n") //nolint:errcheck
			}
			return
		case m := <-sub.C():
			// Write what is queued, then flush once: a stream that fell a
			// little behind catches up in one write, not one per event.
			ok := s.deliver(ctx, w, id, &last, m)
			for ok && len(sub.C()) > 0 {
				ok = s.deliver(ctx, w, id, &last, <-sub.C())
			}
			if !ok || w.flush() != nil {
				return
			}
		case <-ping.C:
			if err := w.raw(": ping\n\n"); err != nil {
				return
			}
		}
	}
}

// deliver writes one message of the hub (unflushed), reading the feed
// first when it shows a gap; false ends the stream.
func (s RoomStream) deliver(ctx context.Context, w *sseWriter, roomID string, last *int64, m *push.Message) bool {
	if m.Position <= *last {
		return true // a duplicate
	}
	if m.Payload == nil { // the feed's head: read what this stream missed
		return s.catchUp(ctx, w, roomID, last, m.Position+1)
	}
	if m.Position > *last+1 && !s.catchUp(ctx, w, roomID, last, m.Position) {
		return false
	}
	w.write(m.Position, m.Type, m.Payload)
	*last = m.Position
	return true
}

// catchUp writes the feed after *last, up to (not including) until (-1:
// the end).
func (s RoomStream) catchUp(ctx context.Context, w *sseWriter, roomID string, last *int64, until int64) bool {
	for {
		limit := sseCatchUpPage
		if until >= 0 {
			limit = int(min(int64(limit), until-*last-1))
			if limit <= 0 {
				return true
			}
		}
		page, err := s.Feed.Feed(ctx, roomID, *last, limit)
		if err != nil {
			return false // the client reconnects with Last-Event-ID
		}
		for _, e := range page {
			if err := w.event(e.Position, e.Event, e.Data); err != nil {
				return false
			}
			*last = e.Position
		}
		if len(page) < limit {
			return true
		}
	}
}

// sseWriter writes Server-Sent Events, each flushed under its own deadline
// (a dead client is dropped within it).
type sseWriter struct {
	rc  *http.ResponseController
	out *bufio.Writer
}

func (w *sseWriter) event(position int64, name string, data []byte) error {
	w.write(position, name, data)
	return w.flush()
}

// write buffers an event (the bufio.Writer writes through when full; its
// error comes back from the next flush).
func (w *sseWriter) write(position int64, name string, data []byte) {
	w.out.WriteString("id: ")
	w.out.WriteString(strconv.FormatInt(position, 10))
	w.out.WriteString("\nevent: ")
	w.out.WriteString(name)
	w.out.WriteString("\ndata: ")
	// JSON has no raw newline, so one data line holds it (written as is:
	// no copy per stream); be safe anyway.
	if bytes.IndexByte(data, '\n') < 0 {
		w.out.Write(data) //nolint:errcheck // flush reports it
	} else {
		w.out.WriteString(strings.ReplaceAll(string(data), "\n", "\ndata: "))
	}
	w.out.WriteString("\n\n")
}

func (w *sseWriter) raw(s string) error {
	w.out.WriteString(s)
	return w.flush()
}

func (w *sseWriter) flush() error {
	w.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)) //nolint:errcheck
	if err := w.out.Flush(); err != nil {
		return err
	}
	return w.rc.Flush()
}
