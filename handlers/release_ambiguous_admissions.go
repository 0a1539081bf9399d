package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// ReleaseAmbiguousAdmissions gives back the gate slots of admissions whose
// outcome the API could not learn: Redis timed out after the admission
// script was sent (it may or may not have run), or a slot whose command was
// never sent could not be released. The applicant was told 503, "nothing
// taken", so whatever was taken is released as soon as Redis answers again.
// Each release names its admission's token, so a later admission of the
// same user is never released by mistake.
//
// The list lives in this process: if the process dies first, the resender
// later sends IssueCoupon for such a slot (the user then gets a coupon
// after all). That is the known limit.
type ReleaseAmbiguousAdmissions struct {
	Gate     AdmissionGate
	Interval time.Duration // how often pending releases are retried
	Max      int           // most admissions kept; beyond, new ones are dropped and logged
	Logger   *slog.Logger

	mu      sync.Mutex
	pending map[admission][]string // -> tokens
}

type admission struct{ campaignID, userID string }

// Add remembers an admission to release.
func (r *ReleaseAmbiguousAdmissions) Add(campaignID, userID, token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[admission][]string{}
	}
	if r.Max > 0 && len(r.pending) >= r.Max {
		r.Logger.Error("too many admissions with an unknown outcome; this one is left to the resender",
			"campaign", campaignID, "user", userID, "max", r.Max)
		return
	}
	k := admission{campaignID, userID}
	r.pending[k] = append(r.pending[k], token)
}

// Pending counts the admissions waiting to be released.
func (r *ReleaseAmbiguousAdmissions) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// ReleaseNow settles the pending admissions of one user, if any, and
// reports whether none is left unsettled (false: Redis did not answer for
// one of them).
func (r *ReleaseAmbiguousAdmissions) ReleaseNow(ctx context.Context, campaignID, userID string) bool {
	k := admission{campaignID, userID}
	r.mu.Lock()
	tokens := r.pending[k]
	r.mu.Unlock()
	if len(tokens) == 0 {
		return true
	}
	return r.release(ctx, k, tokens) == 0
}

// release settles tokens and returns how many are still unsettled.
func (r *ReleaseAmbiguousAdmissions) release(ctx context.Context, k admission, tokens []string) int {
	var left []string
	for _, token := range tokens {
		released, err := r.Gate.Release(ctx, k.campaignID, k.userID, token)
		if err != nil {
			left = append(left, token)
			continue
		}
		if released {
			r.Logger.Info("released the slot of an admission whose outcome was unknown", "campaign", k.campaignID, "user", k.userID)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Keep tokens added meanwhile, drop the settled ones.
	settled := map[string]bool{}
	for _, t := range tokens {
		settled[t] = true
	}
	for _, t := range left {
		settled[t] = false
	}
	var keep []string
	for _, t := range r.pending[k] {
		if !settled[t] {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(r.pending, k)
	} else {
		r.pending[k] = keep
	}
	return len(left)
}

// Run retries the pending releases every Interval until ctx ends.
func (r *ReleaseAmbiguousAdmissions) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		batch := make(map[admission][]string, len(r.pending))
		for k, tokens := range r.pending {
			batch[k] = append([]string(nil), tokens...)
		}
		r.mu.Unlock()
		for k, tokens := range batch {
			if ctx.Err() != nil {
				return
			}
			r.release(ctx, k, tokens)
		}
	}
}
