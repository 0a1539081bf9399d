package handlers

import (
	"context"

	"github.com/surge-platform/surge/domain/alert"
)

// Notifier hands a notice to this process's residents of a complex (their
// WebSocket sessions).
type Notifier interface {
	Notify(complexID string, position int64, noticeType string, payload []byte)
}

// NotifyResidents pushes every notice of a complex to its residents
// connected to this process. It runs in every push instance (a live group:
// no consumer group, from the end of the topic), so each instance serves
// its own clients; a notice this process missed is filled in from the feed
// by each session, so losing one here delays it, never loses it.
type NotifyResidents struct{ Notifier Notifier }

// Name names the group (live: no consumer group is kept for it).
func (NotifyResidents) Name() string { return "NotifyResidents" }

func (n NotifyResidents) OnAlertRaised(_ context.Context, e *alert.AlertRaised) error {
	return n.notify(*e)
}

func (n NotifyResidents) OnAlertAccepted(_ context.Context, e *alert.AlertAccepted) error {
	return n.notify(*e)
}

func (n NotifyResidents) OnAlertCancelled(_ context.Context, e *alert.AlertCancelled) error {
	return n.notify(*e)
}

func (n NotifyResidents) OnActionRefused(_ context.Context, e *alert.ActionRefused) error {
	return n.notify(*e)
}

func (n NotifyResidents) notify(e alert.Positioned) error {
	if e.FeedPosition() == 0 {
		return nil // not from the store (cannot happen): nothing to order it by
	}
	typ, body, err := alert.Notice(e)
	if err != nil {
		return err
	}
	n.Notifier.Notify(e.Complex(), e.FeedPosition(), typ, body)
	return nil
}
