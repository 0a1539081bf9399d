package price

import (
	"github.com/surge-platform/surge/domain"
)

// RequestPriceComparison asks every vendor for a product's price. The API
// mints ComparisonID; it names the comparison's stream, so a redelivered
// command finds its outcome recorded and asks nobody again.
type RequestPriceComparison struct {
	ProductID    string `json:"productId"`
	ComparisonID string `json:"comparisonId"`
}

func (RequestPriceComparison) WireName() string { return "price.request_comparison.v1" }

// PartitionKey keeps every command about one product on one partition, so
// two comparisons of a product never run at the same time.
func (c RequestPriceComparison) PartitionKey() string { return ProductKey(c.ProductID) }

// Validate checks the command on its own.
func (c RequestPriceComparison) Validate() error {
	if err := ValidateProductID(c.ProductID); err != nil {
		return err
	}
	if !validToken(c.ComparisonID, MaxComparisonIDLength) {
		return domain.Invalid("invalid_comparison_id", "comparisonId must be 1-%d characters of [A-Za-z0-9._-]", MaxComparisonIDLength)
	}
	return nil
}
