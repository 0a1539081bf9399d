package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/alert"
)

// AlertClaimLedger is the Redis record of claims taken (an acceptance, a
// cancellation) whose command the stream has not decided yet.
type AlertClaimLedger interface {
	// StaleClaims are up to limit alerts whose claim waits since before.
	StaleClaims(ctx context.Context, before time.Time, limit int) ([]string, error)
	// Claim is who holds the alert's claim now ("", false: nobody, or
	// decided).
	Claim(ctx context.Context, alertID string) (acceptor string, cancelling bool, err error)
	// ClaimResent marks the claim re-sent (never given back from then on:
	// the command sent again may be the one stored) and restarts its wait.
	ClaimResent(ctx context.Context, alertID string, at time.Time) error
	ForgetClaim(ctx context.Context, alertID string) error
}

// SettleAlertClaims closes the window the claim leaves open: the API
// claims an alert in Redis (every other acceptor is now told 409), then
// sends AcceptAlert; if the API dies in between, the send and the give-back
// both fail, or Kafka loses the command, the alert would stay claimed with
// nothing to decide it, and no resident would ever be told who is coming.
// Every Interval it re-sends the command of claims older than Grace that
// the alert's stream has not decided; the stream takes it once
// (AcceptAlertHandler is idempotent), and a claim it decided otherwise is
// simply forgotten. One instance at a time makes a pass (a lease).
type SettleAlertClaims struct {
	Ledger    AlertClaimLedger
	Alerts    AlertRepository
	Commands  CommandSender
	Exclusive Exclusive
	Grace     time.Duration
	Interval  time.Duration
	Resent    func() // metrics hook; may be nil
	Clock     Clock
	Logger    *slog.Logger
}

// settleBatch is the most claims one pass looks at.
const settleBatch = 500

// Once settles the claims waiting longer than Grace and returns how many
// commands it re-sent.
func (s SettleAlertClaims) Once(ctx context.Context) (int, error) {
	now := s.Clock.Now()
	ids, err := s.Ledger.StaleClaims(ctx, now.Add(-s.Grace), settleBatch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, id := range ids {
		a, err := s.Alerts.Load(ctx, id)
		if err != nil {
			return sent, err
		}
		acceptor, cancelling, err := s.Ledger.Claim(ctx, id)
		if err != nil {
			return sent, err
		}
		var cmd any
		switch {
		case !a.Exists() || a.Status != alert.Raised:
			// Decided (the projection brings Redis the outcome), or nothing
			// to settle.
		case acceptor != "":
			cmd = alert.AcceptAlert{AlertID: id, ComplexID: a.ComplexID, House: acceptor}
		case cancelling:
			cmd = alert.CancelAlert{AlertID: id, ComplexID: a.ComplexID, House: a.House}
		}
		if cmd == nil {
			if err := s.Ledger.ForgetClaim(ctx, id); err != nil {
				return sent, err
			}
			continue
		}
		// Marked first: from now on the request that took the claim, if its
		// own send is still failing, does not give it back.
		if err := s.Ledger.ClaimResent(ctx, id, now); err != nil {
			return sent, err
		}
		if err := s.Commands.Send(ctx, cmd); err != nil {
			return sent, err
		}
		sent++
		if s.Resent != nil {
			s.Resent()
		}
		s.Logger.Warn("re-sent the command of an alert's claim that nothing decided", "alert", id, "command", commandName(cmd), "waited_over", s.Grace.String())
	}
	return sent, nil
}

func commandName(cmd any) string {
	if _, ok := cmd.(alert.AcceptAlert); ok {
		return "AcceptAlert"
	}
	return "CancelAlert"
}

// Run makes a pass every Interval until ctx is done, when no other instance
// is making one.
func (s SettleAlertClaims) Run(ctx context.Context) {
	leasedEvery(ctx, s.Exclusive, "alert-claim-settler", s.Interval, s.Logger, func(ctx context.Context) error {
		_, err := s.Once(ctx)
		return err
	})
}
