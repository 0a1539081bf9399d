package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/internal/stomp"
)

// AlertPush is the alert flow's push port: STOMP 1.2 (and 1.0, 1.1) over
// WebSocket at /ws and, for the seed's clients, /an-ws. A resident
// subscribes to /sub/line/{complexId} (with x-after:<position> to first get
// what they missed) and receives every notice of the complex, in order,
// once each. Every instance serves its own clients from the process's hub,
// which a live consumer of the alert events fills.
type AlertPush struct {
	Hub       *push.Hub
	Feed      AlertFeedReader
	Residents ResidentVerifier // nil: open
	Heartbeat time.Duration    // the server's heart-beat (both ways); 0: none
	Buffer    int              // notices that may wait for one connection
	// ConnectTimeout is how long a connection may stay without CONNECT
	// (0: stompConnectTimeout): a client that upgrades and says nothing
	// does not hold a connection slot and two goroutines forever.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// AlertFeedReader reads a complex's feed from the event store: the
// catch-up, and the fill of any gap in what the live consumer delivered.
type AlertFeedReader interface {
	Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error)
	Last(ctx context.Context, complexID string) (int64, error)
}

// LineDestination is the destination prefix residents subscribe to.
const LineDestination = "/sub/line/"

// LineKey is the hub key of a complex's notices (its feed's name).
func LineKey(complexID string) string { return "complex/" + complexID }

// Limits of what a client may send.
const (
	stompMaxFrame     = 16 << 10 // a client's frames are small (CONNECT, SUBSCRIBE)
	stompMaxMessage   = 64 << 10 // a WebSocket message larger than this closes the connection
	stompControlQueue = 16       // frames the reader hands the writer before it refuses more
	stompWriteTimeout = 10 * time.Second
	stompMaxSubs      = 32
	// stompConnectTimeout is the default ConnectTimeout.
	stompConnectTimeout = 10 * time.Second
)

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{"v12.stomp", "v11.stomp", "v10.stomp"},
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	WriteBufferPool: &sync.Pool{}, // idle connections hold no write buffer
}

func (p AlertPush) serve(c *gin.Context) {
	if !websocket.IsWebSocketUpgrade(c.Request) {
		respondError(c, newError(http.StatusBadRequest, "websocket_required", "this endpoint speaks STOMP over WebSocket: send a WebSocket upgrade"))
		return
	}
	conn, err := upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // the upgrader answered the client already
	}
	c.Abort()
	// The server's read and write deadlines were for the HTTP request; a
	// session sets its own.
	conn.NetConn().SetDeadline(time.Time{}) //nolint:errcheck
	s := &stompSession{p: p, conn: conn, ctl: make(chan stompCtl, stompControlQueue), readerDone: make(chan struct{}),
		subs: map[string]*stompSub{}, byComplex: map[string][]*stompSub{}, logger: p.Logger}
	// The handler returns now: its goroutine, net/http's buffers for the
	// request and its deep stack are not kept for the life of every
	// connection (bench/alerts: 41.6 → about 27 KiB a connection).
	go s.read()
	go s.write()
}

// guard keeps a panic in a session from taking the process down (gin's
// recovery covered only the handler, which has returned).
func (s *stompSession) guard(part string) {
	if r := recover(); r != nil {
		s.logger.Error("STOMP session panicked; its connection is closed", "part", part, "panic", r, "stack", string(debug.Stack()))
		s.conn.Close()
	}
}

// stompCtl is what the reader hands the writer: a frame to send, a
// subscription to start or stop, or the end of the session.
type stompCtl struct {
	frame       *stomp.Frame
	subscribe   *stompSub
	unsubscribe string
	closeAfter  bool   // close the connection once frame is sent
	closeCode   int    // WebSocket close code when closing
	heartbeat   [2]int // CONNECTED: the negotiated send, expect (ms); 0 0 none
}

// stompSub is one STOMP subscription: a complex's line, and the last
// position delivered on it.
type stompSub struct {
	id, destination, complex string
	after                    int64 // x-after, or -1 for "from now on"
	last                     int64
}

type stompSession struct {
	p          AlertPush
	conn       *websocket.Conn
	ctl        chan stompCtl
	readerDone chan struct{}
	logger     *slog.Logger

	// writer-owned
	hubSub    *push.Subscription
	subs      map[string]*stompSub
	byComplex map[string][]*stompSub
	buf       []byte
	wrote     bool // since the last heart-beat tick
}

// ---- reader ----

