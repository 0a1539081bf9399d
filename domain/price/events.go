package price

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// PriceComparisonCompleted: at least one vendor answered. Offers are the
// valid offers, cheapest first; FailedVendors the vendors that did not answer
// usefully. The result holds until ExpiresAt (the vendors' guarantee).
type PriceComparisonCompleted struct {
	ComparisonID  string    `json:"comparisonId"`
	ProductID     string    `json:"productId"`
	Offers        []Offer   `json:"offers"`
	FailedVendors []string  `json:"failedVendors"`
	ComparedAt    time.Time `json:"comparedAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

func (PriceComparisonCompleted) WireName() string { return "price.comparison_completed.v1" }

// Lowest is the cheapest offer; see LowestOffer.
func (e PriceComparisonCompleted) Lowest() (Offer, bool) { return LowestOffer(e.Offers) }

// PriceComparisonFailed: no vendor answered usefully. Nothing is cached as a
// price; a later request tries again.
type PriceComparisonFailed struct {
	ComparisonID  string    `json:"comparisonId"`
	ProductID     string    `json:"productId"`
	FailedVendors []string  `json:"failedVendors"`
	FailedAt      time.Time `json:"failedAt"`
}

func (PriceComparisonFailed) WireName() string { return "price.comparison_failed.v1" }

// EventTypes lists the events of this package, for decoding stored history.
func EventTypes() []domain.Event {
	return []domain.Event{PriceComparisonCompleted{}, PriceComparisonFailed{}}
}
