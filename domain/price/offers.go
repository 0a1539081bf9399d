package price

import (
	"math"
	"sort"

	"github.com/surge-platform/surge/domain"
)

// ValidCurrency says whether code looks like an ISO 4217 alphabetic code:
// exactly three uppercase ASCII letters.
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}

// Offer is one vendor's price for a product.
type Offer struct {
	Vendor   string  `json:"vendor"`
	Price    float64 `json:"price"`
	Currency string  `json:"currency"`
}

// Validate checks an offer: a known-good vendor name, a finite price above
// zero, and an ISO 4217 currency code.
func (o Offer) Validate() error {
	if !ValidVendorName(o.Vendor) {
		return domain.Invalid("invalid_vendor", "vendor name must be 1-%d characters of [A-Za-z0-9._-]", MaxVendorNameLength)
	}
	if math.IsNaN(o.Price) || math.IsInf(o.Price, 0) || o.Price <= 0 {
		return domain.Invalid("invalid_price", "price must be a finite number above zero")
	}
	if !ValidCurrency(o.Currency) {
		return domain.Invalid("invalid_currency", "currency must be an ISO 4217 code of three uppercase letters")
	}
	return nil
}

// QuoteStatus is what one vendor said about one product.
type QuoteStatus int

const (
	// QuoteFailed: the vendor did not answer usefully (error status, timeout,
	// garbage). It is named in failedVendors.
	QuoteFailed QuoteStatus = iota
	// QuoteOffered: the vendor offers the product at a price.
	QuoteOffered
	// QuoteNoOffer: the vendor answered that it has no offer (HTTP 404). It is
	// neither an offer nor a failure.
	QuoteNoOffer
)

// Quote is the answer of one vendor, as an adapter saw it.
type Quote struct {
	Vendor   string
	Status   QuoteStatus
	Price    float64
	Currency string
	Reason   string // why a QuoteFailed failed (for logs)
}

// Offered builds a quote with an offer.
func Offered(vendor string, price float64, currency string) Quote {
	return Quote{Vendor: vendor, Status: QuoteOffered, Price: price, Currency: currency}
}

// NoOffer builds the quote of a vendor without an offer for the product.
func NoOffer(vendor string) Quote { return Quote{Vendor: vendor, Status: QuoteNoOffer} }

// FailedQuote builds the quote of a vendor that failed.
func FailedQuote(vendor, reason string) Quote {
	return Quote{Vendor: vendor, Status: QuoteFailed, Reason: reason}
}

// Evaluate sorts quotes into valid offers (cheapest first, then by vendor)
// and failed vendors (by name). An offer that breaks a rule (a price of zero
// or below, a currency that is not ISO 4217) counts as that vendor failing:
// it is never a price. A vendor quoted twice counts once, failed if any of
// its quotes failed. It reports whether any vendor answered (offered or had
// no offer).
func Evaluate(quotes []Quote) (offers []Offer, failedVendors []string, answered bool) {
	byVendor := map[string]Quote{}
	var order []string
	for _, q := range quotes {
		if !ValidVendorName(q.Vendor) {
			continue // an adapter bug; such a vendor cannot be named in the output
		}
		if q.Status == QuoteOffered && (Offer{Vendor: q.Vendor, Price: q.Price, Currency: q.Currency}).Validate() != nil {
			q = FailedQuote(q.Vendor, "invalid offer")
		}
		prev, seen := byVendor[q.Vendor]
		if !seen {
			order = append(order, q.Vendor)
		}
		if !seen || q.Status == QuoteFailed || (prev.Status == QuoteNoOffer && q.Status == QuoteOffered) {
			byVendor[q.Vendor] = q
		}
	}
	offers = []Offer{}
	failedVendors = []string{}
	for _, v := range order {
		q := byVendor[v]
		switch q.Status {
		case QuoteOffered:
			offers = append(offers, Offer{Vendor: q.Vendor, Price: q.Price, Currency: q.Currency})
			answered = true
		case QuoteNoOffer:
			answered = true
		default:
			failedVendors = append(failedVendors, q.Vendor)
		}
	}
	sort.Slice(offers, func(i, j int) bool {
		if offers[i].Price != offers[j].Price {
			return offers[i].Price < offers[j].Price
		}
		return offers[i].Vendor < offers[j].Vendor
	})
	sort.Strings(failedVendors)
	return offers, failedVendors, answered
}

// LowestOffer picks the cheapest offer. Prices in different currencies
// cannot be compared without exchange rates, so when vendors answer in more
// than one currency the lowest is taken among the offers in the currency
// most vendors used (on a tie, the alphabetically first currency). Equal
// prices go to the alphabetically first vendor.
func LowestOffer(offers []Offer) (Offer, bool) {
	if len(offers) == 0 {
		return Offer{}, false
	}
	count := map[string]int{}
	for _, o := range offers {
		count[o.Currency]++
	}
	currency := ""
	for c, n := range count {
		if currency == "" || n > count[currency] || (n == count[currency] && c < currency) {
			currency = c
		}
	}
	var best Offer
	found := false
	for _, o := range offers {
		if o.Currency != currency {
			continue
		}
		if !found || o.Price < best.Price || (o.Price == best.Price && o.Vendor < best.Vendor) {
			best, found = o, true
		}
	}
	return best, found
}
