// Command baseline is the e2e storm test's baseline: a bare gin endpoint,
// GET /v1/rooms/:roomId/messages, answering with the bytes of one Redis key
// (<prefix>page:<roomId>, set by the test to the page Surge itself serves)
// behind the server settings Surge uses. The same storm against it says
// what this machine gives any endpoint, so the figures of Surge's room next
// door can be read beside it. Built without -race, like the load
// generator; it serves until its standard input closes (the test holds the
// other end: if the test dies, so does this), SIGTERM or SIGINT.
//
//	baseline -addr 127.0.0.1:8090 -redis redis://127.0.0.1:6379/0 -prefix test:
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "where to listen")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis")
	prefix := flag.String("prefix", "", "the keys' prefix")
	flag.Parse()
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(2)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/v1/rooms/:roomId/messages", func(c *gin.Context) {
		body, err := rdb.Get(c.Request.Context(), *prefix+"page:"+c.Param("roomId")).Bytes()
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": gin.H{"code": "unavailable", "message": err.Error()}})
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	})
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusNoContent) })

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	// Surge's server settings (api.NewServer with config's defaults).
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // returns when the test closes the pipe or dies
		stop()
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown) //nolint:errcheck // exiting anyway
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