func (s *stompSession) read() {
	defer s.guard("reader")
	defer close(s.readerDone)
	s.conn.SetReadLimit(stompMaxMessage)
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: stompMaxFrame})
	connected := false
	var resident handlers.Resident
	var expect time.Duration
	connectBy := time.Now().Add(cmp.Or(s.p.ConnectTimeout, stompConnectTimeout))
	for {
		switch {
		case !connected:
			s.conn.SetReadDeadline(connectBy) //nolint:errcheck
		case expect > 0:
			s.conn.SetReadDeadline(time.Now().Add(2*expect + time.Second)) //nolint:errcheck
		default:
			s.conn.SetReadDeadline(time.Time{}) //nolint:errcheck
		}
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && !connected {
				s.fail("no CONNECT frame in time", websocket.ClosePolicyViolation)
			}
			return // closed, timed out (no heart-beat), or not WebSocket: nothing more to say
		}
		frames, _, err := dec.Feed(data)
		for _, f := range frames {
			if !s.handle(f, &connected, &resident, &expect) {
				return
			}
		}
		if err != nil {
			s.fail("malformed frame: "+errText(err), websocket.CloseProtocolError)
			return
		}
	}
}

func errText(err error) string {
	var pe *stomp.ProtocolError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return err.Error()
}

// handle acts on one client frame; false ends the session.
func (s *stompSession) handle(f *stomp.Frame, connected *bool, resident *handlers.Resident, expect *time.Duration) bool {
	if !*connected && f.Command != "CONNECT" && f.Command != "STOMP" {
		s.fail("send CONNECT first", websocket.ClosePolicyViolation)
		return false
	}
	switch f.Command {
	case "CONNECT", "STOMP":
		if *connected {
			s.fail("already connected", websocket.ClosePolicyViolation)
			return false
		}
		accept, has := f.Get("accept-version")
		version, err := stomp.NegotiateVersion(accept, has)
		if err != nil {
			s.fail("no common STOMP version: this server speaks 1.0, 1.1 and 1.2", websocket.ClosePolicyViolation)
			return false
		}
		if s.p.Residents != nil {
			r, err := s.p.Residents.Verify(connectToken(f))
			if err != nil {
				s.fail("not authenticated: "+err.Error()+" (pass a resident token as the passcode header or Authorization: Bearer)", websocket.ClosePolicyViolation)
				return false
			}
			*resident = r
		}
		hb, _ := f.Get("heart-beat")
		cx, cy, err := stomp.ParseHeartBeat(hb)
		if err != nil {
			s.fail("bad heart-beat header: want \"cx,cy\" in milliseconds", websocket.ClosePolicyViolation)
			return false
		}
		ms := int(s.p.Heartbeat / time.Millisecond)
		send, exp := stomp.NegotiateHeartBeat(cx, cy, ms, ms)
		*expect = exp
		*connected = true
		reply := stomp.NewFrame("CONNECTED", "version", version, "server", "surge",
			"heart-beat", fmt.Sprintf("%d,%d", ms, ms))
		s.enqueue(stompCtl{frame: reply, heartbeat: [2]int{int(send / time.Millisecond), int(exp / time.Millisecond)}})
	case "SUBSCRIBE":
		id, _ := f.Get("id")
		dest, _ := f.Get("destination")
		complexID, ok := strings.CutPrefix(dest, LineDestination)
		switch {
		case id == "":
			s.fail("SUBSCRIBE needs an id header", websocket.ClosePolicyViolation)
			return false
		case !ok || !alert.ValidComplexID(complexID):
			s.fail(fmt.Sprintf("unknown destination %q: subscribe to %s{complexId}", dest, LineDestination), websocket.ClosePolicyViolation)
			return false
		case resident.ComplexID != "" && resident.ComplexID != complexID:
			s.fail("you may only subscribe to your own complex's line, "+LineDestination+resident.ComplexID, websocket.ClosePolicyViolation)
			return false
		}
		after := int64(-1)
		if v, has := f.Get("x-after"); has {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.fail("x-after must be a position (an integer from 0)", websocket.ClosePolicyViolation)
				return false
			}
			after = n
		}
		s.enqueue(stompCtl{subscribe: &stompSub{id: id, destination: dest, complex: complexID, after: after}})
	case "UNSUBSCRIBE":
		id, _ := f.Get("id")
		s.enqueue(stompCtl{unsubscribe: id})
	case "DISCONNECT":
		var frame *stomp.Frame
		if r, ok := f.Get("receipt"); ok {
			frame = stomp.NewFrame("RECEIPT", "receipt-id", r)
		}
		s.enqueue(stompCtl{frame: frame, closeAfter: true, closeCode: websocket.CloseNormalClosure})
		return false
	case "ACK", "NACK":
		// Subscriptions are ack:auto; acknowledgements change nothing.
	case "SEND", "BEGIN", "COMMIT", "ABORT":
		s.fail(f.Command+" is not supported here: raise, accept and cancel alerts over HTTP (POST /v1/...)", websocket.ClosePolicyViolation)
		return false
	default:
		s.fail(f.Command+" is a server frame; a client may not send it", websocket.ClosePolicyViolation)
		return false
	}
	return true
}

