package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/surge-platform/surge/infra/vendors/vendorsim"
)

// vendorSimCommand is `surge vendor-sim`: simulated price vendors with
// latency, jitter and a failure rate, counting every call, until SIGTERM.
// It prints the SURGE_PRICE_VENDORS value that points at it.
func vendorSimCommand(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("vendor-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9300", "listen address")
	names := fs.String("vendors", "a,b,c", "comma-separated vendor names")
	latency := fs.Duration("latency", 300*time.Millisecond, "base latency of every answer")
	jitter := fs.Duration("jitter", 50*time.Millisecond, "latency varies uniformly by ± this much")
	failureRate := fs.Float64("failure-rate", 0, "probability (0..1) that a call answers 503")
	noOfferRate := fs.Float64("no-offer-rate", 0, "share (0..1) of (vendor, product) pairs without an offer (404)")
	currency := fs.String("currency", "KRW", "ISO 4217 currency of every offer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var vendorNames []string
	for _, n := range strings.Split(*names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			vendorNames = append(vendorNames, n)
		}
	}
	sim, err := vendorsim.New(vendorsim.Config{
		Vendors: vendorNames, Latency: *latency, Jitter: *jitter,
		FailureRate: *failureRate, NoOfferRate: *noOfferRate, Currency: *currency,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	logger.Info("vendor simulator listening", "addr", ln.Addr().String(), "vendors", vendorNames,
		"latency", latency.String(), "jitter", jitter.String(), "failure_rate", *failureRate, "no_offer_rate", *noOfferRate)
	fmt.Println("READY", ln.Addr().String())
	fmt.Println("SURGE_PRICE_VENDORS=" + sim.VendorsConfig(base))
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	logger.Info("vendor simulator stopped", "calls", sim.Stats().Total)
	return err
}
