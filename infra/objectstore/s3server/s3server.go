// Package s3server runs a local S3-compatible HTTP server for tests, local
// runs and benchmarks, so Surge can exercise its object store adapter without
// reaching real S3. It is a thin wrapper around gofakes3 (the library behind
// `rclone serve s3`) that adds loopback-only listening, optional persistence,
// injected per-request latency and a request counter.
package s3server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Options configures Start.
type Options struct {
	Addr    string        // "127.0.0.1:0" for an ephemeral port; must be a loopback address ("" means that)
	Dir     string        // "" keeps data in memory; otherwise data is persisted under Dir and survives restarts
	Latency time.Duration // injected before handling every request, to stand in for a real region
	Buckets []string      // created at start (kept if they already exist in Dir)
}

// Server is a running S3-compatible server.
type Server struct {
	srv      *http.Server
	url      string
	disk     *diskBackend // nil when in memory
	requests atomic.Int64
	served   chan struct{} // closed when Serve returns

	closeOnce sync.Once
	closeErr  error
}

// Start listens on opts.Addr and serves S3 requests until Close.
func Start(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}

	s := &Server{served: make(chan struct{})}
	var backend gofakes3.Backend
	if opts.Dir == "" {
		backend = s3mem.New()
	} else {
		d, err := openDisk(opts.Dir)
		if err != nil {
			return nil, err
		}
		s.disk, backend = d, d
	}
	for _, b := range opts.Buckets {
		if err := gofakes3.ValidateBucketName(b); err != nil {
			return nil, fmt.Errorf("s3server: bucket %q: %w", b, err)
		}
		if err := backend.CreateBucket(b); err != nil && !gofakes3.IsAlreadyExists(err) {
			return nil, fmt.Errorf("s3server: create bucket %q: %w", b, err)
		}
	}

	// Versioning is off so the in-memory and on-disk modes behave the same;
	// Surge does not use object versions.
	faker := gofakes3.New(backend, gofakes3.WithoutVersioning())
	s.srv = &http.Server{
		Handler:           s.wrap(faker.Server(), opts.Latency),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("s3server: listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // always ErrServerClosed or a listener error after Close
	}()
	return s, nil
}

// wrap counts requests and injects latency. Each request sleeps in its own
// handler goroutine, so latency adds up per request, not across requests.
func (s *Server) wrap(h http.Handler, latency time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done(): // client gave up or server closing
				t.Stop()
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// URL returns the base URL, e.g. "http://127.0.0.1:54321".
func (s *Server) URL() string { return s.url }

// Requests returns how many HTTP requests the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server, dropping open connections. Once it returns, nothing
// more is written to Dir, so a new server may be started on it.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		<-s.served
		if s.disk != nil {
			s.disk.close()
		}
	})
	return s.closeErr
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("s3server: addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("s3server: addr " + addr + " is not a loopback address")
}
