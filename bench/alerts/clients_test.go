package alertsbench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/surge-platform/surge/bench/benchkit"
	"github.com/surge-platform/surge/internal/stomp"
)

// The subscribers: lean gorilla client connections (1 KiB read buffer,
// pooled write buffer), each with one reader goroutine that decodes the
// frames and notes, for every MESSAGE, when it arrived, its position and its
// alertId. Nothing else runs per connection.

// receipt is one MESSAGE a subscriber got.
type receipt struct {
	at  time.Duration // since the fleet's epoch (monotonic)
	pos int64         // the position header
	id  [36]byte      // the body's alertId (zero: none found)
}

type subscriber struct {
	complex int
	conn    *websocket.Conn
	got     []receipt // written by the reader only; read after it ended
	err     string    // an ERROR frame or a read error that was not our close
}

// fleet is every subscriber of one side.
type fleet struct {
	epoch    time.Time
	subs     []*subscriber
	received atomic.Int64 // MESSAGE frames, all subscribers
	closing  atomic.Bool
	wg       sync.WaitGroup
}

var dialer = websocket.Dialer{
	Subprotocols:     []string{"v12.stomp"},
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  512,
	WriteBufferPool:  &sync.Pool{},
}

// complexID names complex c of the benchmark (-1: the readiness probe's).
func complexID(c int) string {
	if c < 0 {
		return "probe"
	}
	return fmt.Sprintf("c%03d", c)
}

// wsURL is the WebSocket endpoint of a server's base URL.
func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

// connectFleet opens n subscribers, subscriber i on complex i % complexes,
// parallel at most at a time, and stops at timeout. It returns the fleet
// (those that connected) and the first error.
func connectFleet(base string, n, complexes, parallel int, timeout time.Duration, epoch time.Time) (*fleet, int, error) {
	f := &fleet{epoch: epoch, subs: make([]*subscriber, 0, n)}
	var mu sync.Mutex
	failed, err := benchkit.Connect(n, parallel, timeout, "subscriber", func(ctx context.Context, i int) error {
		s, err := f.dial(ctx, base, i%complexes)
		if err == nil {
			mu.Lock()
			f.subs = append(f.subs, s)
			mu.Unlock()
		}
		return err
	})
	return f, failed, err
}

// dial connects one subscriber: WebSocket, CONNECT, CONNECTED, SUBSCRIBE
// (no x-after: from now on), then starts its reader.
func (f *fleet) dial(ctx context.Context, base string, complex int) (*subscriber, error) {
	conn, _, err := dialer.DialContext(ctx, wsURL(base), nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*subscriber, error) { conn.Close(); return nil, err }
	if conn.Subprotocol() != "v12.stomp" {
		return fail(fmt.Errorf("subprotocol %q", conn.Subprotocol()))
	}
	dec := stomp.NewDecoder(stomp.Limits{})
	if err := writeFrame(conn, stomp.NewFrame("CONNECT", "accept-version", "1.2", "host", "surge", "heart-beat", "0,0")); err != nil {
		return fail(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return fail(fmt.Errorf("waiting for CONNECTED: %w", err))
		}
		frames, _, err := dec.Feed(data)
		if err != nil {
			return fail(err)
		}
		if len(frames) == 0 {
			continue
		}
		if frames[0].Command != "CONNECTED" {
			msg, _ := frames[0].Get("message")
			return fail(fmt.Errorf("CONNECT answered %s %q", frames[0].Command, msg))
		}
		break
	}
	conn.SetReadDeadline(time.Time{}) //nolint:errcheck
	if err := writeFrame(conn, stomp.NewFrame("SUBSCRIBE", "id", "sub-0", "destination", "/sub/line/"+complexID(complex), "ack", "auto")); err != nil {
		return fail(err)
	}
	s := &subscriber{complex: complex, conn: conn}
	f.wg.Add(1)
	go f.read(s, dec)
	return s, nil
}

func writeFrame(conn *websocket.Conn, fr *stomp.Frame) error {
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	return conn.WriteMessage(websocket.TextMessage, stomp.AppendFrame(nil, fr))
}

var alertIDKey = []byte(`"alertId":"`)

func (f *fleet) read(s *subscriber, dec *stomp.Decoder) {
	defer f.wg.Done()
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			if !f.closing.Load() && s.err == "" {
				s.err = "read: " + err.Error()
			}
			return
		}
		at := time.Since(f.epoch)
		frames, _, err := dec.Feed(data)
		for _, fr := range frames {
			switch fr.Command {
			case "MESSAGE":
				r := receipt{at: at}
				if p, ok := fr.Get("position"); ok {
					r.pos, _ = strconv.ParseInt(p, 10, 64)
				}
				if i := bytes.Index(fr.Body, alertIDKey); i >= 0 && len(fr.Body) >= i+len(alertIDKey)+36 {
					copy(r.id[:], fr.Body[i+len(alertIDKey):])
				}
				s.got = append(s.got, r)
				f.received.Add(1)
			case "ERROR":
				if s.err == "" {
					msg, _ := fr.Get("message")
					s.err = "ERROR frame: " + msg
				}
			}
		}
		if err != nil {
			if s.err == "" {
				s.err = "decode: " + err.Error()
			}
			s.conn.Close()
			return
		}
	}
}

// waitReceived waits until want MESSAGE frames arrived in all, or timeout.
func (f *fleet) waitReceived(want int64, timeout time.Duration) bool {
	return benchkit.WaitCount(&f.received, want, timeout)
}

// close closes every connection and waits (up to 30s) for the readers.
func (f *fleet) close() error {
	f.closing.Store(true)
	for _, s := range f.subs {
		s.conn.Close()
	}
	return benchkit.WaitReaders(&f.wg, "subscriber")
}
