package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/projections"
)

// MaxPriceWait is the longest ?wait a price-comparison request may ask for.
const MaxPriceWait = 10 * time.Second

// PriceCache is the price-comparison read model and its single-flight
// marker (Redis).
type PriceCache interface {
	// Summary is the cached comparison's JSON body, or nil on a miss.
	Summary(ctx context.Context, productID string) ([]byte, error)
	// Claim re-reads the cache and, on a miss with no back-off and nothing
	// in flight, takes the in-flight marker for hold, all atomically.
	Claim(ctx context.Context, productID, comparisonID string, hold time.Duration) (projections.PriceClaim, error)
	// Peek reports what Claim would, without claiming.
	Peek(ctx context.Context, productID string) (projections.PriceClaim, error)
	// Release drops the marker of a command that could not be sent.
	Release(ctx context.Context, productID, comparisonID string) error
}

// PriceWatcher wakes this instance's waiting requests when an outcome for
// their product is recorded.
type PriceWatcher interface {
	Watch(productID string) (ready <-chan struct{}, stop func())
}

// PriceDeps are what the price-comparison endpoint needs.
type PriceDeps struct {
	Cache   PriceCache   // nil: the endpoint answers 503
	Watcher PriceWatcher // nil: a ?wait looks again only when it ends
	// Hold is how long a miss's in-flight marker keeps other requests (on
	// every instance) from sending another command while no outcome is
	// recorded. It must exceed the vendor timeout plus the pipeline's latency.
	Hold time.Duration
	// RetryAfter is the Retry-After of a pending answer (about how long a
	// comparison takes: the vendor timeout).
	RetryAfter time.Duration
}

const jsonContentType = "application/json; charset=utf-8"

// getPriceComparison answers a product's comparison from Redis (a hit is one
// GET and nothing else). On a miss it sends RequestPriceComparison, unless a
// comparison of the product is already in flight (on any instance) or the
// last one failed less than the back-off ago, and answers 202; with ?wait it
// first holds the request until the outcome is announced or the wait ends.
func (s *Server) getPriceComparison(c *gin.Context) {
	productID := c.Param("productId")
	if !price.ValidProductID(productID) {
		respondError(c, newError(http.StatusBadRequest, "invalid_product_id", `productId must be 1-64 characters of [A-Za-z0-9._-], not "." or ".."`))
		return
	}
	var wait time.Duration
	if raw := c.Request.URL.RawQuery; raw != "" {
		var err error
		if wait, err = priceWait(raw); err != nil {
			respondError(c, err)
			return
		}
	}
	deps := s.deps.Prices
	if deps.Cache == nil {
		respondError(c, errUnavailable)
		return
	}
	ctx := c.Request.Context()
	body, err := deps.Cache.Summary(ctx, productID)
	if err != nil {
		respondError(c, err)
		return
	}
	if body != nil {
		c.Data(http.StatusOK, jsonContentType, body)
		return
	}

	// A miss. A waiter registers before it looks again (the claim re-reads
	// the cache), so an outcome recorded in between still wakes it.
	var ready <-chan struct{}
	if wait > 0 && deps.Watcher != nil {
		var stop func()
		ready, stop = deps.Watcher.Watch(productID)
		defer stop()
	}
	comparisonID := uuid.NewString()
	claim, err := deps.Cache.Claim(ctx, productID, comparisonID, deps.Hold)
	if err != nil {
		respondError(c, err)
		return
	}
	switch {
	case claim.Summary != nil:
		c.Data(http.StatusOK, jsonContentType, claim.Summary)
		return
	case claim.BackingOff:
		s.pendingPrice(c, claim) // nothing will change before the back-off ends
		return
	case claim.Claimed:
		cmd := price.RequestPriceComparison{ProductID: productID, ComparisonID: comparisonID}
		if err := s.deps.Commands.Send(ctx, cmd); err != nil {
			// Not stored: free the product so the next request tries again.
			if relErr := deps.Cache.Release(context.WithoutCancel(ctx), productID, comparisonID); relErr != nil {
				slog.ErrorContext(ctx, "could not release price comparison claim", "product", productID, "err", relErr)
			}
			slog.ErrorContext(ctx, "could not send RequestPriceComparison", "product", productID, "err", err)
			respondError(c, errUnavailable)
			return
		}
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ready: // nil without a watcher: only the timer ends the wait
		case <-timer.C:
		case <-ctx.Done():
			c.Abort() // the client left
			return
		}
		// One look: the outcome, or where things stand when the wait ends.
		if claim, err = deps.Cache.Peek(ctx, productID); err != nil {
			respondError(c, err)
			return
		}
		if claim.Summary != nil {
			c.Data(http.StatusOK, jsonContentType, claim.Summary)
			return
		}
	}
	s.pendingPrice(c, claim)
}

// pendingPrice answers 202 with when to ask again: the remaining back-off
// after a failed comparison, else about how long a comparison takes.
func (s *Server) pendingPrice(c *gin.Context, claim projections.PriceClaim) {
	retryAfter := s.deps.Prices.RetryAfter
	body := gin.H{"status": "pending"}
	if claim.BackingOff {
		retryAfter = claim.RetryAfter
		body["lastComparison"] = "failed"
	}
	c.Header("Retry-After", strconv.Itoa(ceilSeconds(retryAfter)))
	c.JSON(http.StatusAccepted, body)
}

// ceilSeconds rounds up to whole seconds, at least 1 (Retry-After's unit).
func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// priceWait reads the query: only wait, once, a duration of 0..10s.
func priceWait(rawQuery string) (time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, newError(http.StatusBadRequest, "invalid_query", "the query string is malformed")
	}
	for k := range q {
		if k != "wait" {
			return 0, newError(http.StatusBadRequest, "unknown_parameter", "unknown query parameter "+strconv.Quote(k)+" (only wait is accepted)")
		}
	}
	vals := q["wait"]
	if len(vals) != 1 {
		return 0, newError(http.StatusBadRequest, "invalid_wait", "wait must be given at most once")
	}
	d, err := time.ParseDuration(vals[0])
	if err != nil || d < 0 || d > MaxPriceWait {
		return 0, newError(http.StatusBadRequest, "invalid_wait", "wait must be a duration from 0s to 10s, like 500ms or 5s")
	}
	return d, nil
}
