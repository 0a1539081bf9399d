package alert

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Status is where an alert stands.
type Status string

const (
	Raised    Status = "raised"
	Accepted  Status = "accepted"
	Cancelled Status = "cancelled"
)

// Alert is one emergency call, rebuilt from its stream.
type Alert struct {
	domain.Root
	ID          string
	ComplexID   string
	House       string // the raiser's
	Text        string
	Location    *Location
	RaisedAt    time.Time
	Status      Status
	AcceptedBy  string
	AcceptedAt  time.Time
	CancelledAt time.Time
	refusals    []ActionRefused
}

// Load rebuilds an alert from its history.
func Load(history []domain.Event) *Alert {
	a := &Alert{}
	a.Replay(history, a.apply)
	return a
}

// Exists says whether the alert was raised.
func (a *Alert) Exists() bool { return !a.IsNew() }

// Errors a caller can act on.
var (
	ErrNotFound         = domain.NotFound("alert_not_found", "no alert with that id")
	ErrOwnAlert         = domain.Invalid("cannot_accept_own_alert", "a resident cannot accept their own alert")
	ErrNotTheRaiser     = domain.Forbidden("not_the_raiser", "only the resident who raised the alert can cancel it")
	ErrAlreadyCancelled = domain.Conflict("alert_cancelled", "the alert was cancelled")
)

// AlreadyAccepted is the 409 of a late acceptor or canceller; it names the
// winner.
func AlreadyAccepted(by string) error {
	return domain.Conflict("already_accepted", "the alert was already accepted by %s", by)
}

// Raise validates the command and records AlertRaised. Raising an alert
// that exists records nothing (a retried request with the same id).
func (a *Alert) Raise(cmd RaiseAlert, now time.Time) error {
	if !ValidAlertID(cmd.AlertID) {
		return domain.Invalid("invalid_alert_id", "alertId must be 1-%d characters of [A-Za-z0-9._-]", MaxComplexIDLength)
	}
	if err := ValidateComplexID(cmd.ComplexID); err != nil {
		return err
	}
	house, err := NormalizeHouse(cmd.House)
	if err != nil {
		return err
	}
	text, err := NormalizeText(cmd.Text)
	if err != nil {
		return err
	}
	if cmd.Location != nil {
		if _, err := ValidateLocation(&cmd.Location.Lat, &cmd.Location.Lng); err != nil {
			return err
		}
	}
	if a.Exists() {
		return nil
	}
	a.Record(AlertRaised{AlertID: cmd.AlertID, ComplexID: cmd.ComplexID, House: house, Text: text, Location: cmd.Location,
		RaisedAt: now.UTC().Truncate(time.Millisecond)}, a.apply)
	return nil
}

// Accept records AlertAccepted for the first acceptor. A later acceptor (or
// one after a cancellation) is recorded as refused, so that they are told:
// the fast path had already answered them. An acceptor accepting again
// records nothing (a redelivered command).
func (a *Alert) Accept(cmd AcceptAlert, now time.Time) error {
	if !a.Exists() {
		return ErrNotFound
	}
	if cmd.House == a.House {
		return ErrOwnAlert
	}
	now = now.UTC().Truncate(time.Millisecond)
	switch {
	case a.Status == Accepted && a.AcceptedBy == cmd.House:
		return nil
	case a.Status == Accepted:
		a.refuse(cmd.House, NoticeAccept, ReasonAlreadyAccepted, now)
	case a.Status == Cancelled:
		a.refuse(cmd.House, NoticeAccept, ReasonCancelled, now)
	default:
		a.Record(AlertAccepted{AlertID: a.ID, ComplexID: a.ComplexID, AcceptedBy: cmd.House, Raiser: a.House, AcceptedAt: now}, a.apply)
	}
	return nil
}

// Cancel records AlertCancelled if the raiser cancels before anyone
// accepted; after an acceptance the raiser is recorded as refused.
func (a *Alert) Cancel(cmd CancelAlert, now time.Time) error {
	if !a.Exists() {
		return ErrNotFound
	}
	if cmd.House != a.House {
		return ErrNotTheRaiser
	}
	now = now.UTC().Truncate(time.Millisecond)
	switch a.Status {
	case Cancelled:
		return nil
	case Accepted:
		a.refuse(cmd.House, NoticeCancel, ReasonAlreadyAccepted, now)
	default:
		a.Record(AlertCancelled{AlertID: a.ID, ComplexID: a.ComplexID, House: a.House, CancelledAt: now}, a.apply)
	}
	return nil
}

func (a *Alert) refuse(house, action, reason string, now time.Time) {
	// One refusal per resident and action: a redelivered command is told once.
	for _, e := range a.refusals {
		if e.House == house && e.Action == action {
			return
		}
	}
	a.Record(ActionRefused{AlertID: a.ID, ComplexID: a.ComplexID, House: house, Action: action, Reason: reason, AcceptedBy: a.AcceptedBy, RefusedAt: now}, a.apply)
}

func (a *Alert) apply(e domain.Event) {
	switch e := e.(type) {
	case AlertRaised:
		a.ID, a.ComplexID, a.House, a.Text, a.Location, a.RaisedAt, a.Status = e.AlertID, e.ComplexID, e.House, e.Text, e.Location, e.RaisedAt, Raised
	case AlertAccepted:
		a.Status, a.AcceptedBy, a.AcceptedAt = Accepted, e.AcceptedBy, e.AcceptedAt
	case AlertCancelled:
		a.Status, a.CancelledAt = Cancelled, e.CancelledAt
	case ActionRefused:
		a.refusals = append(a.refusals, e)
	}
}

// EventTypes lists the events of this package.
func EventTypes() []domain.Event {
	return []domain.Event{AlertRaised{}, AlertAccepted{}, AlertCancelled{}, ActionRefused{}}
}
