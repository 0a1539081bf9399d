package alert_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
)

var now = time.Date(2026, 12, 1, 3, 4, 5, 0, time.UTC)

func raised() alert.AlertRaised {
	return alert.AlertRaised{AlertID: "a1", ComplexID: "A", House: "101-1203", Text: "smoke", RaisedAt: now, Position: 1}
}

func TestRaiseRecordsAlertRaisedWithCleanText(t *testing.T) {
	a := alert.Load(nil)
	lat, lng := 37.51, 127.02
	err := a.Raise(alert.RaiseAlert{AlertID: "a1", ComplexID: "A", House: " 101-1203 ", Text: "Cafe\u0301 on fire\nhelp", Location: &alert.Location{Lat: lat, Lng: lng}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{alert.AlertRaised{AlertID: "a1", ComplexID: "A", House: "101-1203", Text: "Caf\u00e9 on fire\nhelp", Location: &alert.Location{Lat: lat, Lng: lng}, RaisedAt: now}}
	if !reflect.DeepEqual(a.Changes(), want) {
		t.Fatalf("changes = %#v", a.Changes())
	}
	// Raising it again (a retried request) records nothing.
	again := alert.Load(a.Changes())
	if err := again.Raise(alert.RaiseAlert{AlertID: "a1", ComplexID: "A", House: "101-1203"}, now); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("raise again: %v %v", err, again.Changes())
	}
}

func TestRaiseValidation(t *testing.T) {
	ninety := 90.5
	ok := 10.0
	for name, tc := range map[string]struct {
		cmd  alert.RaiseAlert
		code string
	}{
		"no house":        {alert.RaiseAlert{AlertID: "a", ComplexID: "A"}, "invalid_house"},
		"long house":      {alert.RaiseAlert{AlertID: "a", ComplexID: "A", House: "123456789012345678901234567890123"}, "invalid_house"},
		"slash in house":  {alert.RaiseAlert{AlertID: "a", ComplexID: "A", House: "1/2"}, "invalid_house"},
		"bad complex":     {alert.RaiseAlert{AlertID: "a", ComplexID: "a b", House: "1"}, "invalid_complex_id"},
		"long text":       {alert.RaiseAlert{AlertID: "a", ComplexID: "A", House: "1", Text: string(make([]rune, 501))}, "invalid_text"},
		"control in text": {alert.RaiseAlert{AlertID: "a", ComplexID: "A", House: "1", Text: "\x1b[2J"}, "invalid_text"},
		"lat out of range": {alert.RaiseAlert{AlertID: "a", ComplexID: "A", House: "1", Location: &alert.Location{Lat: ninety, Lng: ok}},
			"invalid_location"},
	} {
		t.Run(name, func(t *testing.T) {
			a := alert.Load(nil)
			err := a.Raise(tc.cmd, now)
			if de, isDomain := err.(*domain.Error); !isDomain || de.Code != tc.code || len(a.Changes()) != 0 {
				t.Fatalf("err = %v, changes %v; want %s", err, a.Changes(), tc.code)
			}
		})
	}
	if _, err := alert.ValidateLocation(&ok, nil); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("lat without lng accepted: %v", err)
	}
}

