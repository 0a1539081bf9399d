package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
)

func newApply() (handlers.ApplyForCouponHandler, *fakeGate, *fakeBus, *fakeRepairs) {
	gate, bus, repairs := newFakeGate(), &fakeBus{}, &fakeRepairs{}
	ambiguous := &handlers.ReleaseAmbiguousAdmissions{Gate: gate, Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	return handlers.ApplyForCouponHandler{Gate: gate, Commands: bus, Repairs: repairs, Ambiguous: ambiguous}, gate, bus, repairs
}

func TestApplyAdmitsAndSendsIssueCoupon(t *testing.T) {
	h, gate, bus, _ := newApply()
	user, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "Jose\u0301"})
	if err != nil {
		t.Fatal(err)
	}
	// The NFD form of "José" is applied for, and sent, as its NFC form.
	if user != "José" || fmt.Sprint(bus.sent) != fmt.Sprint([]any{coupon.IssueCoupon{CampaignID: "spring", UserID: "José"}}) {
		t.Fatalf("user %q, sent %v", user, bus.sent)
	}
	if gate.admitted["spring/José"] != "t-José" {
		t.Fatalf("admitted = %v", gate.admitted)
	}
}

// A command that could not be stored gives its slot back (its own token).
func TestApplyReleasesTheSlotWhenTheCommandIsNotStored(t *testing.T) {
	h, gate, bus, _ := newApply()
	bus.err = errors.New("kafka down")
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); err == nil {
		t.Fatal("no error when the command was not stored")
	}
	if len(gate.admitted) != 0 || fmt.Sprint(gate.released) != "[u1/t-u1]" {
		t.Fatalf("admitted %v released %v", gate.admitted, gate.released)
	}
}

// A gate that timed out may have admitted: the slot is given back once
// Redis answers, and before this user's next attempt.
func TestApplyWithAnUnknownOutcomeReleasesLater(t *testing.T) {
	h, gate, bus, _ := newApply()
	gate.admitErr = errors.New("i/o timeout")
	gate.admitted["spring/u1"] = "t-u1" // the script ran; its answer was lost
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); err == nil || len(bus.sent) != 0 {
		t.Fatalf("err %v, sent %v", err, bus.sent)
	}
	if h.Ambiguous.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", h.Ambiguous.Pending())
	}
	gate.admitErr = nil
	// The same user applies again on this instance: the old slot is
	// released first, then admitted anew, and the command is sent once.
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gate.released) != "[u1/t-u1]" || len(bus.sent) != 1 || h.Ambiguous.Pending() != 0 {
		t.Fatalf("released %v sent %v pending %d", gate.released, bus.sent, h.Ambiguous.Pending())
	}
}

// A retry whose earlier unknown admission Redis cannot settle yet is told
// 503 again, never "already applied" for its own unsent admission; once
// Redis answers, it is settled and the user admitted.
func TestApplyWhoseEarlierOutcomeCannotBeSettledIsToldToRetry(t *testing.T) {
	h, gate, bus, _ := newApply()
	gate.admitErr = errors.New("i/o timeout")
	gate.admitted["spring/u1"] = "t-u1" // the script ran; its answer was lost
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); err == nil {
		t.Fatal("the first attempt has an unknown outcome: want an error")
	}
	gate.admitErr, gate.relErr = nil, errors.New("i/o timeout")
	_, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"})
	if !errors.Is(err, handlers.ErrAdmissionUnsettled) || domain.KindOf(err) != domain.KindUnavailable || len(bus.sent) != 0 {
		t.Fatalf("retry while the release fails: %v (sent %v), want ErrAdmissionUnsettled", err, bus.sent)
	}
	gate.relErr = nil
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); err != nil {
		t.Fatalf("retry once Redis answers: %v", err)
	}
	if len(bus.sent) != 1 || h.Ambiguous.Pending() != 0 {
		t.Fatalf("sent %v pending %d, want one IssueCoupon and nothing pending", bus.sent, h.Ambiguous.Pending())
	}
}

// The gate not knowing a campaign is not "not found": the event store decides.
func TestApplyToACampaignTheGateLost(t *testing.T) {
	h, gate, bus, repairs := newApply()
	gate.admitErr = coupon.ErrCampaignNotFound
	repairs.missing = coupon.ErrGateRepairing
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); !errors.Is(err, coupon.ErrGateRepairing) {
		t.Fatalf("err = %v, want ErrGateRepairing", err)
	}
	repairs.missing = coupon.ErrCampaignNotFound
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "nope", UserID: "u1"}); !errors.Is(err, coupon.ErrCampaignNotFound) {
		t.Fatalf("err = %v, want ErrCampaignNotFound", err)
	}
	gate.admitErr = coupon.ErrGateRepairing
	if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: "u1"}); !errors.Is(err, coupon.ErrGateRepairing) {
		t.Fatalf("err = %v", err)
	}
	if fmt.Sprint(repairs.started) != "[spring nope spring]" || len(bus.sent) != 0 || h.Ambiguous.Pending() != 0 {
		t.Fatalf("repairs %v sent %v pending %d", repairs.started, bus.sent, h.Ambiguous.Pending())
	}
}

func TestApplyRefusesBadUserIDsBeforeTheGate(t *testing.T) {
	h, gate, _, _ := newApply()
	for _, id := range []string{"", "a/b", "nul\x00", "\x1b[31mred"} {
		if _, err := h.Handle(context.Background(), handlers.ApplyForCoupon{CampaignID: "spring", UserID: id}); err == nil {
			t.Errorf("%q was accepted", id)
		}
	}
	if len(gate.admitted) != 0 {
		t.Fatalf("admitted %v", gate.admitted)
	}
}
