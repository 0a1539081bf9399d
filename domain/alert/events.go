package alert

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Every event of an alert carries its Position in the complex's feed (set
// when it is stored) and is keyed by its complex, so one complex's events
// travel in order.

// AlertRaised: a resident called for help.
type AlertRaised struct {
	AlertID   string    `json:"alertId"`
	ComplexID string    `json:"complexId"`
	House     string    `json:"house"`
	Text      string    `json:"text"`
	Location  *Location `json:"location,omitempty"`
	RaisedAt  time.Time `json:"raisedAt"`
	Position  int64     `json:"position"`
}

func (AlertRaised) WireName() string { return "alert.raised.v1" }

// AlertAccepted: the first acceptor took the alert on.
type AlertAccepted struct {
	AlertID    string    `json:"alertId"`
	ComplexID  string    `json:"complexId"`
	AcceptedBy string    `json:"acceptedBy"`
	Raiser     string    `json:"raiser"`
	AcceptedAt time.Time `json:"acceptedAt"`
	Position   int64     `json:"position"`
}

func (AlertAccepted) WireName() string { return "alert.accepted.v1" }

// AlertCancelled: the raiser called the alert off before anyone accepted.
type AlertCancelled struct {
	AlertID     string    `json:"alertId"`
	ComplexID   string    `json:"complexId"`
	House       string    `json:"house"`
	CancelledAt time.Time `json:"cancelledAt"`
	Position    int64     `json:"position"`
}

func (AlertCancelled) WireName() string { return "alert.cancelled.v1" }

// ActionRefused: a resident was told 202 by the fast path (Redis), but the
// alert's stream had decided otherwise (Redis had lost the claim): another
// resident accepted first, or the alert was cancelled or accepted before a
// cancellation. The resident is told so ("reject" push), never left
// believing it.
type ActionRefused struct {
	AlertID    string    `json:"alertId"`
	ComplexID  string    `json:"complexId"`
	House      string    `json:"house"`  // who was refused
	Action     string    `json:"action"` // "accept" or "cancel"
	Reason     string    `json:"reason"` // "already_accepted" or "alert_cancelled"
	AcceptedBy string    `json:"acceptedBy,omitempty"`
	RefusedAt  time.Time `json:"refusedAt"`
	Position   int64     `json:"position"`
}

func (ActionRefused) WireName() string { return "alert.action_refused.v1" }

func (e AlertRaised) PartitionKey() string    { return complexKey(e.ComplexID) }
func (e AlertAccepted) PartitionKey() string  { return complexKey(e.ComplexID) }
func (e AlertCancelled) PartitionKey() string { return complexKey(e.ComplexID) }
func (e ActionRefused) PartitionKey() string  { return complexKey(e.ComplexID) }

func complexKey(complexID string) string { return "complex/" + complexID }

// Positioned is an event of a complex's feed.
type Positioned interface {
	domain.Event
	Complex() string
	// At returns the event at position p of its complex's feed.
	At(p int64) Positioned
	// FeedPosition is the event's position (0 before it is stored).
	FeedPosition() int64
}

func (e AlertRaised) Complex() string    { return e.ComplexID }
func (e AlertAccepted) Complex() string  { return e.ComplexID }
func (e AlertCancelled) Complex() string { return e.ComplexID }
func (e ActionRefused) Complex() string  { return e.ComplexID }

func (e AlertRaised) At(p int64) Positioned    { e.Position = p; return e }
func (e AlertAccepted) At(p int64) Positioned  { e.Position = p; return e }
func (e AlertCancelled) At(p int64) Positioned { e.Position = p; return e }
func (e ActionRefused) At(p int64) Positioned  { e.Position = p; return e }

func (e AlertRaised) FeedPosition() int64    { return e.Position }
func (e AlertAccepted) FeedPosition() int64  { return e.Position }
func (e AlertCancelled) FeedPosition() int64 { return e.Position }
func (e ActionRefused) FeedPosition() int64  { return e.Position }

// Refusal reasons.
const (
	ReasonAlreadyAccepted = "already_accepted"
	ReasonCancelled       = "alert_cancelled"
)
