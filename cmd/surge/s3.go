package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/surge-platform/surge/infra/objectstore/s3server"
)

// s3Command is `surge s3`: a local S3-compatible server (gofakes3) with an
// injected per-request latency, until SIGTERM. It prints the SURGE_S3_*
// values that point at it.
func s3Command(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("s3", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address (loopback only)")
	dir := fs.String("dir", "", "keep objects under this directory (default: in memory)")
	latency := fs.Duration("latency", 0, "injected before every request, to stand in for a real region (e.g. 200ms)")
	buckets := fs.String("buckets", "surge-assets", "comma-separated buckets to create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var names []string
	for _, b := range strings.Split(*buckets, ",") {
		if b = strings.TrimSpace(b); b != "" {
			names = append(names, b)
		}
	}
	srv, err := s3server.Start(s3server.Options{Addr: *addr, Dir: *dir, Latency: *latency, Buckets: names})
	if err != nil {
		return err
	}
	logger.Info("S3-compatible server listening", "endpoint", srv.URL(), "dir", *dir, "latency", latency.String(), "buckets", names)
	fmt.Println("READY", strings.TrimPrefix(srv.URL(), "http://"))
	fmt.Println("SURGE_S3_ENDPOINT=" + srv.URL())
	<-ctx.Done()
	start := time.Now()
	err = srv.Close()
	logger.Info("S3-compatible server stopped", "requests", srv.Requests(), "took", time.Since(start).String())
	return err
}
