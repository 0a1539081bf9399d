package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
)

type fakeOutcomes []coupon.Outcome

func (f fakeOutcomes) Outcomes(_ context.Context, _ string, after string, limit int) ([]coupon.Outcome, error) {
	var out []coupon.Outcome
	for _, o := range f {
		if o.UserID > after && len(out) < limit {
			out = append(out, o)
		}
	}
	return out, nil
}

// fakeQueue drains after a number of polls.
type fakeQueue struct {
	mu        sync.Mutex
	remaining []int64 // answers of Remaining, in turn; the last repeats
	polls     int
}

func (q *fakeQueue) Backlog(context.Context) (map[int32]int64, error) {
	return map[int32]int64{0: 10}, nil
}

func (q *fakeQueue) Remaining(context.Context, map[int32]int64) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.remaining[min(q.polls, len(q.remaining)-1)]
	q.polls++
	return n, nil
}

func newRepair(queue *fakeQueue, outcomes fakeOutcomes) (*handlers.RepairCampaignGate, *fakeGate, *exclusive) {
	gate, ex := newFakeGate(), &exclusive{}
	return &handlers.RepairCampaignGate{
		Campaigns:    fakeCampaigns{campaigns: map[string]*coupon.Campaign{"spring": campaignOf("spring", 100)}},
		Outcomes:     outcomes,
		Queue:        queue,
		Gate:         gate,
		Exclusive:    ex,
		DrainTimeout: 5 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}, gate, ex
}

// The repair waits for the queued commands, restores every outcome page by
// page, and only then opens the gate.
func TestRepairDrainsThenRestoresThenOpens(t *testing.T) {
	var outcomes fakeOutcomes
	for i := range 2500 {
		outcomes = append(outcomes, coupon.Outcome{UserID: fmt.Sprintf("u%05d", i), CouponID: "c"})
	}
	queue := &fakeQueue{remaining: []int64{40, 12, 0}}
	r, gate, ex := newRepair(queue, outcomes)
	must(t, r.Repair(context.Background(), "spring"))
	if queue.polls != 3 {
		t.Fatalf("polled the queue %d times, want 3 (until drained)", queue.polls)
	}
	if len(gate.restored["spring"]) != 2500 || gate.opened["spring"] != 100 || len(ex.ran) != 1 || ex.ran[0] != "campaign-gate-repair:spring" {
		t.Fatalf("restored %d, opened %v, leases %v", len(gate.restored["spring"]), gate.opened, ex.ran)
	}
	// A ready gate is left alone.
	must(t, r.Repair(context.Background(), "spring"))
	if len(gate.restored["spring"]) != 2500 {
		t.Fatalf("a second repair restored again: %d", len(gate.restored["spring"]))
	}
}

// Without a command handler the queue never drains: the gate opens after
// DrainTimeout anyway (the database's limit decides what is queued).
func TestRepairOpensAfterTheDrainTimeout(t *testing.T) {
	r, gate, _ := newRepair(&fakeQueue{remaining: []int64{7}}, nil)
	r.DrainTimeout = 300 * time.Millisecond
	start := time.Now()
	must(t, r.Repair(context.Background(), "spring"))
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second || gate.opened["spring"] != 100 {
		t.Fatalf("took %s, opened %v", took, gate.opened)
	}
}

func TestMissingAsksTheEventStore(t *testing.T) {
	r, _, _ := newRepair(&fakeQueue{remaining: []int64{0}}, nil)
	if err := r.Missing(context.Background(), "nope"); !errors.Is(err, coupon.ErrCampaignNotFound) {
		t.Fatalf("unknown campaign: %v", err)
	}
	if len(r.Repairing()) != 0 {
		t.Fatalf("repairing %v", r.Repairing())
	}
	if err := r.Missing(context.Background(), "spring"); !errors.Is(err, coupon.ErrGateRepairing) {
		t.Fatalf("known campaign: %v", err)
	}
	if got := r.Repairing(); len(got) != 1 || got[0] != "spring" {
		t.Fatalf("repairing %v, want [spring]", got)
	}
	// Run performs the queued repair, then nothing is left.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.Repairing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := r.Repairing(); len(got) != 0 {
		t.Fatalf("still repairing %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
