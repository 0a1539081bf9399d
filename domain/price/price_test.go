package price_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/price"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)

func cmd(product string) price.RequestPriceComparison {
	return price.RequestPriceComparison{ProductID: product, ComparisonID: "c-1"}
}

func TestProductIDRule(t *testing.T) {
	good := []string{"a", "SKU-1", "p_1.2-x", strings.Repeat("x", 64), "0"}
	bad := []string{"", strings.Repeat("x", 65), "a b", "a/b", "ü", "a\x00", "a{b}", "a:b", "%20"}
	for _, id := range good {
		if err := price.ValidateProductID(id); err != nil {
			t.Errorf("%q rejected: %v", id, err)
		}
	}
	for _, id := range bad {
		err := price.ValidateProductID(id)
		if domain.KindOf(err) != domain.KindInvalid || !strings.HasPrefix(err.Error(), "invalid_product_id") {
			t.Errorf("%q: err = %v, want invalid_product_id", id, err)
		}
	}
}

func TestOfferRules(t *testing.T) {
	ok := price.Offer{Vendor: "a", Price: 0.01, Currency: "KRW"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid offer rejected: %v", err)
	}
	cases := map[string]price.Offer{
		"invalid_price":      {Vendor: "a", Price: 0, Currency: "USD"},
		"invalid_price/-":    {Vendor: "a", Price: -3, Currency: "USD"},
		"invalid_price/nan":  {Vendor: "a", Price: math.NaN(), Currency: "USD"},
		"invalid_price/inf":  {Vendor: "a", Price: math.Inf(1), Currency: "USD"},
		"invalid_currency":   {Vendor: "a", Price: 1, Currency: ""},
		"invalid_currency/l": {Vendor: "a", Price: 1, Currency: "usd"},
		"invalid_currency/4": {Vendor: "a", Price: 1, Currency: "USDT"},
		"invalid_currency/d": {Vendor: "a", Price: 1, Currency: "U1D"},
		"invalid_vendor":     {Vendor: "", Price: 1, Currency: "USD"},
	}
	for name, o := range cases {
		code := strings.SplitN(name, "/", 2)[0]
		if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), code) {
			t.Errorf("%s: err = %v, want %s", name, err, code)
		}
	}
}

func TestRecordCompletedSortsOffersAndNamesFailedVendors(t *testing.T) {
	c := price.LoadComparison(nil)
	quotes := []price.Quote{
		price.Offered("b", 120.5, "USD"),
		price.FailedQuote("z", "status 500"),
		price.NoOffer("c"),
		price.Offered("a", 99.99, "USD"),
		price.Offered("d", -1, "USD"),    // garbage: counts as failing
		price.Offered("e", 50, "usd"),    // garbage currency
		price.Offered("f", 99.99, "USD"), // same price as a: vendor order
	}
	testMust(t, c.Record(cmd("sku-1"), quotes, t0, 5*time.Minute))
	if len(c.Changes()) != 1 {
		t.Fatalf("changes = %v", c.Changes())
	}
	got := c.Changes()[0].(price.PriceComparisonCompleted)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	want := price.PriceComparisonCompleted{
		ComparisonID: "c-1",
		ProductID:    "sku-1",
		Offers: []price.Offer{
			{Vendor: "a", Price: 99.99, Currency: "USD"},
			{Vendor: "f", Price: 99.99, Currency: "USD"},
			{Vendor: "b", Price: 120.5, Currency: "USD"},
		},
		FailedVendors: []string{"d", "e", "z"},
		ComparedAt:    at,
		ExpiresAt:     at.Add(5 * time.Minute),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event = %+v\nwant    %+v", got, want)
	}
	if low, ok := got.Lowest(); !ok || low != (price.Offer{Vendor: "a", Price: 99.99, Currency: "USD"}) {
		t.Fatalf("lowest = %+v %v", low, ok)
	}
	if !c.Completed || c.Failed || !c.Recorded() || c.ID != "c-1" || c.ProductID != "sku-1" {
		t.Fatalf("state = %+v", c)
	}
}

func TestOnlyNoOffersIsACompletedComparisonWithoutOffers(t *testing.T) {
	c := price.LoadComparison(nil)
	testMust(t, c.Record(cmd("rare"), []price.Quote{price.NoOffer("a"), price.NoOffer("b")}, t0, time.Minute))
	e := c.Changes()[0].(price.PriceComparisonCompleted)
	if len(e.Offers) != 0 || len(e.FailedVendors) != 0 || e.Offers == nil || e.FailedVendors == nil {
		t.Fatalf("event = %+v, want empty (non-nil) offers and failed vendors", e)
	}
	if _, ok := e.Lowest(); ok {
		t.Fatal("lowest of no offers")
	}
}

