package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
)

// PendingAdmissions is the gate's record of admitted users without a coupon.
type PendingAdmissions interface {
	// PendingAdmissions returns up to limit admissions older than before
	// whose coupon is not issued.
	PendingAdmissions(ctx context.Context, before time.Time, limit int) ([]coupon.IssueCoupon, error)
	// AdmissionRetried restarts an admission's wait at at.
	AdmissionRetried(ctx context.Context, campaignID, userID string, at time.Time) error
}

// CommandSender sends a command to its handler (the CQRS command bus).
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// ResendPendingAdmissions closes the one window the gate leaves open: the
// API admits a user in Redis, then sends IssueCoupon to Kafka; if the API
// dies in between, the slot is taken and no command exists. Every Interval
// it re-sends IssueCoupon for admissions older than Grace that still have
// no coupon. That is safe whatever happened to the first command:
// IssueCouponHandler appends at expected version 0, so a coupon already
// issued (or about to be) is never issued twice.
type ResendPendingAdmissions struct {
	Admissions PendingAdmissions
	Commands   CommandSender
	Grace      time.Duration // how long an admission may wait for its coupon
	Interval   time.Duration
	Batch      int              // admissions per pass; 0 means 1000
	Resent     func(n int)      // metrics hook; may be nil
	Now        func() time.Time // nil: time.Now
	Logger     *slog.Logger
}

// Once re-sends the commands of the admissions pending longer than Grace and
// returns how many it sent.
func (r ResendPendingAdmissions) Once(ctx context.Context) (int, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 1000
	}
	pending, err := r.Admissions.PendingAdmissions(ctx, now.Add(-r.Grace), batch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, cmd := range pending {
		if err := r.Commands.Send(ctx, cmd); err != nil {
			return sent, err
		}
		sent++
		if err := r.Admissions.AdmissionRetried(ctx, cmd.CampaignID, cmd.UserID, now); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// Run calls Once every Interval until ctx is done.
func (r ResendPendingAdmissions) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := r.Once(ctx)
		if n > 0 {
			if r.Resent != nil {
				r.Resent(n)
			}
			r.Logger.Warn("re-sent IssueCoupon for admissions without a coupon", "count", n, "older_than", r.Grace)
		}
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("re-sending pending admissions", "err", err)
		}
	}
}
