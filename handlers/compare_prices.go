package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/projections"
)

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

// PriceWatcher tells this instance's held requests when an outcome for
// their product is recorded.
type PriceWatcher interface {
	// Wait's ready is closed at the product's next outcome (or when the
	// process shuts down); stop must be called when done waiting.
	Wait(productID string) (ready <-chan struct{}, stop func())
}

// ComparePrices asks for a product's comparison; Wait > 0 holds a miss
// until the outcome (or the wait ends).
type ComparePrices struct {
	ProductID string
	Wait      time.Duration
}

// PriceAnswer is a comparison (Summary, the cached JSON body) or, while
// there is none, when to ask again.
type PriceAnswer struct {
	Summary    []byte
	RetryAfter time.Duration // pending: about when to ask again
	LastFailed bool          // pending because the last comparison failed (back-off)
}

// ComparePricesHandler answers from the cache (a hit is one Redis GET and
// nothing else). On a miss it sends RequestPriceComparison, unless a
// comparison of the product is already in flight (on any instance) or the
// last one failed less than the back-off ago, and answers pending; with a
// wait it first holds the request until the outcome is announced.
type ComparePricesHandler struct {
	Cache    PriceCache
	Watcher  PriceWatcher // nil: a wait looks again only when it ends
	Commands CommandSender
	// Hold is how long a miss's in-flight marker keeps other requests (on
	// every instance) from sending another command while no outcome is
	// recorded. It must exceed the vendor timeout plus the pipeline's latency.
	Hold time.Duration
	// RetryAfter is what a pending answer suggests (about how long a
	// comparison takes: the vendor timeout).
	RetryAfter time.Duration
	Logger     *slog.Logger
}

// Handle answers q; a ctx that ends while held (the client left) is an error.
func (h ComparePricesHandler) Handle(ctx context.Context, q ComparePrices) (PriceAnswer, error) {
	body, err := h.Cache.Summary(ctx, q.ProductID)
	if err != nil || body != nil {
		return PriceAnswer{Summary: body}, err
	}
	// A miss. A waiter registers before it looks again (the claim re-reads
	// the cache), so an outcome recorded in between still wakes it.
	var ready <-chan struct{}
	if q.Wait > 0 && h.Watcher != nil {
		var stop func()
		ready, stop = h.Watcher.Wait(q.ProductID)
		defer stop()
	}
	comparisonID := uuid.NewString()
	claim, err := h.Cache.Claim(ctx, q.ProductID, comparisonID, h.Hold)
	if err != nil {
		return PriceAnswer{}, err
	}
	switch {
	case claim.Summary != nil:
		return PriceAnswer{Summary: claim.Summary}, nil
	case claim.BackingOff:
		return h.pending(claim), nil // nothing will change before the back-off ends
	case claim.Claimed:
		cmd := price.RequestPriceComparison{ProductID: q.ProductID, ComparisonID: comparisonID}
		if err := h.Commands.Send(ctx, cmd); err != nil {
			// Not stored: free the product so the next request tries again.
			if relErr := h.Cache.Release(context.WithoutCancel(ctx), q.ProductID, comparisonID); relErr != nil {
				h.Logger.ErrorContext(ctx, "could not release price comparison claim", "product", q.ProductID, "err", relErr)
			}
			return PriceAnswer{}, fmt.Errorf("send RequestPriceComparison: %w", err)
		}
	}
	if q.Wait > 0 {
		timer := time.NewTimer(q.Wait)
		defer timer.Stop()
		select {
		case <-ready: // nil without a watcher: only the timer ends the wait
		case <-timer.C:
		case <-ctx.Done():
			return PriceAnswer{}, ctx.Err() // the client left
		}
		// One look: the outcome, or where things stand when the wait ends.
		if claim, err = h.Cache.Peek(ctx, q.ProductID); err != nil {
			return PriceAnswer{}, err
		}
		if claim.Summary != nil {
			return PriceAnswer{Summary: claim.Summary}, nil
		}
	}
	return h.pending(claim), nil
}

// pending says when to ask again: the remaining back-off after a failed
// comparison, else about how long a comparison takes.
func (h ComparePricesHandler) pending(claim projections.PriceClaim) PriceAnswer {
	if claim.BackingOff {
		return PriceAnswer{RetryAfter: claim.RetryAfter, LastFailed: true}
	}
	return PriceAnswer{RetryAfter: h.RetryAfter}
}
