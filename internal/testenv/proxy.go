package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy a test controls, to put a dependency outage on a
// real connection: Cut refuses and drops connections (the dependency is
// down, and the client learns so at once); Blackhole drops packets (the
// network is partitioned: connections stay open, nothing arrives, and the
// client learns only from its own deadlines); Restore ends either.
type Proxy struct {
	target   string
	listener net.Listener

	// mu guards mode and links. Pipes hold it for reading while they decide
	// whether to forward or discard a chunk, so Restore (which holds it for
	// writing) sees every link whose bytes were discarded.
	mu    sync.RWMutex
	mode  proxyMode
	links map[*link]struct{}
}

type proxyMode int

const (
	forwarding proxyMode = iota
	refusing             // Cut
	dropping             // Blackhole
)

// link is one client connection and, unless it was accepted during a
// blackhole, its connection to the target.
type link struct {
	client    net.Conn
	upstream  net.Conn    // nil: held by a blackhole, never dialed
	discarded atomic.Bool // bytes were dropped: the stream is no longer whole
	closeOnce sync.Once
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.client.Close()
		if l.upstream != nil {
			l.upstream.Close()
		}
	})
}

// NewProxy listens on 127.0.0.1 and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, listener: l, links: map[*link]struct{}{}}
	go p.accept()
	t.Cleanup(func() { l.Close(); p.Cut() })
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Cut drops every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = refusing
	for l := range p.links {
		l.close()
	}
	p.links = map[*link]struct{}{}
}

// Blackhole drops packets until Restore: open connections stay open but
// nothing is forwarded in either direction (what either side sends is read
// and discarded), and new connections are accepted and held open without
// dialing the target.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = dropping
}

// Restore lets connections through again. Connections that lost bytes to a
// blackhole, or were held by one, are closed: their streams cannot be
// resumed. Connections that stayed idle through it carry on.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = forwarding
	for l := range p.links {
		if l.upstream == nil || l.discarded.Load() {
			l.close()
			delete(p.links, l)
		}
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mu.RLock()
		mode := p.mode
		p.mu.RUnlock()
		var up net.Conn
		if mode == forwarding {
			if up, err = net.Dial("tcp", p.target); err != nil {
				c.Close()
				continue
			}
		}
		// The mode may have changed while dialing: decide under the lock.
		p.mu.Lock()
		switch p.mode {
		case refusing:
			p.mu.Unlock()
			c.Close()
			if up != nil {
				up.Close()
			}
			continue
		case dropping:
			if up != nil {
				up.Close()
				up = nil
			}
		case forwarding:
			if up == nil { // accepted during a blackhole that has just ended
				p.mu.Unlock()
				c.Close()
				continue
			}
		}
		l := &link{client: c, upstream: up}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		if up == nil {
			go p.pipe(l, nil, c)
			continue
		}
		go p.pipe(l, up, c)
		go p.pipe(l, c, up)
	}
}

// pipe copies src to dst chunk by chunk, discarding chunks read during a
// blackhole (dst nil: discard everything), and closes the link when either
// side ends.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.RLock()
			drop := dst == nil || p.mode == dropping
			if drop {
				l.discarded.Store(true)
			}
			p.mu.RUnlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
