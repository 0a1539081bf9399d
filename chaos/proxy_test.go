//go:build chaos

// The proxy the chaos cases put in front of PostgreSQL and Redis
// (internal/testenv/proxy.go), checked against an echo server: what Cut,
// Blackhole and Restore do to open and new connections. Run it alone with
// -race: go test -race -count=1 -tags chaos -run '^TestProxy' ./chaos/
package chaos

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// echoServer echoes every connection and counts the ones it accepted.
func echoServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				io.Copy(c, c) //nolint:errcheck
			}()
		}
	}()
	return l.Addr().String(), &accepted
}

// echo writes msg and reads it back within wait.
func echo(c net.Conn, msg string, wait time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(wait)) //nolint:errcheck
	defer c.SetDeadline(time.Time{})    //nolint:errcheck
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	return string(buf[:n]), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readUntilClosed reads c until the peer closes it (true) or wait passes.
func readUntilClosed(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck
	_, err := io.Copy(io.Discard, c)
	return err == nil || isClosedErr(err)
}

func TestProxyBlackholeHoldsConnectionsAndRestoreResumes(t *testing.T) {
	target, accepted := echoServer(t)
	p := testenv.NewProxy(t, target)
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	busy, idle := dial(), dial()
	for _, c := range []net.Conn{busy, idle} {
		if got, err := echo(c, "hello", time.Second); err != nil || got != "hello" {
			t.Fatalf("before the blackhole: %q, %v", got, err)
		}
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("target accepted %d connections, want 2", n)
	}

	p.Blackhole()
	// The silence is what is being checked, so it is given a fixed time.
	if got, err := echo(busy, "lost", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("an open connection in the blackhole got %q, %v; want silence (a timeout)", got, err)
	}
	held := dial() // accepted, never forwarded
	if got, err := echo(held, "lost too", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("a new connection in the blackhole got %q, %v; want silence (a timeout)", got, err)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("target accepted %d connections during the blackhole, want still 2 (no dial)", n)
	}

	p.Restore()
	if !readUntilClosed(held, 2*time.Second) {
		t.Error("the connection held by the blackhole was not closed by Restore")
	}
	if !readUntilClosed(busy, 2*time.Second) {
		t.Error("the connection that lost bytes to the blackhole was not closed by Restore")
	}
	if got, err := echo(idle, "still here", time.Second); err != nil || got != "still here" {
		t.Errorf("the connection that stayed idle through the blackhole: %q, %v; want it to carry on", got, err)
	}
	if got, err := echo(dial(), "new", time.Second); err != nil || got != "new" {
		t.Errorf("a new connection after Restore: %q, %v", got, err)
	}

	// Cut refuses and drops, and Restore ends that too.
	p.Cut()
	if !readUntilClosed(idle, 2*time.Second) {
		t.Error("Cut left an open connection open")
	}
	if !readUntilClosed(dial(), 2*time.Second) {
		t.Error("a connection made during a Cut was not closed at once")
	}
	p.Restore()
	if got, err := echo(dial(), "back", time.Second); err != nil || got != "back" {
		t.Errorf("after Cut and Restore: %q, %v", got, err)
	}
}
