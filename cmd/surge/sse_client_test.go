package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID    int64
	Event string
	Data  string
}

// sseClient reads a stream in the background.
type sseClient struct {
	mu     sync.Mutex
	events []sseEvent
	pings  int
	status int
	done   chan struct{}
	cancel context.CancelFunc
}

// openStream GETs url as an event stream, with Last-Event-ID when
// lastID >= 0, and returns once the response headers arrived.
func openStream(t *testing.T, url string, lastID int64) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	c := &sseClient{status: res.StatusCode, done: make(chan struct{}), cancel: cancel}
	t.Cleanup(c.close)
	go func() {
		defer close(c.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.Event != "" {
					c.mu.Lock()
					c.events = append(c.events, cur)
					c.mu.Unlock()
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				c.mu.Lock()
				c.pings++
				c.mu.Unlock()
			case strings.HasPrefix(line, "id: "):
				cur.ID, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				cur.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.Data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

func (c *sseClient) all() []sseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sseEvent(nil), c.events...)
}

// wait waits until n events of the kinds given (all kinds when none)
// arrived and returns every event so far.
func (c *sseClient) wait(t *testing.T, n int, timeout time.Duration, kinds ...string) []sseEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	count := func() int {
		k := 0
		for _, e := range c.all() {
			if len(kinds) == 0 || contains(kinds, e.Event) {
				k++
			}
		}
		return k
	}
	for time.Now().Before(deadline) {
		if count() >= n {
			return c.all()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d of %d events %v within %s; got %v", count(), n, kinds, timeout, summarize(c.all()))
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func summarize(events []sseEvent) string {
	var b strings.Builder
	for i, e := range events {
		if i == 30 {
			fmt.Fprintf(&b, "… (%d)", len(events))
			break
		}
		fmt.Fprintf(&b, "[%d %s] ", e.ID, e.Event)
	}
	return b.String()
}
