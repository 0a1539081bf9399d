// Package kafka is the Kafka adapter: topics, Sarama settings, Watermill
// publishers and subscribers, and the embedded Kafka-protocol broker (kfake)
// used for local runs and tests.
package kafka

import (
	"fmt"
	"time"
)

// Topic is one Kafka topic with the partition count and retention it is
// created with. This list is the single place topics are declared;
// docker-compose.yml creates the same ones.
type Topic struct {
	Name       string
	Partitions int32
	Retention  time.Duration // -1: keep forever (event topics are replayable)
}

const (
	CouponCommands = "coupons.commands"
	CouponEvents   = "coupons.events"
	PriceCommands  = "prices.commands"
	PriceEvents    = "prices.events"
)

// Topics are all topics Surge uses.
var Topics = []Topic{
	{Name: CouponCommands, Partitions: 12, Retention: 7 * 24 * time.Hour},
	{Name: CouponEvents, Partitions: 12, Retention: -1},
	{Name: PriceCommands, Partitions: 12, Retention: 7 * 24 * time.Hour},
	{Name: PriceEvents, Partitions: 12, Retention: -1},
}

// routes maps a message's wire name to its topic. Each command topic carries
// one command type, so its single handler can poison anything else at once.
var routes = map[string]string{
	"coupon.issue.v1":           CouponCommands,
	"coupon.campaign_opened.v1": CouponEvents,
	"coupon.issued.v1":          CouponEvents,
	"coupon.rejected.v1":        CouponEvents,

	"price.request_comparison.v1":   PriceCommands,
	"price.comparison_completed.v1": PriceEvents,
	"price.comparison_failed.v1":    PriceEvents,
}

// TopicFor returns the topic a command or event with this wire name goes to.
func TopicFor(wireName string) (string, error) {
	t, ok := routes[wireName]
	if !ok {
		return "", fmt.Errorf("no topic declared for %q", wireName)
	}
	return t, nil
}

// RegisterRoute declares the topic of a wire name; flows call it from init.
func RegisterRoute(wireName, topic string) { routes[wireName] = topic }

// RegisterTopic declares a topic; flows call it from init.
func RegisterTopic(t Topic) { Topics = append(Topics, t) }

// TopicNames lists the names of all declared topics.
func TopicNames() []string {
	names := make([]string, len(Topics))
	for i, t := range Topics {
		names[i] = t.Name
	}
	return names
}
