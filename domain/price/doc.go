// Package price is the price-comparison domain (seed 000): a product's
// offers from several vendors, compared once and valid for the window the
// vendors guarantee their prices.
//
// Each comparison is its own small aggregate (one stream per comparison): it
// is requested once, asks every vendor, and records exactly one outcome,
// PriceComparisonCompleted (some vendor answered) or PriceComparisonFailed
// (none did). This package decides what a valid offer is, which vendors
// count as failed, and which offer is the lowest.
package price
