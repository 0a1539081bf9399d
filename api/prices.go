package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/handlers"
)

// MaxPriceWait is the longest ?wait a price-comparison request may ask for.
const MaxPriceWait = 10 * time.Second

// Prices is the price flow's HTTP port (routes in routes.go).
type Prices struct {
	Compare ComparePrices // nil: the endpoint answers 503
}

// ComparePrices answers a product's comparison, or when to ask again.
type ComparePrices interface {
	Handle(ctx context.Context, q handlers.ComparePrices) (handlers.PriceAnswer, error)
}

const jsonContentType = "application/json; charset=utf-8"

// getPriceComparison: a hit is the cached body as is (200); a miss is 202
// with Retry-After; ?wait holds a miss until the outcome.
func (h Prices) getPriceComparison(c *gin.Context) {
	productID := c.Param("productId")
	if !price.ValidProductID(productID) {
		respondError(c, newError(http.StatusBadRequest, "invalid_product_id", `productId must be 1-64 characters of [A-Za-z0-9._-], not "." or ".."`))
		return
	}
	q := handlers.ComparePrices{ProductID: productID}
	if raw := c.Request.URL.RawQuery; raw != "" {
		var err error
		if q.Wait, err = priceWait(raw); err != nil {
			respondError(c, err)
			return
		}
	}
	if h.Compare == nil {
		respondError(c, errUnavailable)
		return
	}
	answer, err := h.Compare.Handle(c.Request.Context(), q)
	switch {
	case c.Request.Context().Err() != nil:
		c.Abort() // the client left
		return
	case err != nil:
		respondError(c, err)
		return
	case answer.Summary != nil:
		c.Data(http.StatusOK, jsonContentType, answer.Summary)
		return
	}
	body := gin.H{"status": "pending"}
	if answer.LastFailed {
		body["lastComparison"] = "failed"
	}
	c.Header("Retry-After", strconv.Itoa(ceilSeconds(answer.RetryAfter)))
	c.JSON(http.StatusAccepted, body)
}

// ceilSeconds rounds up to whole seconds, at least 1 (Retry-After's unit).
func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// priceWait reads the query: only wait, once, a duration of 0..10s.
func priceWait(rawQuery string) (time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, newError(http.StatusBadRequest, "invalid_query", "the query string is malformed")
	}
	for k := range q {
		if k != "wait" {
			return 0, newError(http.StatusBadRequest, "unknown_parameter", "unknown query parameter "+strconv.Quote(k)+" (only wait is accepted)")
		}
	}
	vals := q["wait"]
	if len(vals) != 1 {
		return 0, newError(http.StatusBadRequest, "invalid_wait", "wait must be given at most once")
	}
	d, err := time.ParseDuration(vals[0])
	if err != nil || d < 0 || d > MaxPriceWait {
		return 0, newError(http.StatusBadRequest, "invalid_wait", "wait must be a duration from 0s to 10s, like 500ms or 5s")
	}
	return d, nil
}
