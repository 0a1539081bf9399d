// Package handlers holds the command handlers and reactions. Each runs the
// domain against a repository; a Watermill handler's name is its Kafka
// consumer group, so it never changes.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignRepository loads and saves campaigns as event streams.
type CampaignRepository interface {
	LoadCampaign(ctx context.Context, campaignID string) (*coupon.Campaign, error)
	SaveCampaign(ctx context.Context, c *coupon.Campaign) error
}

// CouponRepository loads and saves one user's coupon as an event stream.
// SaveCoupon returns coupon.ErrSoldOut, and writes nothing, when issuing the
// coupon would exceed its campaign's limit: the database counts coupons.
type CouponRepository interface {
	LoadCoupon(ctx context.Context, campaignID, userID string) (*coupon.Coupon, error)
	SaveCoupon(ctx context.Context, c *coupon.Coupon) error
}

// CommandSender sends a command to its handler (the CQRS command bus); it
// returns once the command is stored.
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// Clock tells the time (domain.Clock; the zero Clock is the wall clock).
type Clock = domain.Clock

// retryOnConflict runs decide again if another writer appended to the same
// stream first (a concurrent delivery of the same command) or took the
// same feed position (another alert of the complex): decide reloads and
// decides on what the other writer recorded. It gives up after a few
// tries, and the router retries the message later.
//
// Writers that collide back off for a random moment (up to a few
// milliseconds, growing), so a burst of raises in one complex settles in
// a few rounds instead of colliding again in lockstep.
func retryOnConflict(decide func() error) error {
	var err error
	for attempt := range conflictAttempts {
		if err = decide(); !errors.Is(err, domain.ErrConcurrentModification) {
			return err
		}
		time.Sleep(time.Duration(rand.Int64N(int64(min(1<<attempt, 32)) * int64(time.Millisecond))))
	}
	return err
}

// conflictAttempts bounds the retries of one decision (about 0.6 s of
// backing off at most).
const conflictAttempts = 24

// every calls fn every interval until ctx is done: the loop of the
// background jobs.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// passLeaseTTL is the lease of a background pass.
const passLeaseTTL = 10 * time.Second

// leasedEvery makes a pass every interval, when no other instance is
// making one (the lease name: renewed while a pass runs, and outliving a
// holder that died by at most passLeaseTTL).
func leasedEvery(ctx context.Context, ex Exclusive, name string, interval time.Duration, logger *slog.Logger, pass func(ctx context.Context) error) {
	every(ctx, interval, func() {
		if _, err := ex.Run(ctx, name, passLeaseTTL, pass); err != nil && ctx.Err() == nil {
			logger.Error("a background pass failed; next one in an interval", "job", name, "err", err)
		}
	})
}
