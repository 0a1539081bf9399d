package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/internal/correlation"
)

// ServerOptions are the HTTP edge's limits. Streaming endpoints (which hold
// a response open) clear the write deadline for themselves.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // slowloris: headers must arrive within this
	ReadTimeout       time.Duration // the whole request, body included
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration // keep-alive connections between requests
	MaxHeaderBytes    int           // beyond it the server answers 431
}

// NewServer wraps handler in an http.Server with the edge's limits.
func NewServer(handler http.Handler, o ServerOptions) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
	}
}

// connReserve is how many file descriptors the process keeps for itself
// (database, Redis and Kafka connections, files) when the connection cap
// comes from the file-descriptor limit.
const connReserve = 512

// DefaultMaxConns is the file-descriptor limit less a reserve: beyond it
// the process could not even accept a connection to refuse it.
func DefaultMaxConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2*connReserve {
		return 1024
	}
	return int(min(lim.Cur, 1<<20)) - connReserve
}

// tooManyConnections is written, whole, to a connection over the cap.
var tooManyConnections = func() []byte {
	body := `{"error":{"code":"too_many_connections","message":"the server is at its connection limit; try again shortly"}}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// LimitListener caps the connections open at once at max. A connection
// over the cap is not left in the kernel's backlog (where its client would
// wait for a timeout) but answered 503 too_many_connections at once and
// closed. The gauge surge_http_connections_open and the counter
// surge_http_connections_refused_total are registered on reg.
func LimitListener(l net.Listener, max int, reg prometheus.Registerer) net.Listener {
	ll := &limitListener{Listener: l, max: int64(max)}
	ll.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "surge", Name: "http_connections_refused_total",
		Help: "Connections answered 503 too_many_connections because SURGE_HTTP_MAX_CONNS were open.",
	})
	if reg != nil {
		reg.MustRegister(ll.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "surge", Name: "http_connections_open", Help: "HTTP connections open now.",
		}, func() float64 { return float64(ll.open.Load()) }))
	}
	return ll
}

type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused prometheus.Counter
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Inc()
			go refuse(c)
			continue
		}
		return &countedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
	}
}

// refuse answers 503 and closes. It half-closes first and drains what the
// client sent for a moment, so the answer is not lost to a reset.
func refuse(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(200 * time.Millisecond)) //nolint:errcheck
	if _, err := c.Write(tooManyConnections); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite() //nolint:errcheck
	}
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// standardMethods are the method labels of the HTTP metrics; any other
// method counts as "other", so made-up methods cannot grow /metrics.
var standardMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions,
}

func methodLabel(m string) string {
	if l, ok := standardMethods[m]; ok {
		return l
	}
	return "other"
}

// maxCorrelationID is the longest correlation id taken from a caller.
const maxCorrelationID = 128

// validCorrelationID: printable ASCII, 1..128 bytes. Anything else (invalid
// UTF-8, control characters) would travel into every stored event.
func validCorrelationID(id string) bool {
	if id == "" || len(id) > maxCorrelationID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func newCorrelationID() string {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck
	return hex.EncodeToString(b[:])
}

const correlationKey = "correlation_id"

// correlation takes X-Correlation-ID from the caller if it is valid (else a
// fresh one; the bad one is dropped, not stored), echoes it, and puts it in
// the context every command is sent with.
func (s *Server) correlation(c *gin.Context) {
	id := c.GetHeader("X-Correlation-ID")
	if !validCorrelationID(id) {
		id = newCorrelationID()
	}
	c.Set(correlationKey, id)
	c.Header("X-Correlation-ID", id)
	c.Request = c.Request.WithContext(correlation.With(c.Request.Context(), id))
	c.Next()
}

// ErrRepairing marks a readiness check whose dependency answers but is
// being repaired (Redis lost its data and is rebuilt from the event store):
// the instance still serves (with 503 + Retry-After where it must), so it
// stays in the load balancer, and operators see why in /readyz.
var ErrRepairing = errors.New("repairing")
