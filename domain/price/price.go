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

import (
	"math"
	"sort"
	"time"

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

func validToken(s string, maxLen int) bool {
	// "." and ".." are path segments with a meaning of their own in the
	// vendor URLs a product id is put into.
	if len(s) < 1 || len(s) > maxLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

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

// --- commands ---

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

// --- events ---

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

// --- stream ids ---

// ProductKey is the key all comparisons of one product share (the command
// partition key).
func ProductKey(productID string) string { return "pricecomparison/" + productID }

// ComparisonStreamID is the event stream of one comparison. Neither id can
// contain '/', so the id is unambiguous.
func ComparisonStreamID(productID, comparisonID string) string {
	return ProductKey(productID) + "/" + comparisonID
}

// --- rules ---

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

// --- Comparison aggregate ---

// Comparison is one price comparison of one product.
type Comparison struct {
	ID        string
	ProductID string
	Completed bool
	Failed    bool
	version   int
	changes   []domain.Event
}

// LoadComparison rebuilds a comparison from its history.
func LoadComparison(history []domain.Event) *Comparison {
	c := &Comparison{}
	for _, e := range history {
		c.apply(e)
		c.version++
	}
	return c
}

// Version is the number of events the comparison was rebuilt from.
func (c *Comparison) Version() int { return c.version }

// Changes are the events recorded since the comparison was loaded.
func (c *Comparison) Changes() []domain.Event { return c.changes }

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
		c.record(PriceComparisonFailed{ComparisonID: cmd.ComparisonID, ProductID: cmd.ProductID, FailedVendors: failed, FailedAt: now})
		return nil
	}
	c.record(PriceComparisonCompleted{
		ComparisonID:  cmd.ComparisonID,
		ProductID:     cmd.ProductID,
		Offers:        offers,
		FailedVendors: failed,
		ComparedAt:    now,
		ExpiresAt:     now.Add(ttl).Truncate(time.Millisecond),
	})
	return nil
}

func (c *Comparison) record(e domain.Event) {
	c.apply(e)
	c.changes = append(c.changes, e)
}

func (c *Comparison) apply(e domain.Event) {
	switch e := e.(type) {
	case PriceComparisonCompleted:
		c.ID, c.ProductID, c.Completed = e.ComparisonID, e.ProductID, true
	case PriceComparisonFailed:
		c.ID, c.ProductID, c.Failed = e.ComparisonID, e.ProductID, true
	}
}
