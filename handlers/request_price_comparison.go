package handlers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/price"
)

// PriceComparisonRepository loads and saves one comparison as an event stream.
type PriceComparisonRepository interface {
	LoadComparison(ctx context.Context, productID, comparisonID string) (*price.Comparison, error)
	SaveComparison(ctx context.Context, c *price.Comparison) error
}

// PriceQuoter asks every configured vendor for a product's price, in
// parallel, each within its own timeout; one quote per vendor.
type PriceQuoter interface {
	Quote(ctx context.Context, productID string) []price.Quote
}

// RequestPriceComparisonHandler asks the vendors and records the outcome.
// The vendor calls are reads and happen before the append; the comparison
// is a stream of its own appended at expected version 0, so a redelivered
// command that finds its outcome recorded asks nobody again, and one that
// races a concurrent delivery loses the append harmlessly.
type RequestPriceComparisonHandler struct {
	Comparisons PriceComparisonRepository
	Vendors     PriceQuoter
	TTL         time.Duration // how long the vendors guarantee their prices
	Clock       Clock
	Logger      *slog.Logger
}

func (h RequestPriceComparisonHandler) HandlerName() string { return "RequestPriceComparisonHandler" }

func (h RequestPriceComparisonHandler) Handle(ctx context.Context, cmd *price.RequestPriceComparison) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	comparison, err := h.Comparisons.LoadComparison(ctx, cmd.ProductID, cmd.ComparisonID)
	if err != nil {
		return err
	}
	if comparison.Recorded() {
		return nil // redelivered: the outcome is already recorded
	}
	quotes := h.Vendors.Quote(ctx, cmd.ProductID)
	if err := ctx.Err(); err != nil {
		// Cut short by shutdown, not by the vendors: record nothing, let
		// the command be redelivered.
		return err
	}
	for _, q := range quotes {
		if q.Status == price.QuoteFailed {
			h.Logger.WarnContext(ctx, "price vendor failed", "vendor", q.Vendor, "product", cmd.ProductID, "reason", q.Reason)
		}
	}
	if err := comparison.Record(*cmd, quotes, h.Clock.Now(), h.TTL); err != nil {
		return err
	}
	err = h.Comparisons.SaveComparison(ctx, comparison)
	if errors.Is(err, domain.ErrConcurrentModification) {
		return nil // a concurrent delivery recorded this comparison first
	}
	return err
}
