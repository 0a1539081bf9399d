package api

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMethodLabelsAreBounded(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if got := methodLabel(m); got != m {
			t.Errorf("methodLabel(%q) = %q", m, got)
		}
	}
	for _, m := range []string{"get", "XABCD", "PROPFIND", "CONNECT", "TRACE", ""} {
		if got := methodLabel(m); got != "other" {
			t.Errorf("methodLabel(%q) = %q, want other", m, got)
		}
	}
}

func TestCorrelationIDRules(t *testing.T) {
	good := []string{"a", "corr-from-client", "0123456789abcdef", strings.Repeat("x", 128), "with space", "~!@#$%^&*()"}
	bad := []string{"", strings.Repeat("x", 129), "\xff\xfe", "é", "tab\there", "nul\x00", "line\nbreak", "\x7f"}
	for _, id := range good {
		if !validCorrelationID(id) {
			t.Errorf("%q refused", id)
		}
	}
	for _, id := range bad {
		if validCorrelationID(id) {
			t.Errorf("%q accepted", id)
		}
	}
	if id := newCorrelationID(); len(id) != 16 || !validCorrelationID(id) {
		t.Errorf("fresh id %q", id)
	}
}

// Over the cap, a connection is answered 503 too_many_connections at once
// (a complete HTTP response), and a closed connection frees its place.
func TestLimitListenerAnswersOverTheCapAndFreesOnClose(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(raw, 2, prometheus.NewRegistry())
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(), dial()
	defer a.Close()
	defer b.Close()
	first, second := <-accepted, <-accepted
	over := dial()
	defer over.Close()
	over.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	res, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil {
		t.Fatalf("over the cap: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(body), `"code":"too_many_connections"`) {
		t.Fatalf("over the cap: %d %v %s", res.StatusCode, res.Header, body)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was handed to the server: %v", c.RemoteAddr())
	default:
	}
	first.Close()
	first.Close() // twice frees one place only
	third := dial()
	defer third.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("a connection was not accepted after one was closed")
	}
	second.Close()
}

func TestServerHasTheEdgeLimits(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), ServerOptions{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second,
		WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second, MaxHeaderBytes: 16 << 10})
	if s.ReadHeaderTimeout != time.Second || s.ReadTimeout != 2*time.Second || s.WriteTimeout != 3*time.Second ||
		s.IdleTimeout != 4*time.Second || s.MaxHeaderBytes != 16<<10 {
		t.Fatalf("server limits: %+v", s)
	}
	if n := DefaultMaxConns(); n < 512 {
		t.Fatalf("DefaultMaxConns = %d", n)
	}
}
