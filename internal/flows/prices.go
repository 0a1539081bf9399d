package flows

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/surge-platform/surge/api"
	"github.com/surge-platform/surge/domain/price"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/infra/redis"
	"github.com/surge-platform/surge/infra/vendors"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/push"
	"github.com/surge-platform/surge/projections"
)

// The price flow's topics.
const (
	PriceCommands = "prices.commands"
	PriceEvents   = "prices.events"
)

// Prices is price comparison behind a cache (seed 000): a hit is one Redis
// GET; a miss sends one RequestPriceComparison per product (across
// instances), whose handler asks every vendor in parallel.
type Prices struct {
	Vendors       []vendors.Vendor // SURGE_PRICE_VENDORS: name=URL,... (URL contains {productId})
	VendorTimeout time.Duration    // SURGE_PRICE_VENDOR_TIMEOUT: per-vendor answer deadline
	TTL           time.Duration    // SURGE_PRICE_TTL: how long vendors guarantee their prices
	RetryBackoff  time.Duration    // SURGE_PRICE_RETRY_BACKOFF: pause after a comparison no vendor answered
}

func (*Prices) Name() string { return "prices" }

func (*Prices) Topics() []kafka.Topic {
	return []kafka.Topic{
		{Name: PriceCommands, Kind: kafka.Commands, Partitions: 12, Retention: 7 * 24 * time.Hour,
			Messages: []kafka.Message{price.RequestPriceComparison{}}},
		{Name: PriceEvents, Kind: kafka.Events, Partitions: 12, Retention: -1,
			Messages: []kafka.Message{price.PriceComparisonCompleted{}, price.PriceComparisonFailed{}}},
	}
}

func (m *Prices) Configure(r *config.Reader) {
	m.Vendors = parseVendors(r, "SURGE_PRICE_VENDORS")
	m.VendorTimeout = r.Duration("SURGE_PRICE_VENDOR_TIMEOUT", 2*time.Second, time.Millisecond, time.Minute)
	m.TTL = r.Duration("SURGE_PRICE_TTL", 5*time.Minute, 100*time.Millisecond, 7*24*time.Hour)
	m.RetryBackoff = r.Duration("SURGE_PRICE_RETRY_BACKOFF", 5*time.Second, time.Millisecond, time.Hour)
}

// parseVendors reads comma-separated name=URL pairs; each is validated by
// vendors.Vendor.Validate, the one place the rules live.
func parseVendors(r *config.Reader, key string) []vendors.Vendor {
	raw := r.Raw(key)
	if raw == "" {
		return nil
	}
	var out []vendors.Vendor
	seen := map[string]bool{}
	for _, item := range r.List(key) {
		name, url, ok := strings.Cut(item, "=")
		v := vendors.Vendor{Name: strings.TrimSpace(name), URL: strings.TrimSpace(url)}
		if !ok {
			r.Failf("%s: %q must be name=URL", key, item)
			continue
		}
		if err := v.Validate(); err != nil {
			r.Failf("%s: %v", key, err)
			continue
		}
		if seen[v.Name] {
			r.Failf("%s: vendor %s is listed twice", key, v.Name)
			continue
		}
		seen[v.Name] = true
		out = append(out, v)
	}
	if len(out) == 0 && r.Err() == nil {
		r.Failf("%s=%q lists no vendor", key, raw)
	}
	return out
}

func (m *Prices) Build(p *flow.Platform) (*flow.Parts, error) {
	prices := redis.NewPrices(p.Redis, p.Config.RedisPrefix)
	projection := projections.PriceComparisonProjection{Store: prices, RetryBackoff: m.RetryBackoff}
	parts := &flow.Parts{
		Groups: []flow.Group{{
			Name: projection.Name(), Topic: PriceEvents, Role: flow.RoleProjections, ReadModel: true,
			Handlers: []cqrs.GroupEventHandler{
				cqrs.NewGroupEventHandler(projection.OnPriceComparisonCompleted),
				cqrs.NewGroupEventHandler(projection.OnPriceComparisonFailed),
			},
		}},
	}
	if p.Roles.Commands {
		if len(m.Vendors) == 0 {
			p.Logger.Warn("SURGE_PRICE_VENDORS is empty: every price comparison will fail (there is no vendor to ask)")
		}
		client, err := vendors.New(m.Vendors, m.VendorTimeout, p.Registry)
		if err != nil {
			return nil, fmt.Errorf("%w (check SURGE_PRICE_VENDORS)", err)
		}
		request := handlers.RequestPriceComparisonHandler{
			Comparisons: postgres.NewPriceComparisonRepository(p.Store), Vendors: client, TTL: m.TTL, Logger: p.Logger,
		}
		parts.Commands = []cqrs.CommandHandler{cqrs.NewCommandHandler(request.HandlerName(), request.Handle)}
	}
	if p.Roles.API {
		// One subscription per process to the outcomes channel wakes this
		// instance's held ?wait requests.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		relay, err := redis.NewRelay(ctx, p.Redis, prices.ReadyChannel(), p.Hub, func(productID string) push.Message {
			return push.Message{Key: priceKey(productID)}
		})
		if err != nil {
			return nil, err
		}
		parts.Close = append(parts.Close, relay.Close)
		parts.Routes = api.Prices{Compare: handlers.ComparePricesHandler{
			Cache:    prices,
			Watcher:  hubWatcher{p.Hub},
			Commands: p.Commands,
			// The marker outlives a comparison (at most the vendor timeout)
			// with room for commands queueing behind slow vendors (a shorter
			// hold would add duplicates just when the handler is behind); if
			// no outcome comes (a lost command), the next miss after it tries
			// again.
			Hold:       max(30*time.Second, 2*m.VendorTimeout+5*time.Second),
			RetryAfter: m.VendorTimeout,
			Logger:     p.Logger,
		}}.Mount
	}
	return parts, nil
}

func priceKey(productID string) string { return "price/" + productID }

// hubWatcher holds a request until its product's next outcome.
type hubWatcher struct{ hub *push.Hub }

func (w hubWatcher) Wait(productID string) (<-chan struct{}, func()) {
	s := w.hub.Wait(priceKey(productID))
	return s.Done(), s.Close
}
