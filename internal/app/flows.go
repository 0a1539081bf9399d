package app

import (
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/flows"
)

// Flows is every flow of the platform, each a module (internal/flows), in
// the order their routes mount. Adding a flow is one line here.
func Flows() []flow.Module {
	return []flow.Module{
		&flows.Coupons{}, // seed 001: first-come coupons
		&flows.Prices{},  // seed 000: price comparison behind a cache
		&flows.Alerts{},  // seed 002: emergency alerts pushed to a complex
		&flows.Chat{},    // seed 003: hot chat over SSE
		&flows.Pools{},   // seed 004: warm pools of pre-copied template assets
	}
}
