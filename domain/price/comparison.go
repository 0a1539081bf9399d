package price

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Comparison is one price comparison of one product.
type Comparison struct {
	ID        string
	ProductID string
	Completed bool
	Failed    bool
	domain.Root
}

// LoadComparison rebuilds a comparison from its history.
func LoadComparison(history []domain.Event) *Comparison {
	c := &Comparison{}
	c.Replay(history, c.apply)
	return c
}

// Recorded says whether the comparison already has its outcome.
func (c *Comparison) Recorded() bool { return c.Completed || c.Failed }

// Record turns the vendors' quotes into the comparison's outcome:
// PriceComparisonCompleted, valid for ttl from now, if any vendor answered
// (an offer or "no offer"), else PriceComparisonFailed. Recording an
// already recorded comparison records nothing (a redelivered command).
func (c *Comparison) Record(cmd RequestPriceComparison, quotes []Quote, now time.Time, ttl time.Duration) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	if ttl <= 0 {
		return domain.Invalid("invalid_ttl", "a comparison must be valid for a positive duration")
	}
	if c.Recorded() {
		return nil
	}
	// Millisecond precision: read models compare these as fixed-width strings.
	now = now.UTC().Truncate(time.Millisecond)
	offers, failed, answered := Evaluate(quotes)
	if !answered {
		c.Root.Record(PriceComparisonFailed{ComparisonID: cmd.ComparisonID, ProductID: cmd.ProductID, FailedVendors: failed, FailedAt: now}, c.apply)
		return nil
	}
	c.Root.Record(PriceComparisonCompleted{
		ComparisonID:  cmd.ComparisonID,
		ProductID:     cmd.ProductID,
		Offers:        offers,
		FailedVendors: failed,
		ComparedAt:    now,
		ExpiresAt:     now.Add(ttl).Truncate(time.Millisecond),
	}, c.apply)
	return nil
}

func (c *Comparison) apply(e domain.Event) {
	switch e := e.(type) {
	case PriceComparisonCompleted:
		c.ID, c.ProductID, c.Completed = e.ComparisonID, e.ProductID, true
	case PriceComparisonFailed:
		c.ID, c.ProductID, c.Failed = e.ComparisonID, e.ProductID, true
	}
}
