package alertsbench

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/internal/stomp"
)

// The baseline: a bare WebSocket broadcast from memory, in its own process
// (this test binary run again with baselineEnv set). It speaks just enough
// STOMP for the benchmark's subscribers (CONNECT -> CONNECTED, one
// SUBSCRIBE) and has Surge's shape without its pipeline:
//
//   - POST /v1/complexes/{complexId}/alerts answers 202 {"alertId","status"}
//     at once, then hands the notice to every subscriber of the complex: the
//     same JSON (alert.Notice of an AlertRaised, next position of the
//     complex) in the same MESSAGE frame (the same headers, encoded per
//     subscriber by stomp.AppendFrame), through a bounded buffer per
//     connection (256, SURGE_PUSH_BUFFER's default) that drops a subscriber
//     that falls behind;
//   - /ws upgrades with Surge's upgrader settings (1 KiB read buffer, pooled
//     4 KiB write buffer), reads CONNECT and SUBSCRIBE in the handler, then
//     runs one reader and one writer goroutine per connection (as
//     api/alerts_push.go does) and returns from the handler, so that
//     net/http lets go of the request and its buffers: the floor of what a
//     connection costs with gorilla/websocket;
//   - no Kafka, no PostgreSQL, no Redis, no gin, no middleware.
//
// GET /stats reports its subscribers and Go memory, as Surge's /metrics does
// (benchkit.Hub.ServeStats).

// baselineBuffer is the notices that may wait for one connection.
const baselineBuffer = 256

var baselineUpgrader = websocket.Upgrader{
	Subprotocols:    []string{"v12.stomp", "v11.stomp", "v10.stomp"},
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	WriteBufferPool: &sync.Pool{},
}

// broadcaster is the baseline: its hub's topics are complexes.
type broadcaster struct {
	hub *benchkit.Hub[*bnotice]
}

// bconn is one subscriber connection.
type bconn struct {
	ws                *websocket.Conn
	sub               benchkit.Sub[*bnotice]
	id, dest, complex string
	buf               []byte
}

type bnotice struct {
	position int64
	body     []byte
}

// runBaseline serves on addr until its standard input closes (the benchmark
// process holds the other end: if it dies, so does this) or SIGTERM.
func runBaseline(addr string) int {
	bc := &broadcaster{hub: benchkit.NewHub[*bnotice](baselineBuffer)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", bc.serveWS)
	mux.HandleFunc("POST /v1/complexes/{complexId}/alerts", bc.raise)
	mux.HandleFunc("GET /stats", bc.hub.ServeStats)
	return benchkit.ServeBaseline(addr, mux)
}

func (bc *broadcaster) raise(w http.ResponseWriter, r *http.Request) {
	complexID := r.PathValue("complexId")
	var req struct {
		House string `json:"house"`
		Text  string `json:"text"`
	}
	if !benchkit.DecodeBody(w, r, &req, alert.ValidComplexID(complexID)) {
		return
	}
	id := uuid.NewString()
	pos := bc.hub.Next(complexID)
	_, body, err := alert.Notice(alert.AlertRaised{AlertID: id, ComplexID: complexID, House: req.House, Text: req.Text,
		RaisedAt: time.Now().UTC().Truncate(time.Millisecond), Position: pos})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	benchkit.Accepted(w, `{"alertId":"`+id+`","status":"raised"}`)
	// After the 202 is on its way, as Surge's push follows its 202; a
	// subscriber whose buffer is full is dropped (as the push hub does).
	bc.hub.Publish(complexID, &bnotice{position: pos, body: body})
}

func (bc *broadcaster) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := baselineUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.NetConn().SetDeadline(time.Time{}) //nolint:errcheck
	c := &bconn{ws: ws}
	if !c.handshake() {
		ws.Close()
		return
	}
	bc.hub.Subscribe(c.complex, &c.sub)

	// One reader (nothing more is expected: it notices the client leaving)
	// and one writer; the handler returns, so net/http lets go of the
	// request and its buffers.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer ws.Close()
		defer bc.hub.Unsubscribe(c.complex, &c.sub)
		for {
			select {
			case n := <-c.sub.C:
				if c.message(n) != nil {
					return
				}
			case <-c.sub.Slow:
				c.send(stomp.NewFrame("ERROR", "message", "too slow")) //nolint:errcheck
				return
			case <-readerDone:
				return
			}
		}
	}()
}

// handshake reads CONNECT (answering CONNECTED), then one SUBSCRIBE.
func (c *bconn) handshake() bool {
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 16 << 10})
	c.ws.SetReadLimit(64 << 10)
	c.ws.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	defer c.ws.SetReadDeadline(time.Time{})                //nolint:errcheck
	connected := false
	for c.complex == "" {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return false
		}
		frames, _, err := dec.Feed(data)
		if err != nil {
			return false
		}
		for _, f := range frames {
			switch {
			case !connected && (f.Command == "CONNECT" || f.Command == "STOMP"):
				connected = true
				if c.send(stomp.NewFrame("CONNECTED", "version", "1.2", "server", "baseline", "heart-beat", "0,0")) != nil {
					return false
				}
			case connected && f.Command == "SUBSCRIBE":
				c.id, _ = f.Get("id")
				c.dest, _ = f.Get("destination")
				complexID, ok := strings.CutPrefix(c.dest, "/sub/line/")
				if !ok || c.id == "" || !alert.ValidComplexID(complexID) {
					return false
				}
				c.complex = complexID
			default:
				return false
			}
		}
	}
	return true
}

// message sends a notice in the frame Surge sends (api/alerts_push.go).
func (c *bconn) message(n *bnotice) error {
	p := strconv.FormatInt(n.position, 10)
	return c.send(&stomp.Frame{Command: "MESSAGE", Headers: []stomp.Header{
		{Key: "destination", Value: c.dest},
		{Key: "subscription", Value: c.id},
		{Key: "message-id", Value: c.complex + "-" + p},
		{Key: "content-type", Value: "application/json"},
		{Key: "type", Value: alert.NoticeAlert},
		{Key: "position", Value: p},
	}, Body: n.body})
}

func (c *bconn) send(f *stomp.Frame) error {
	c.buf = stomp.AppendFrame(c.buf[:0], f)
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	return c.ws.WriteMessage(websocket.TextMessage, c.buf)
}