func TestFirstAcceptorWinsLaterOnesAreRefused(t *testing.T) {
	a := alert.Load([]domain.Event{raised()})
	if err := a.Accept(alert.AcceptAlert{AlertID: "a1", ComplexID: "A", House: "102-1"}, now); err != nil {
		t.Fatal(err)
	}
	if err := a.Accept(alert.AcceptAlert{AlertID: "a1", ComplexID: "A", House: "103-1"}, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		alert.AlertAccepted{AlertID: "a1", ComplexID: "A", AcceptedBy: "102-1", Raiser: "101-1203", AcceptedAt: now},
		alert.ActionRefused{AlertID: "a1", ComplexID: "A", House: "103-1", Action: "accept", Reason: "already_accepted", AcceptedBy: "102-1", RefusedAt: now},
	}
	if !reflect.DeepEqual(a.Changes(), want) {
		t.Fatalf("changes = %#v", a.Changes())
	}
	// Redelivered, both commands record nothing more.
	again := alert.Load(append([]domain.Event{raised()}, a.Changes()...))
	for _, h := range []string{"102-1", "103-1"} {
		if err := again.Accept(alert.AcceptAlert{AlertID: "a1", ComplexID: "A", House: h}, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(again.Changes()) != 0 || again.Status != alert.Accepted || again.AcceptedBy != "102-1" {
		t.Fatalf("redelivered: %v, %+v", again.Changes(), again)
	}
}

func TestAcceptRules(t *testing.T) {
	if err := alert.Load(nil).Accept(alert.AcceptAlert{AlertID: "x", ComplexID: "A", House: "1"}, now); err != alert.ErrNotFound {
		t.Fatalf("unknown alert: %v", err)
	}
	a := alert.Load([]domain.Event{raised()})
	if err := a.Accept(alert.AcceptAlert{AlertID: "a1", ComplexID: "A", House: "101-1203"}, now); err != alert.ErrOwnAlert || len(a.Changes()) != 0 {
		t.Fatalf("own alert: %v %v", err, a.Changes())
	}
	cancelled := alert.Load([]domain.Event{raised(), alert.AlertCancelled{AlertID: "a1", ComplexID: "A", House: "101-1203", CancelledAt: now, Position: 2}})
	if err := cancelled.Accept(alert.AcceptAlert{AlertID: "a1", ComplexID: "A", House: "102-1"}, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{alert.ActionRefused{AlertID: "a1", ComplexID: "A", House: "102-1", Action: "accept", Reason: "alert_cancelled", RefusedAt: now}}
	if !reflect.DeepEqual(cancelled.Changes(), want) {
		t.Fatalf("accepting a cancelled alert: %#v", cancelled.Changes())
	}
}

func TestCancelRules(t *testing.T) {
	a := alert.Load([]domain.Event{raised()})
	if err := a.Cancel(alert.CancelAlert{AlertID: "a1", ComplexID: "A", House: "102-1"}, now); domain.KindOf(err) != domain.KindForbidden {
		t.Fatalf("someone else cancels: %v", err)
	}
	if err := a.Cancel(alert.CancelAlert{AlertID: "a1", ComplexID: "A", House: "101-1203"}, now); err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{alert.AlertCancelled{AlertID: "a1", ComplexID: "A", House: "101-1203", CancelledAt: now}}; !reflect.DeepEqual(a.Changes(), want) {
		t.Fatalf("cancel: %#v", a.Changes())
	}
	accepted := alert.Load([]domain.Event{raised(), alert.AlertAccepted{AlertID: "a1", ComplexID: "A", AcceptedBy: "102-1", Raiser: "101-1203", AcceptedAt: now, Position: 2}})
	if err := accepted.Cancel(alert.CancelAlert{AlertID: "a1", ComplexID: "A", House: "101-1203"}, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{alert.ActionRefused{AlertID: "a1", ComplexID: "A", House: "101-1203", Action: "cancel", Reason: "already_accepted", AcceptedBy: "102-1", RefusedAt: now}}
	if !reflect.DeepEqual(accepted.Changes(), want) {
		t.Fatalf("cancel after acceptance: %#v", accepted.Changes())
	}
}

func TestNoticesAreWhatResidentsAreTold(t *testing.T) {
	lat, lng := 37.51, 127.02
	e := raised()
	e.Location = &alert.Location{Lat: lat, Lng: lng}
	typ, body, err := alert.Notice(e.At(7))
	if err != nil || typ != "alert" || string(body) != `{"type":"alert","alertId":"a1","complexId":"A","house":"101-1203","text":"smoke","lat":37.51,"lng":127.02,"position":7,"at":"2026-12-01T03:04:05Z"}` {
		t.Fatalf("alert notice %s %s %v", typ, body, err)
	}
	typ, body, _ = alert.Notice(alert.AlertAccepted{AlertID: "a1", ComplexID: "A", AcceptedBy: "102-1", Raiser: "101-1203", AcceptedAt: now, Position: 8})
	if typ != "accept" || string(body) != `{"type":"accept","alertId":"a1","complexId":"A","acceptedBy":"102-1","target":"101-1203","position":8,"at":"2026-12-01T03:04:05Z"}` {
		t.Fatalf("accept notice %s %s", typ, body)
	}
	_, body, _ = alert.Notice(raised())
	if string(body) != `{"type":"alert","alertId":"a1","complexId":"A","house":"101-1203","text":"smoke","lat":null,"lng":null,"position":1,"at":"2026-12-01T03:04:05Z"}` {
		t.Fatalf("alert notice without location %s", body)
	}
}
