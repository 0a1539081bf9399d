// Package handlers holds the Watermill command handlers and reactions. Each
// runs the domain against a repository; a handler's name is its Kafka
// consumer group, so it never changes.
package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignRepository loads and saves campaigns as event streams.
type CampaignRepository interface {
	LoadCampaign(ctx context.Context, campaignID string) (*coupon.Campaign, error)
	SaveCampaign(ctx context.Context, c *coupon.Campaign) error
}

// CouponRepository loads and saves one user's coupon as an event stream.
type CouponRepository interface {
	LoadCoupon(ctx context.Context, campaignID, userID string) (*coupon.Coupon, error)
	SaveCoupon(ctx context.Context, c *coupon.Coupon) error
}