func TestNoVendorAnsweringRecordsFailed(t *testing.T) {
	for name, quotes := range map[string][]price.Quote{
		"all failed":        {price.FailedQuote("b", "timeout"), price.FailedQuote("a", "status 500")},
		"all garbage":       {price.Offered("a", 0, "USD"), price.Offered("b", 3, "")},
		"no vendors at all": nil,
	} {
		c := price.LoadComparison(nil)
		testMust(t, c.Record(cmd("p"), quotes, t0, time.Minute))
		e, ok := c.Changes()[0].(price.PriceComparisonFailed)
		if !ok || !c.Failed || c.Completed {
			t.Fatalf("%s: changes %v", name, c.Changes())
		}
		wantFailed := []string{}
		if quotes != nil {
			wantFailed = []string{"a", "b"}
		}
		if !reflect.DeepEqual(e.FailedVendors, wantFailed) || e.ProductID != "p" || e.ComparisonID != "c-1" || !e.FailedAt.Equal(t0.Truncate(time.Millisecond)) {
			t.Fatalf("%s: event = %+v", name, e)
		}
	}
}

func TestRecordingTwiceRecordsNothing(t *testing.T) {
	c := price.LoadComparison(nil)
	testMust(t, c.Record(cmd("p"), []price.Quote{price.Offered("a", 1, "EUR")}, t0, time.Minute))
	reloaded := price.LoadComparison(c.Changes())
	if reloaded.Version() != 1 || !reloaded.Recorded() {
		t.Fatalf("reloaded = %+v", reloaded)
	}
	testMust(t, reloaded.Record(cmd("p"), []price.Quote{price.Offered("a", 2, "EUR")}, t0.Add(time.Second), time.Minute))
	if len(reloaded.Changes()) != 0 {
		t.Fatalf("redelivery recorded %v", reloaded.Changes())
	}
}

func TestInvalidCommandsAreInvalid(t *testing.T) {
	for _, c := range []price.RequestPriceComparison{
		{ProductID: "", ComparisonID: "x"},
		{ProductID: "a b", ComparisonID: "x"},
		{ProductID: "p", ComparisonID: ""},
		{ProductID: "p", ComparisonID: "a/b"},
	} {
		err := price.LoadComparison(nil).Record(c, nil, t0, time.Minute)
		if domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("%+v: err = %v, want KindInvalid", c, err)
		}
	}
	if err := price.LoadComparison(nil).Record(cmd("p"), nil, t0, 0); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("zero ttl: %v", err)
	}
}

func TestDuplicateVendorQuotesCountOnceFailedWins(t *testing.T) {
	offers, failed, answered := price.Evaluate([]price.Quote{
		price.Offered("a", 5, "USD"), price.FailedQuote("a", "x"),
		price.NoOffer("b"), price.Offered("b", 7, "USD"),
	})
	if !answered || !reflect.DeepEqual(failed, []string{"a"}) || !reflect.DeepEqual(offers, []price.Offer{{Vendor: "b", Price: 7, Currency: "USD"}}) {
		t.Fatalf("offers=%v failed=%v answered=%v", offers, failed, answered)
	}
}

func TestLowestAcrossCurrenciesUsesTheMajorityCurrency(t *testing.T) {
	offers := []price.Offer{
		{Vendor: "a", Price: 1, Currency: "JPY"},
		{Vendor: "b", Price: 30, Currency: "USD"},
		{Vendor: "c", Price: 20, Currency: "USD"},
	}
	if low, _ := price.LowestOffer(offers); low.Vendor != "c" {
		t.Fatalf("lowest = %+v, want c (cheapest in USD, the majority currency)", low)
	}
	tie := []price.Offer{{Vendor: "x", Price: 9, Currency: "USD"}, {Vendor: "y", Price: 900, Currency: "KRW"}}
	if low, _ := price.LowestOffer(tie); low.Vendor != "y" {
		t.Fatalf("lowest = %+v, want y (KRW sorts before USD on a tie)", low)
	}
}

func TestStreamIDsAndWireNames(t *testing.T) {
	c := cmd("sku-1")
	if c.PartitionKey() != "pricecomparison/sku-1" || price.ComparisonStreamID("sku-1", "c-1") != "pricecomparison/sku-1/c-1" {
		t.Fatal("keys changed")
	}
	names := []string{c.WireName(), price.PriceComparisonCompleted{}.WireName(), price.PriceComparisonFailed{}.WireName()}
	if strings.Join(names, ",") != "price.request_comparison.v1,price.comparison_completed.v1,price.comparison_failed.v1" {
		t.Fatalf("wire names = %v", names)
	}
}

func testMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
