package benchkit

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// ServeHTTP serves h on an ephemeral 127.0.0.1 port with the app's server
// settings until the benchmark ends, and returns its base URL.
func ServeHTTP(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Must(tb, err, "listen")
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on shutdown
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	return "http://" + ln.Addr().String()
}
