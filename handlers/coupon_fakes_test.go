package handlers_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

// fakeGate is an in-memory gate with scripted failures.
type fakeGate struct {
	mu       sync.Mutex
	admitErr error // returned by Admit (nil: admit)
	admitted map[string]string
	released []string // user/token
	relErr   error
	ready    map[string]bool
	known    map[string]bool
	restored map[string][]coupon.Outcome
	opened   map[string]int
}

func newFakeGate() *fakeGate {
	return &fakeGate{admitted: map[string]string{}, ready: map[string]bool{}, known: map[string]bool{}, restored: map[string][]coupon.Outcome{}, opened: map[string]int{}}
}

func (g *fakeGate) Admit(_ context.Context, campaignID, userID string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	token := "t-" + userID
	if g.admitErr != nil {
		return token, g.admitErr
	}
	g.admitted[campaignID+"/"+userID] = token
	return token, nil
}

func (g *fakeGate) Release(_ context.Context, campaignID, userID, token string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.relErr != nil {
		return false, g.relErr
	}
	g.released = append(g.released, userID+"/"+token)
	if g.admitted[campaignID+"/"+userID] == token {
		delete(g.admitted, campaignID+"/"+userID)
		return true, nil
	}
	return false, nil
}

func (g *fakeGate) Open(_ context.Context, campaignID, _ string, limit int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened[campaignID] = limit
	g.known[campaignID], g.ready[campaignID] = true, true
	return nil
}

func (g *fakeGate) GateState(_ context.Context, campaignID string) (bool, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.known[campaignID], g.ready[campaignID], nil
}

func (g *fakeGate) RestoreOutcomes(_ context.Context, campaignID string, outcomes []coupon.Outcome) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ready[campaignID] {
		return errors.New("restored after the gate opened")
	}
	g.restored[campaignID] = append(g.restored[campaignID], outcomes...)
	return nil
}

// fakeBus records sent commands.
type fakeBus struct {
	mu   sync.Mutex
	sent []any
	err  error
}

func (b *fakeBus) Send(_ context.Context, cmd any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.sent = append(b.sent, cmd)
	return nil
}

// fakeRepairs records what was asked of the repairer.
type fakeRepairs struct {
	mu      sync.Mutex
	started []string
	missing error
}

func (r *fakeRepairs) Missing(_ context.Context, campaignID string) error {
	r.Start(campaignID)
	return r.missing
}

func (r *fakeRepairs) Start(campaignID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, campaignID)
}

// fakeCampaigns is an in-memory campaign repository.
type fakeCampaigns struct{ campaigns map[string]*coupon.Campaign }

func (f fakeCampaigns) LoadCampaign(_ context.Context, id string) (*coupon.Campaign, error) {
	if c, ok := f.campaigns[id]; ok {
		return c, nil
	}
	return coupon.LoadCampaign(nil), nil
}

func (f fakeCampaigns) SaveCampaign(context.Context, *coupon.Campaign) error { return nil }

func campaignOf(id string, limit int) *coupon.Campaign {
	return coupon.LoadCampaign([]domain.Event{coupon.CampaignOpened{CampaignID: id, Name: "C " + id, Limit: limit, OpenedAt: time.Now()}})
}

// exclusive runs every job at once (one process in the test).
type exclusive struct{ ran []string }

func (e *exclusive) Run(ctx context.Context, name string, _ time.Duration, fn func(context.Context) error) (bool, error) {
	e.ran = append(e.ran, name)
	return true, fn(ctx)
}
