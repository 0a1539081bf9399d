// Package vendors is the adapter to the price vendors' HTTP APIs. A vendor
// answers GET <its URL with {productId} filled in> with
//
//	200 {"price": <number>, "currency": "<ISO 4217>"}   an offer
//	404                                                 no offer (not a failure)
//
// and anything else, or no answer within the timeout, is a failure of that
// vendor. Every vendor is asked in parallel, each under its own deadline, so
// one slow or failing vendor neither holds up nor spoils the others.
package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/domain/price"
)

// MaxBodyBytes caps what is read of a vendor's answer; a longer body is a
// failure of that vendor.
const MaxBodyBytes = 16 << 10

// MaxHeaderBytes caps a vendor's response headers.
const MaxHeaderBytes = 16 << 10

// ProductIDPlaceholder is replaced by the (path-escaped) product id.
const ProductIDPlaceholder = "{productId}"

// Vendor is one configured vendor.
type Vendor struct {
	Name string
	URL  string // contains ProductIDPlaceholder
}

// Validate checks a vendor's name and URL template.
func (v Vendor) Validate() error {
	if !price.ValidVendorName(v.Name) {
		return fmt.Errorf("vendor name %q must be 1-%d characters of [A-Za-z0-9._-]", v.Name, price.MaxVendorNameLength)
	}
	if !strings.Contains(v.URL, ProductIDPlaceholder) {
		return fmt.Errorf("vendor %s: URL %q must contain %s", v.Name, v.URL, ProductIDPlaceholder)
	}
	u, err := url.Parse(strings.ReplaceAll(v.URL, ProductIDPlaceholder, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("vendor %s: URL %q must be an absolute http(s) URL", v.Name, v.URL)
	}
	return nil
}

// Client asks vendors for prices.
type Client struct {
	vendors []Vendor
	timeout time.Duration
	http    *http.Client
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// New creates a client for vendors, each call bounded by timeout. reg may be
// nil; otherwise per-vendor call counts and latencies are registered on it.
func New(vendors []Vendor, timeout time.Duration, reg prometheus.Registerer) (*Client, error) {
	if timeout <= 0 {
		return nil, errors.New("vendor timeout must be positive")
	}
	seen := map[string]bool{}
	for _, v := range vendors {
		if err := v.Validate(); err != nil {
			return nil, err
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("vendor %s is configured twice", v.Name)
		}
		seen[v.Name] = true
	}
	transport := &http.Transport{
		// Vendors are called directly: an HTTP_PROXY in the environment
		// must not reroute (or observe) the calls.
		Proxy:                  nil,
		MaxResponseHeaderBytes: MaxHeaderBytes,
		DialContext:            (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ForceAttemptHTTP2:      true,
	}
	c := &Client{
		vendors: append([]Vendor(nil), vendors...),
		timeout: timeout,
		// The per-call context carries the deadline; redirects are a vendor
		// misconfiguration, so they count as a failure rather than being followed.
		http: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "surge", Subsystem: "price", Name: "vendor_calls_total",
			Help: "Calls to price vendors by vendor and outcome (offered, no_offer, failed).",
		}, []string{"vendor", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "surge", Subsystem: "price", Name: "vendor_call_duration_seconds",
			Help:    "Latency of calls to price vendors.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{c.calls, c.latency} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Quote asks every vendor in parallel and returns one quote per vendor, in
// configuration order. It returns when the last vendor answered or timed
// out, at most the timeout after it was called (or when ctx ends).
func (c *Client) Quote(ctx context.Context, productID string) []price.Quote {
	quotes := make([]price.Quote, len(c.vendors))
	var wg sync.WaitGroup
	for i, v := range c.vendors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			q := c.quote(ctx, v, productID)
			c.latency.WithLabelValues(v.Name).Observe(time.Since(start).Seconds())
			c.calls.WithLabelValues(v.Name, outcomeLabel(q.Status)).Inc()
			quotes[i] = q
		}()
	}
	wg.Wait()
	return quotes
}

func outcomeLabel(s price.QuoteStatus) string {
	switch s {
	case price.QuoteOffered:
		return "offered"
	case price.QuoteNoOffer:
		return "no_offer"
	}
	return "failed"
}

// answer is the body of a vendor's 200. Pointers tell a missing field from
// a zero one; fields beyond these are ignored (vendors add fields).
type answer struct {
	Price    json.RawMessage `json:"price"`
	Currency *string         `json:"currency"`
}

func (c *Client) quote(ctx context.Context, v Vendor, productID string) price.Quote {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := strings.ReplaceAll(v.URL, ProductIDPlaceholder, url.PathEscape(productID))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return price.FailedQuote(v.Name, "bad request: "+err.Error())
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		// The context deadline and the transport's header timeout are the
		// same duration; whichever fires first, it is the same failure.
		var netErr net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			return price.FailedQuote(v.Name, fmt.Sprintf("no answer within %s", c.timeout))
		}
		return price.FailedQuote(v.Name, "request failed: "+err.Error())
	}
	defer res.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(res.Body, MaxBodyBytes+1))
	switch {
	case res.StatusCode == http.StatusNotFound:
		return price.NoOffer(v.Name)
	case res.StatusCode != http.StatusOK:
		return price.FailedQuote(v.Name, fmt.Sprintf("status %d", res.StatusCode))
	case readErr != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return price.FailedQuote(v.Name, fmt.Sprintf("no complete answer within %s", c.timeout))
		}
		return price.FailedQuote(v.Name, "reading the answer: "+readErr.Error())
	case len(body) > MaxBodyBytes:
		return price.FailedQuote(v.Name, fmt.Sprintf("answer larger than %d bytes", MaxBodyBytes))
	}
	if ct := res.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return price.FailedQuote(v.Name, fmt.Sprintf("content type %q is not JSON", ct))
		}
	}
	offer, reason := decodeOffer(v.Name, body)
	if reason != "" {
		return price.FailedQuote(v.Name, reason)
	}
	return price.Offered(v.Name, offer.Price, offer.Currency)
}

// decodeOffer reads exactly one JSON object with a numeric price and a
// string currency, and checks the offer against the domain's rules. Any
// deviation is a reason for the vendor to count as failed.
func decodeOffer(vendor string, body []byte) (price.Offer, string) {
	if key, dup := duplicateKey(body); dup {
		return price.Offer{}, fmt.Sprintf("answer has the key %q twice", key)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var a answer
	if err := dec.Decode(&a); err != nil {
		return price.Offer{}, "answer is not a JSON offer: " + err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return price.Offer{}, "answer has data after the JSON object"
	}
	if len(a.Price) == 0 || string(a.Price) == "null" {
		return price.Offer{}, "answer has no price"
	}
	if a.Currency == nil {
		return price.Offer{}, "answer has no currency"
	}
	// A JSON number, not a string that looks like one.
	if c := a.Price[0]; c != '-' && (c < '0' || c > '9') {
		return price.Offer{}, "price is not a number"
	}
	p, err := strconv.ParseFloat(string(a.Price), 64)
	if err != nil {
		return price.Offer{}, "price is not a finite number"
	}
	o := price.Offer{Vendor: vendor, Price: p, Currency: *a.Currency}
	if err := o.Validate(); err != nil {
		return price.Offer{}, "invalid offer: " + err.Error()
	}
	return o, ""
}

// duplicateKey finds a key that occurs twice in the top-level object of
// body: which of two prices is meant cannot be known, so such an answer is
// garbage (encoding/json would silently keep the last one).
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false // not an object: the decoder says so
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}
