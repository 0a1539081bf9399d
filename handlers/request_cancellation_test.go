package handlers

import (
	"context"
	"errors"
	"testing"

	"github.com/surge-platform/surge/domain/alert"
)

// cancelClaims is AlertClaims with a cancellation already claimed (first
// false) or not, counting the give-backs.
type cancelClaims struct {
	AlertClaims
	first    bool
	released int
}

func (c *cancelClaims) Complex(context.Context, string) (string, error) { return "A", nil }
func (c *cancelClaims) ClaimCancel(context.Context, string, string) (bool, error) {
	return c.first, nil
}
func (c *cancelClaims) ReleaseCancel(context.Context, string) error { c.released++; return nil }

type sender struct {
	err  error
	sent []any
}

func (s *sender) Send(_ context.Context, cmd any) error {
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, cmd)
	return nil
}

// Two cancels race: the second (a retry) is answered 202 only once its
// own command is stored, and never gives back the first one's claim.
func TestARetriedCancellationIsAcceptedOnlyOnceStored(t *testing.T) {
	ctx := context.Background()
	req := RequestCancellation{AlertID: "a1", By: Resident{House: "101-1"}}
	down := errors.New("kafka down")
	for name, tc := range map[string]struct {
		first        bool
		sendErr      error
		wantErr      bool
		wantReleased int
	}{
		"first, stored":     {first: true},
		"first, not stored": {first: true, sendErr: down, wantErr: true, wantReleased: 1},
		"retry, stored":     {first: false},
		"retry, not stored": {first: false, sendErr: down, wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			claims, cmds := &cancelClaims{first: tc.first}, &sender{err: tc.sendErr}
			complexID, err := RequestCancellationHandler{Claims: claims, Commands: cmds}.Handle(ctx, req)
			if (err != nil) != tc.wantErr || claims.released != tc.wantReleased {
				t.Fatalf("err %v, released %d; want error %v, released %d", err, claims.released, tc.wantErr, tc.wantReleased)
			}
			if tc.wantErr {
				return
			}
			want := alert.CancelAlert{AlertID: "a1", ComplexID: "A", House: "101-1"}
			if complexID != "A" || len(cmds.sent) != 1 || cmds.sent[0] != want {
				t.Fatalf("complex %q, sent %+v; want A and %+v", complexID, cmds.sent, want)
			}
		})
	}
}
