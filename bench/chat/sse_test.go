package chatbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surge-platform/surge/bench/benchkit"
)

// The stream clients: lean HTTP/1.1 clients of GET /v1/rooms/{id}/stream,
// each one TCP connection and one goroutine (no net/http Transport and its
// two goroutines per connection), a 1 KiB read buffer under the chunked
// decoder and a 1 KiB line buffer over it. A client notes, per event, its
// arrival at the slot of its position (id:) and checks the message id
// against what every other client saw at that position. A stream that ends
// (the server dropped a slow client, or anything else) is reopened with
// Last-Event-ID after the server's retry (1 s), as a browser's EventSource
// would, at most maxReconnects times; like EventSource, it gives up for
// good when a reopening is answered anything but 200 text/event-stream.

// fleet is every stream client of one room.
type fleet struct {
	host, path string // 127.0.0.1:port, /v1/rooms/{id}/stream
	epoch      time.Time
	startAfter int64 // the room's feed head when the clients connected
	maxPos     int   // positions 1..maxPos are recorded
	// ids is, per position, the hash of the messageId the first client to
	// receive it saw (0: none yet); every other client must see the same.
	ids           []atomic.Uint64
	maxReconnects int
	// onEvent, if set, is told of every event (kind, position, arrival
	// since the epoch, data): for the storm's single observer.
	onEvent func(kind string, pos int64, at time.Duration, data []byte)

	mu         sync.Mutex
	clients    []*streamClient
	received   atomic.Int64 // first receipts of a position, every client
	reconnects atomic.Int64
	closing    atomic.Bool
	wg         sync.WaitGroup
}

// streamClient is one stream.
type streamClient struct {
	f    *fleet
	mu   sync.Mutex
	conn net.Conn
	// at is, per position, when it arrived (ns since the epoch, +1; 0: not
	// received). Written by the reader only; read after it ended.
	at                             []int64
	last                           int64
	dups, order, unknown, mismatch int
	behind                         int // "you fell behind" comments seen
	reconnects                     int
	refused                        bool   // a reopening was answered other than 200: given up, as EventSource does
	err                            string // why it ended, if not closed by us
	scratch                        []byte
}

func newFleet(base, room string, epoch time.Time, startAfter int64, maxPos, maxReconnects int) *fleet {
	return &fleet{
		host: strings.TrimPrefix(base, "http://"), path: "/v1/rooms/" + room + "/stream", epoch: epoch,
		startAfter: startAfter, maxPos: maxPos, ids: make([]atomic.Uint64, maxPos+1), maxReconnects: maxReconnects,
	}
}

// connect opens n streams, parallel at a time, and stops at timeout. It
// returns how many failed and the first error.
func (f *fleet) connect(n, parallel int, timeout time.Duration) (failed int, firstErr error) {
	return benchkit.Connect(n, parallel, timeout, "stream", func(ctx context.Context, _ int) error { return f.open(ctx) })
}

func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// open connects one more stream (from startAfter on) and starts its reader.
func (f *fleet) open(ctx context.Context) error {
	c := &streamClient{f: f, at: make([]int64, f.maxPos+1), last: -1}
	conn, lines, err := c.dial(ctx, -1)
	if err != nil {
		return err
	}
	c.conn = conn
	f.mu.Lock()
	f.clients = append(f.clients, c)
	f.mu.Unlock()
	f.wg.Add(1)
	go c.run(lines)
	return nil
}

