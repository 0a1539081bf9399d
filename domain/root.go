package domain

import "time"

// Root is the plumbing every aggregate shares: the version it was rebuilt
// at (the number of stored events) and the events recorded since, which the
// repository appends at that expected version. An aggregate embeds it and
// keeps the rules; its apply function is the one switch over its events.
type Root struct {
	version int
	changes []Event
}

// Version is the number of events the aggregate was rebuilt from.
func (r *Root) Version() int { return r.version }

// Changes are the events recorded since the aggregate was loaded.
func (r *Root) Changes() []Event { return r.changes }

// IsNew says whether the aggregate has no stored event and records none.
func (r *Root) IsNew() bool { return r.version == 0 && len(r.changes) == 0 }

// Replay rebuilds the aggregate from its history through apply.
func (r *Root) Replay(history []Event, apply func(Event)) {
	for _, e := range history {
		apply(e)
		r.version++
	}
}

// Record applies e through apply and keeps it to be stored.
func (r *Root) Record(e Event, apply func(Event)) {
	apply(e)
	r.changes = append(r.changes, e)
}

// Clock tells the time; the zero Clock is the wall clock. Handlers and
// projections take one so tests can fix the time.
type Clock func() time.Time

// Now is the current time.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}
