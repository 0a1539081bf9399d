// Command stormgen is the e2e tests' load generator, a JMeter thread group
// against one room's fetch endpoint: -clients threads started evenly over
// -rampup, each fetching -loops times, once every -think (paced to that
// schedule: a late fetch is sent at once, not skipped). The seed's plan,
// "threads 700, 1, loop 10", is the default.
//
// It runs as a process of its own, built without -race, as JMeter would run
// on a machine of its own: under the race detector the 700 clients cost
// more CPU than the server they load, and a test that measured the room
// next door from the same process would measure its own scheduling. The
// room next door's clients are a stormgen process of their own too. It
// prints one JSON line per fetch to stdout; the test classifies them.
//
//	stormgen -addr 127.0.0.1:8080 -room storm -start 1764590000000000000
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fetch is one fetch, as the test reads it.
type Fetch struct {
	Client     int    `json:"client"`
	Sent       int64  `json:"sent"` // UnixNano
	Done       int64  `json:"done"` // UnixNano
	Status     int    `json:"status,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
	Link       string `json:"link,omitempty"`
	Body       string `json:"body,omitempty"`
	Error      string `json:"error,omitempty"`
	Timeout    bool   `json:"timeout,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the server's host:port")
	room := flag.String("room", "storm", "the room to fetch")
	clients := flag.Int("clients", 700, "threads")
	rampUp := flag.Duration("rampup", time.Second, "the threads are started evenly over this")
	loops := flag.Int("loops", 10, "fetches per thread")
	think := flag.Duration("think", 200*time.Millisecond, "each thread fetches once every this (0: back to back)")
	timeout := flag.Duration("timeout", 10*time.Second, "one fetch's deadline")
	start := flag.Int64("start", 0, "UnixNano the ramp-up begins at (0: now)")
	prefix := flag.String("client-prefix", "storm-client", "X-Client-ID is this, a dash and the thread's number")
	flag.Parse()
	if *clients < 1 || *loops < 1 || *rampUp < 0 || *think < 0 || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "stormgen: clients and loops must be ≥ 1, durations ≥ 0")
		os.Exit(2)
	}
	begin := time.Now()
	if *start > 0 {
		begin = time.Unix(0, *start)
	}

	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newFetcher(*addr, *room, fmt.Sprintf("%s-%03d", *prefix, c))
			defer f.close()
			first := begin.Add(time.Duration(c) * *rampUp / time.Duration(*clients))
			results := make([]Fetch, 0, *loops)
			for k := range *loops {
				time.Sleep(time.Until(first.Add(time.Duration(k) * *think)))
				r := f.fetch(*timeout)
				r.Client = c
				results = append(results, r)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range results {
				enc.Encode(r) //nolint:errcheck // a short write fails the Flush below
			}
		}()
	}
	wg.Wait()
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "stormgen:", err)
		os.Exit(1)
	}
}

// fetcher is one keep-alive HTTP/1.1 connection, opened at its first fetch
// (as a JMeter thread opens it), that sends the same request again and
// again: a few lines of HTTP cost the generator less than net/http's
// client, so more of the machine is left to what is measured.
type fetcher struct {
	addr, request string
	conn          net.Conn
	rd            *bufio.Reader
}

func newFetcher(addr, room, clientID string) *fetcher {
	return &fetcher{addr: addr, request: "GET /v1/rooms/" + room + "/messages?after=0&limit=100 HTTP/1.1\r\n" +
		"Host: " + addr + "\r\nX-Client-ID: " + clientID + "\r\n\r\n"}
}

func (f *fetcher) fetch(timeout time.Duration) Fetch {
	sent := time.Now()
	r, err := f.roundTrip(timeout)
	r.Sent, r.Done = sent.UnixNano(), time.Now().UnixNano()
	if err != nil {
		f.close()
		r.Error = err.Error()
		var ne net.Error
		r.Timeout = errors.As(err, &ne) && ne.Timeout()
	}
	return r
}

func (f *fetcher) roundTrip(timeout time.Duration) (Fetch, error) {
	var r Fetch
	if f.conn == nil {
		conn, err := net.DialTimeout("tcp", f.addr, timeout)
		if err != nil {
			return r, err
		}
		f.conn, f.rd = conn, bufio.NewReaderSize(conn, 8<<10)
	}
	if err := f.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return r, err
	}
	if _, err := io.WriteString(f.conn, f.request); err != nil {
		return r, err
	}
	line, err := f.rd.ReadString('\n')
	if err != nil {
		return r, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 {
		return r, fmt.Errorf("status line %q", line)
	}
	if r.Status, err = strconv.Atoi(parts[1]); err != nil {
		return r, fmt.Errorf("status line %q", line)
	}
	length, closing := -1, false
	for {
		h, err := f.rd.ReadString('\n')
		if err != nil {
			return r, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(value)
		case "retry-after":
			r.RetryAfter = value
		case "link":
			r.Link = value
		case "connection":
			closing = strings.EqualFold(value, "close")
		}
	}
	if length < 0 {
		return r, fmt.Errorf("answer %d without Content-Length", r.Status)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(f.rd, body); err != nil {
		return r, err
	}
	r.Body = string(body)
	if closing {
		f.close()
	}
	return r, nil
}

func (f *fetcher) close() {
	if f.conn != nil {
		f.conn.Close()
		f.conn = nil
	}
}
