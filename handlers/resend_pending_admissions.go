package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
)

// CampaignIndex lists campaigns from the database, a page at a time.
type CampaignIndex interface {
	CampaignIDs(ctx context.Context, after string, limit int) ([]string, error)
}

// PendingAdmissions is the gate's record of admitted users without an outcome.
type PendingAdmissions interface {
	// PendingAdmissions returns up to limit admissions in the given
	// campaigns older than before whose coupon has no outcome.
	PendingAdmissions(ctx context.Context, campaignIDs []string, before time.Time, limit int) ([]coupon.IssueCoupon, error)
	// AdmissionRetried restarts an admission's wait at at.
	AdmissionRetried(ctx context.Context, campaignID, userID string, at time.Time) error
}

// ResendPendingAdmissions closes the window the gate leaves open: the API
// admits a user in Redis, then sends IssueCoupon to Kafka; if the API dies
// in between (or Kafka lost the command), the slot is taken and no command
// exists. Every Interval it re-sends IssueCoupon for admissions older than
// Grace that still have no outcome. That is safe whatever happened to the
// first command: IssueCouponHandler appends at expected version 0, so a
// coupon already decided is never decided twice. It walks the campaigns the
// database knows (never the Redis keyspace), and one instance at a time
// runs a pass (a lease).
type ResendPendingAdmissions struct {
	Campaigns  CampaignIndex
	Admissions PendingAdmissions
	Commands   CommandSender
	Exclusive  Exclusive
	Grace      time.Duration // how long an admission may wait for its outcome
	Interval   time.Duration
	Batch      int         // most commands re-sent per pass; 0 means 1000
	Resent     func(n int) // metrics hook; may be nil
	Passed     func()      // called after each pass this instance made (metrics); may be nil
	Clock      Clock
	Logger     *slog.Logger
}

// campaignsPerRound is how many campaigns one Redis round trip looks into.
const campaignsPerRound = 500

// Once re-sends the commands of the admissions pending longer than Grace and
// returns how many it sent.
func (r ResendPendingAdmissions) Once(ctx context.Context) (int, error) {
	now := r.Clock.Now()
	batch := r.Batch
	if batch <= 0 {
		batch = 1000
	}
	sent, after := 0, ""
	for sent < batch {
		ids, err := r.Campaigns.CampaignIDs(ctx, after, campaignsPerRound)
		if err != nil || len(ids) == 0 {
			return sent, err
		}
		after = ids[len(ids)-1]
		pending, err := r.Admissions.PendingAdmissions(ctx, ids, now.Add(-r.Grace), batch-sent)
		if err != nil {
			return sent, err
		}
		for _, cmd := range pending {
			if err := r.Commands.Send(ctx, cmd); err != nil {
				return sent, err
			}
			sent++
			if err := r.Admissions.AdmissionRetried(ctx, cmd.CampaignID, cmd.UserID, now); err != nil {
				return sent, err
			}
		}
	}
	return sent, nil
}

// Run makes a pass every Interval until ctx is done, when no other instance
// is making one.
func (r ResendPendingAdmissions) Run(ctx context.Context) {
	every(ctx, r.Interval, func() {
		var n int
		ran, err := r.Exclusive.Run(ctx, "coupon-resender", max(10*time.Second, r.Interval), func(ctx context.Context) error {
			var err error
			n, err = r.Once(ctx)
			return err
		})
		if ran && err == nil && r.Passed != nil {
			r.Passed()
		}
		if n > 0 {
			if r.Resent != nil {
				r.Resent(n)
			}
			r.Logger.Warn("re-sent IssueCoupon for admissions without an outcome", "count", n, "older_than", r.Grace.String())
		}
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("re-sending pending admissions", "err", err)
		}
	})
}