// dial opens the stream (after >= 0: with Last-Event-ID) and reads up to
// its first line (retry:), which the server writes once it follows the room.
func (c *streamClient) dial(ctx context.Context, after int64) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.f.host)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (net.Conn, *bufio.Reader, error) { conn.Close(); return nil, nil, err }
	conn.SetDeadline(time.Now().Add(15 * time.Second)) //nolint:errcheck
	req := "GET " + c.f.path + " HTTP/1.1\r\nHost: " + c.f.host + "\r\nAccept: text/event-stream\r\n"
	if after >= 0 {
		req += "Last-Event-ID: " + strconv.FormatInt(after, 10) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fail(&refusal{fmt.Sprintf("%d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), bytes.TrimSpace(b))})
	}
	lines := bufio.NewReaderSize(res.Body, 1024)
	first, err := lines.ReadSlice('\n')
	if err != nil {
		return fail(fmt.Errorf("waiting for the first line: %w", err))
	}
	if !bytes.HasPrefix(first, []byte("retry:")) {
		return fail(fmt.Errorf("first line %q", first))
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck
	return conn, lines, nil
}

var (
	prefixID    = []byte("id: ")
	prefixEvent = []byte("event: ")
	prefixData  = []byte("data: ")
	messageIDAt = []byte(`"messageId":"`)
	fellBehind  = []byte("fell behind")
)

// run reads events until the stream ends, reopening it while allowed.
func (c *streamClient) run(lines *bufio.Reader) {
	defer c.f.wg.Done()
	for {
		err := c.read(lines)
		if c.f.closing.Load() {
			return
		}
		c.reconnects++
		c.f.reconnects.Add(1)
		if c.reconnects > c.f.maxReconnects {
			c.err = fmt.Sprintf("stream ended (%v), and it was reopened %d times already", err, c.f.maxReconnects)
			return
		}
		after := c.last
		if after < 0 {
			after = c.f.startAfter
		}
		// As EventSource does: a network error is retried (after the
		// server's retry: 1 s), an answer other than 200 text/event-stream
		// ends the stream for good.
		var conn net.Conn
		var next *bufio.Reader
		for {
			time.Sleep(time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			var derr error
			conn, next, derr = c.dial(ctx, after)
			cancel()
			if derr == nil {
				break
			}
			var refused *refusal
			if errors.As(derr, &refused) {
				c.refused = true
			}
			if c.refused || c.reconnects >= c.f.maxReconnects || c.f.closing.Load() {
				c.err = fmt.Sprintf("stream ended (%v), reopening it failed: %v", err, derr)
				return
			}
			c.reconnects++
			c.f.reconnects.Add(1)
		}
		c.mu.Lock()
		old := c.conn
		c.conn = conn
		c.mu.Unlock()
		old.Close()
		if c.f.closing.Load() { // closed while dialing: close() saw the old one
			conn.Close()
			return
		}
		lines = next
	}
}

// read parses events until an error.
func (c *streamClient) read(lines *bufio.Reader) error {
	var id int64 = -1
	var kind string
	var data []byte // only for onEvent
	var hash uint64
	for {
		line, err := c.line(lines)
		if err != nil {
			return err
		}
		switch {
		case len(line) == 0:
			if kind != "" && id >= 0 {
				c.record(id, kind, hash, data)
			}
			id, kind, data, hash = -1, "", nil, 0
		case bytes.HasPrefix(line, prefixID):
			id, _ = strconv.ParseInt(string(line[len(prefixID):]), 10, 64)
		case bytes.HasPrefix(line, prefixEvent):
			switch v := line[len(prefixEvent):]; string(v) { // no allocation for the known names
			case "message":
				kind = "message"
			case "reaction":
				kind = "reaction"
			case "hot":
				kind = "hot"
			case "cooled":
				kind = "cooled"
			default:
				kind = string(v)
			}
		case bytes.HasPrefix(line, prefixData):
			v := line[len(prefixData):]
			if i := bytes.Index(v, messageIDAt); i >= 0 && len(v) >= i+len(messageIDAt)+36 {
				hash = fnv1a(v[i+len(messageIDAt) : i+len(messageIDAt)+36])
			}
			if c.f.onEvent != nil {
				data = append(data, v...)
			}
		case line[0] == ':':
			if bytes.Contains(line, fellBehind) {
				c.behind++
			}
		}
	}
}

// line is the next line without its end of line; long lines are
// gathered in scratch.
func (c *streamClient) line(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.scratch = append(c.scratch[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(c.scratch) < 1<<20 {
			line, err = r.ReadSlice('\n')
			c.scratch = append(c.scratch, line...)
		}
		line = c.scratch
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

func (c *streamClient) record(pos int64, kind string, hash uint64, data []byte) {
	at := time.Since(c.f.epoch)
	if c.f.onEvent != nil {
		c.f.onEvent(kind, pos, at, data)
	}
	if pos < 1 || pos > int64(c.f.maxPos) {
		c.unknown++
		return
	}
	if c.at[pos] != 0 {
		c.dups++
		return
	}
	want := c.last + 1
	if c.last < 0 {
		want = c.f.startAfter + 1
	}
	if pos != want { // a gap, or one that came late
		c.order++
	}
	c.at[pos] = int64(at) + 1
	c.last = max(c.last, pos)
	if hash != 0 {
		slot := &c.f.ids[pos]
		if !slot.CompareAndSwap(0, hash) && slot.Load() != hash {
			c.mismatch++
		}
	}
	c.f.received.Add(1)
}

// waitReceived waits until want first receipts arrived in all, or timeout.
func (f *fleet) waitReceived(want int64, timeout time.Duration) bool {
	return benchkit.WaitCount(&f.received, want, timeout)
}

// close closes every stream and waits (up to 30s) for the readers.
func (f *fleet) close() error {
	if f.closing.Swap(true) {
		return nil
	}
	f.mu.Lock()
	clients := f.clients
	f.mu.Unlock()
	for _, c := range clients {
		c.mu.Lock()
		c.conn.Close()
		c.mu.Unlock()
	}
	return benchkit.WaitReaders(&f.wg, "stream")
}

// refusal is an answer to a stream request other than 200
// text/event-stream: EventSource does not retry it.
type refusal struct{ answer string }

func (r *refusal) Error() string { return "answered " + r.answer }

// fnv1a is the hash the clients note of a messageId (FNV-1a, never 0),
// without an allocation per event.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h | 1
}

func idHash(id string) uint64 { return fnv1a([]byte(id)) }
