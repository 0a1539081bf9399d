package alert

import (
	"encoding/json"
	"time"
)

// What residents are told: the JSON of each feed entry, the same bytes over
// STOMP (MESSAGE body) and in the catch-up (GET .../alerts?after=).

type raisedNotice struct {
	Type      string    `json:"type"`
	AlertID   string    `json:"alertId"`
	ComplexID string    `json:"complexId"`
	House     string    `json:"house"`
	Text      string    `json:"text"`
	Lat       *float64  `json:"lat"`
	Lng       *float64  `json:"lng"`
	Position  int64     `json:"position"`
	At        time.Time `json:"at"`
}

type acceptedNotice struct {
	Type       string    `json:"type"`
	AlertID    string    `json:"alertId"`
	ComplexID  string    `json:"complexId"`
	AcceptedBy string    `json:"acceptedBy"`
	Target     string    `json:"target"` // the raiser's house
	Position   int64     `json:"position"`
	At         time.Time `json:"at"`
}

type cancelledNotice struct {
	Type      string    `json:"type"`
	AlertID   string    `json:"alertId"`
	ComplexID string    `json:"complexId"`
	House     string    `json:"house"`
	Target    string    `json:"target"` // the raiser's house
	Position  int64     `json:"position"`
	At        time.Time `json:"at"`
}

type refusedNotice struct {
	Type       string    `json:"type"`
	AlertID    string    `json:"alertId"`
	ComplexID  string    `json:"complexId"`
	Target     string    `json:"target"` // the resident refused
	Action     string    `json:"action"`
	Reason     string    `json:"reason"`
	AcceptedBy string    `json:"acceptedBy,omitempty"`
	Position   int64     `json:"position"`
	At         time.Time `json:"at"`
}

// FeedEntry is one notice of a complex's feed: what a resident is told, at
// its position.
type FeedEntry struct {
	Position int64
	Type     string
	Payload  json.RawMessage
}

// Notice types, as the STOMP "type" header and the body's "type" say.
const (
	NoticeAlert  = "alert"
	NoticeAccept = "accept"
	NoticeCancel = "cancel"
	NoticeReject = "reject"
)

// Notice renders a feed event as residents receive it: its type and JSON.
func Notice(e Positioned) (noticeType string, body []byte, err error) {
	var v any
	switch e := e.(type) {
	case AlertRaised:
		n := raisedNotice{Type: NoticeAlert, AlertID: e.AlertID, ComplexID: e.ComplexID, House: e.House, Text: e.Text, Position: e.Position, At: e.RaisedAt}
		if e.Location != nil {
			n.Lat, n.Lng = &e.Location.Lat, &e.Location.Lng
		}
		v, noticeType = n, NoticeAlert
	case AlertAccepted:
		v, noticeType = acceptedNotice{Type: NoticeAccept, AlertID: e.AlertID, ComplexID: e.ComplexID, AcceptedBy: e.AcceptedBy, Target: e.Raiser, Position: e.Position, At: e.AcceptedAt}, NoticeAccept
	case AlertCancelled:
		v, noticeType = cancelledNotice{Type: NoticeCancel, AlertID: e.AlertID, ComplexID: e.ComplexID, House: e.House, Target: e.House, Position: e.Position, At: e.CancelledAt}, NoticeCancel
	case ActionRefused:
		v, noticeType = refusedNotice{Type: NoticeReject, AlertID: e.AlertID, ComplexID: e.ComplexID, Target: e.House, Action: e.Action, Reason: e.Reason, AcceptedBy: e.AcceptedBy, Position: e.Position, At: e.RefusedAt}, NoticeReject
	}
	body, err = json.Marshal(v)
	return noticeType, body, err
}
