package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/surge-platform/surge/internal/stomp"
)

// stompClient is a minimal STOMP-over-WebSocket client for the tests: it
// collects every frame the server sends.
type stompClient struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	frames []*stomp.Frame
	closed chan struct{}
	err    error
}

// dialStomp opens a WebSocket to the app's path ("/ws") with the STOMP
// subprotocols.
func dialStomp(t *testing.T, base, path string, header http.Header) (*stompClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+path, header)
	if err != nil {
		return nil, res, err
	}
	c := &stompClient{conn: conn, closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c, res, nil
}

func (c *stompClient) read() {
	defer close(c.closed)
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20})
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		frames, _, err := dec.Feed(data)
		c.mu.Lock()
		c.frames = append(c.frames, frames...)
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (c *stompClient) send(f *stomp.Frame) error {
	return c.conn.WriteMessage(websocket.TextMessage, stomp.AppendFrame(nil, f))
}

func (c *stompClient) sendRaw(b []byte) error { return c.conn.WriteMessage(websocket.TextMessage, b) }

// connect sends CONNECT (with headers) and waits for CONNECTED.
func (c *stompClient) connect(t *testing.T, kv ...string) *stomp.Frame {
	t.Helper()
	f := stomp.NewFrame("CONNECT", append([]string{"accept-version", "1.2", "host", "surge", "heart-beat", "0,0"}, kv...)...)
	if err := c.send(f); err != nil {
		t.Fatal(err)
	}
	got := c.waitFrame(t, 5*time.Second, func(f *stomp.Frame) bool { return f.Command == "CONNECTED" || f.Command == "ERROR" })
	if got.Command != "CONNECTED" {
		t.Fatalf("CONNECT answered %s %v", got.Command, got.Headers)
	}
	return got
}

func (c *stompClient) subscribe(t *testing.T, id, destination string, kv ...string) {
	t.Helper()
	if err := c.send(stomp.NewFrame("SUBSCRIBE", append([]string{"id", id, "destination", destination, "ack", "auto"}, kv...)...)); err != nil {
		t.Fatal(err)
	}
}

// waitFrame waits for a frame matching ok (any frame seen so far counts).
func (c *stompClient) waitFrame(t *testing.T, timeout time.Duration, ok func(*stomp.Frame) bool) *stomp.Frame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, f := range c.frames {
			if ok(f) {
				c.mu.Unlock()
				return f
			}
		}
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no matching frame within %s; got %s", timeout, c.summary())
	return nil
}

// messages are the MESSAGE frames received so far.
func (c *stompClient) messages() []*stomp.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*stomp.Frame
	for _, f := range c.frames {
		if f.Command == "MESSAGE" {
			out = append(out, f)
		}
	}
	return out
}

// waitMessages waits until n MESSAGE frames arrived.
func (c *stompClient) waitMessages(t *testing.T, n int, timeout time.Duration) []*stomp.Frame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := c.messages(); len(m) >= n {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d of %d messages within %s; frames: %s", len(c.messages()), n, timeout, c.summary())
	return nil
}

// waitClosed waits until the server closed the connection.
func (c *stompClient) waitClosed(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(timeout):
		t.Fatalf("the server did not close the connection within %s", timeout)
	}
}

func (c *stompClient) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, f := range c.frames {
		if i == 20 {
			fmt.Fprintf(&b, "… (%d frames)", len(c.frames))
			break
		}
		fmt.Fprintf(&b, "[%s %v %s] ", f.Command, f.Headers, f.Body)
	}
	return b.String()
}

func header(f *stomp.Frame, key string) string {
	v, _ := f.Get(key)
	return v
}