// connectToken is the resident token of a CONNECT frame: its passcode, or
// an Authorization: Bearer header (what @stomp/stompjs sends as
// connectHeaders).
func connectToken(f *stomp.Frame) string {
	if v, ok := f.Get("passcode"); ok && v != "" {
		return v
	}
	v, _ := f.Get("Authorization")
	if v == "" {
		v, _ = f.Get("authorization")
	}
	t, _ := strings.CutPrefix(v, "Bearer ")
	return strings.TrimSpace(t)
}

// fail sends an ERROR frame with a readable message, then closes.
func (s *stompSession) fail(message string, code int) {
	s.enqueue(stompCtl{frame: stomp.NewFrame("ERROR", "message", message, "content-type", "text/plain"), closeAfter: true, closeCode: code})
}

// enqueue hands the writer a control message; a client that floods it
// faster than it is served is cut off.
func (s *stompSession) enqueue(c stompCtl) {
	select {
	case s.ctl <- c:
	default:
		s.conn.Close()
	}
}

// ---- writer ----

func (s *stompSession) write() {
	defer s.guard("writer")
	defer s.conn.Close()
	defer func() {
		if s.hubSub != nil {
			s.hubSub.Close()
		}
	}()
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		var live <-chan *push.Message
		var ended <-chan struct{}
		if s.hubSub != nil {
			live, ended = s.hubSub.C(), s.hubSub.Done()
		}
		select {
		case c := <-s.ctl:
			if c.heartbeat[0] > 0 && ticker == nil {
				ticker = time.NewTicker(time.Duration(c.heartbeat[0]) * time.Millisecond)
				tick = ticker.C
			}
			if !s.control(c) {
				return
			}
		case m := <-live:
			if !s.deliver(m) {
				return
			}
		case <-ended:
			reason := "your connection fell behind (more than " + strconv.Itoa(s.p.Buffer) + " notices waited); reconnect and SUBSCRIBE with x-after:<the last position you received>"
			code := websocket.ClosePolicyViolation
			if errors.Is(s.hubSub.Err(), push.ErrClosed) {
				reason, code = "the server is shutting down; reconnect (to another instance) with x-after:<the last position you received>", websocket.CloseServiceRestart
			}
			s.send(stomp.NewFrame("ERROR", "message", reason, "content-type", "text/plain")) //nolint:errcheck
			s.close(code)
			return
		case <-s.p.Hub.Closed():
			s.send(stomp.NewFrame("ERROR", "message", "the server is shutting down; reconnect", "content-type", "text/plain")) //nolint:errcheck
			s.close(websocket.CloseServiceRestart)
			return
		case <-tick:
			if !s.wrote {
				if err := s.raw([]byte{'\n'}); err != nil {
					return
				}
			}
			s.wrote = false
		case <-s.readerDone:
			// The reader stopped (the client left, or after a frame the
			// session ends on): send what it queued, then close.
			for {
				select {
				case c := <-s.ctl:
					if !s.control(c) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// control acts on what the reader handed over; false ends the session.
func (s *stompSession) control(c stompCtl) bool {
	if c.frame != nil {
		if err := s.send(c.frame); err != nil {
			return false
		}
	}
	if c.closeAfter {
		s.close(c.closeCode)
		return false
	}
	if c.subscribe != nil {
		return s.subscribe(c.subscribe)
	}
	if c.unsubscribe != "" {
		s.unsubscribe(c.unsubscribe)
	}
	return true
}

// subscribe starts a subscription: it follows the complex's line in the hub
// first, then sends what the feed holds after x-after, so nothing published
// in between is missed; the live notices then pick up after the last
// position sent.
func (s *stompSession) subscribe(sub *stompSub) bool {
	if _, dup := s.subs[sub.id]; dup {
		s.send(stomp.NewFrame("ERROR", "message", "subscription id "+strconv.Quote(sub.id)+" is in use")) //nolint:errcheck
		s.close(websocket.ClosePolicyViolation)
		return false
	}
	if len(s.subs) >= stompMaxSubs {
		s.send(stomp.NewFrame("ERROR", "message", "too many subscriptions on one connection")) //nolint:errcheck
		s.close(websocket.ClosePolicyViolation)
		return false
	}
	if s.hubSub == nil {
		s.hubSub = s.p.Hub.NewSubscription(s.p.Buffer)
	}
	s.hubSub.Add(LineKey(sub.complex))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sub.after < 0 {
		last, err := s.p.Feed.Last(ctx, sub.complex)
		if err != nil {
			return s.unavailable(err)
		}
		sub.last = last
	} else {
		sub.last = sub.after
		if !s.catchUp(ctx, sub, -1) {
			return false
		}
	}
	s.subs[sub.id] = sub
	s.byComplex[sub.complex] = append(s.byComplex[sub.complex], sub)
	return true
}

func (s *stompSession) unsubscribe(id string) {
	sub, ok := s.subs[id]
	if !ok {
		return
	}
	delete(s.subs, id)
	rest := s.byComplex[sub.complex][:0]
	for _, o := range s.byComplex[sub.complex] {
		if o != sub {
			rest = append(rest, o)
		}
	}
	if len(rest) == 0 {
		delete(s.byComplex, sub.complex)
		s.hubSub.Remove(LineKey(sub.complex))
	} else {
		s.byComplex[sub.complex] = rest
	}
}

// catchUp sends the feed after sub.last, up to (not including) position
// until (-1: to the end), in pages.
func (s *stompSession) catchUp(ctx context.Context, sub *stompSub, until int64) bool {
	for {
		limit := handlers.MaxFeedPage
		if until >= 0 {
			limit = int(min(int64(limit), until-sub.last-1))
			if limit <= 0 {
				return true
			}
		}
		page, err := s.p.Feed.Feed(ctx, sub.complex, sub.last, limit)
		if err != nil {
			return s.unavailable(err)
		}
		for _, e := range page {
			if err := s.send(s.message(sub, e.Position, e.Type, e.Payload)); err != nil {
				return false
			}
			sub.last = e.Position
		}
		if len(page) < limit {
			return true
		}
	}
}

// deliver sends a live notice to every subscription of its complex, once
// each and in order: one at or before a subscription's last position is a
// duplicate; one past the next position means some went missing on the way
// (Kafka lost them, this process reconnected), and the gap is filled from
// the feed first.
func (s *stompSession) deliver(m *push.Message) bool {
	complexID := strings.TrimPrefix(m.Key, "complex/")
	for _, sub := range s.byComplex[complexID] {
		if m.Position <= sub.last {
			continue
		}
		if m.Payload == nil { // the feed's head: read what this session missed
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ok := s.catchUp(ctx, sub, m.Position+1)
			cancel()
			if !ok {
				return false
			}
			continue
		}
		if m.Position > sub.last+1 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ok := s.catchUp(ctx, sub, m.Position)
			cancel()
			if !ok {
				return false
			}
		}
		if err := s.send(s.message(sub, m.Position, m.Type, m.Payload)); err != nil {
			return false
		}
		sub.last = m.Position
	}
	return true
}

func (s *stompSession) message(sub *stompSub, position int64, typ string, body []byte) *stomp.Frame {
	p := strconv.FormatInt(position, 10)
	return &stomp.Frame{Command: "MESSAGE", Headers: []stomp.Header{
		{Key: "destination", Value: sub.destination},
		{Key: "subscription", Value: sub.id},
		{Key: "message-id", Value: sub.complex + "-" + p},
		{Key: "content-type", Value: "application/json"},
		{Key: "type", Value: typ},
		{Key: "position", Value: p},
	}, Body: body}
}

// unavailable tells the client the feed could not be read (the event store
// is down) and closes: it reconnects with x-after and loses nothing.
func (s *stompSession) unavailable(err error) bool {
	s.logger.Warn("alert push: reading the feed failed; the client was told to reconnect", "err", err)
	s.send(stomp.NewFrame("ERROR", "message", "the alert history is unavailable right now; reconnect with x-after:<the last position you received>")) //nolint:errcheck
	s.close(websocket.CloseTryAgainLater)
	return false
}

func (s *stompSession) send(f *stomp.Frame) error {
	s.buf = stomp.AppendFrame(s.buf[:0], f)
	err := s.raw(s.buf)
	if cap(s.buf) > 64<<10 {
		s.buf = nil // an idle connection keeps no large buffer
	}
	return err
}

func (s *stompSession) raw(b []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(stompWriteTimeout)) //nolint:errcheck
	s.wrote = true
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

func (s *stompSession) close(code int) {
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))                                //nolint:errcheck
	s.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, "")) //nolint:errcheck
}
