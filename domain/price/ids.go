package price

import (
	"github.com/surge-platform/surge/domain"
)

const (
	MaxProductIDLength    = 64
	MaxComparisonIDLength = 64
	MaxVendorNameLength   = 64
)

// ValidProductID says whether id is 1..64 characters of [A-Za-z0-9._-]. It
// sits on the cache-hit path, so it is a plain loop, not a regexp.
func ValidProductID(id string) bool { return validToken(id, MaxProductIDLength) }

// ValidateProductID checks a product id.
func ValidateProductID(id string) error {
	if !ValidProductID(id) {
		return domain.Invalid("invalid_product_id", "productId must be 1-%d characters of [A-Za-z0-9._-], not \".\" or \"..\"", MaxProductIDLength)
	}
	return nil
}

// ValidVendorName says whether name is 1..64 characters of [A-Za-z0-9._-].
func ValidVendorName(name string) bool { return validToken(name, MaxVendorNameLength) }

// validToken: "." and ".." are path segments with a meaning of their own in
// the vendor URLs a product id is put into, so they are refused too.
func validToken(s string, maxLen int) bool { return domain.ValidSegment(s, maxLen) }

// ProductKey is the key all comparisons of one product share (the command
// partition key).
func ProductKey(productID string) string { return "pricecomparison/" + productID }

// ComparisonStreamID is the event stream of one comparison. Neither id can
// contain '/', so the id is unambiguous.
func ComparisonStreamID(productID, comparisonID string) string {
	return ProductKey(productID) + "/" + comparisonID
}
