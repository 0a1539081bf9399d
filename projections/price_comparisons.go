package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/price"
)

// TimeLayout formats the read model's times: UTC, fixed-width milliseconds,
// so that they also compare correctly as strings (the store's Lua does).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// PriceComparisonView is a product's cached comparison. It is stored as the
// exact JSON body of a cache hit, so a hit is one Redis GET and no decoding.
type PriceComparisonView struct {
	ProductID     string        `json:"productId"`
	Lowest        *price.Offer  `json:"lowest"` // null when no vendor offers the product
	Offers        []price.Offer `json:"offers"`
	FailedVendors []string      `json:"failedVendors"`
	ComparedAt    string        `json:"comparedAt"`
	ExpiresAt     string        `json:"expiresAt"`
}

// NewPriceComparisonView renders a completed comparison.
func NewPriceComparisonView(e price.PriceComparisonCompleted) PriceComparisonView {
	v := PriceComparisonView{
		ProductID:     e.ProductID,
		Offers:        e.Offers,
		FailedVendors: e.FailedVendors,
		ComparedAt:    FormatTime(e.ComparedAt),
		ExpiresAt:     FormatTime(e.ExpiresAt),
	}
	if v.Offers == nil {
		v.Offers = []price.Offer{}
	}
	if v.FailedVendors == nil {
		v.FailedVendors = []string{}
	}
	if low, ok := e.Lowest(); ok {
		v.Lowest = &low
	}
	return v
}

// PriceClaim is what the API learns on a cache miss, atomically with
// respect to the projection's writes.
type PriceClaim struct {
	Summary    []byte        // the comparison was cached after all: answer it
	Claimed    bool          // the caller holds the in-flight marker and must send the command
	BackingOff bool          // the last comparison failed; nothing is sent until RetryAfter passes
	RetryAfter time.Duration // remaining back-off (BackingOff) or in-flight time (neither flag)
}

// PriceStore is the price-comparison read model in Redis. Each write also
// releases the product's in-flight marker if comparisonID holds it, and
// wakes the API's waiters.
type PriceStore interface {
	// SaveComparison caches summary for ttl unless a newer comparison is
	// cached; ttl <= 0 (already expired) caches nothing.
	SaveComparison(ctx context.Context, productID, comparisonID string, summary []byte, comparedAt string, ttl time.Duration) error
	// SaveFailure marks the product as backing off for backoff unless a
	// newer comparison or failure is recorded; backoff <= 0 marks nothing.
	SaveFailure(ctx context.Context, productID, comparisonID string, failedAt string, backoff time.Duration) error
}

// PriceComparisonProjection caches completed comparisons for as long as the
// vendors guarantee their prices, and remembers failures for a short
// back-off so that a failing vendor set is not hammered. Writes compare
// times, so an event applied twice or out of order changes nothing, and
// replaying history restores only what has not expired.
type PriceComparisonProjection struct {
	Store        PriceStore
	RetryBackoff time.Duration
	Clock        domain.Clock
}

// Name is the projection's consumer group. Never rename it.
func (PriceComparisonProjection) Name() string { return "PriceComparisonProjection" }

func (p PriceComparisonProjection) OnPriceComparisonCompleted(ctx context.Context, e *price.PriceComparisonCompleted) error {
	body, err := json.Marshal(NewPriceComparisonView(*e))
	if err != nil {
		return err
	}
	return p.Store.SaveComparison(ctx, e.ProductID, e.ComparisonID, body, FormatTime(e.ComparedAt), e.ExpiresAt.Sub(p.Clock.Now()))
}

func (p PriceComparisonProjection) OnPriceComparisonFailed(ctx context.Context, e *price.PriceComparisonFailed) error {
	return p.Store.SaveFailure(ctx, e.ProductID, e.ComparisonID, FormatTime(e.FailedAt), e.FailedAt.Add(p.RetryBackoff).Sub(p.Clock.Now()))
}
