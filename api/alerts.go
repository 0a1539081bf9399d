package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/projections"
)

// Alerts is the alert flow's HTTP port (routes in routes.go); the push of
// what residents are told is AlertPush (STOMP over WebSocket).
type Alerts struct {
	Raise        RaiseAlert
	Accept       RequestAcceptance
	Cancel       RequestCancellation
	Queries      AlertQueries
	Residents    ResidentVerifier // nil: the flow is open (no resident tokens)
	MaxBodyBytes int64
}

// RaiseAlert stores an alert; it returns the stored event.
type RaiseAlert interface {
	Handle(ctx context.Context, r handlers.RaiseAlert) (alert.AlertRaised, error)
}

// RequestAcceptance answers an acceptor from the fast path and sends
// AcceptAlert; it returns the alert's complex.
type RequestAcceptance interface {
	Handle(ctx context.Context, r handlers.RequestAcceptance) (string, error)
}

// RequestCancellation answers the raiser and sends CancelAlert.
type RequestCancellation interface {
	Handle(ctx context.Context, r handlers.RequestCancellation) (string, error)
}

// AlertQueries reads an alert and a complex's feed.
type AlertQueries interface {
	Alert(ctx context.Context, alertID, residentComplex string) (projections.AlertView, error)
	Feed(ctx context.Context, complexID string, after int64, limit int) ([]alert.FeedEntry, error)
}

// ResidentVerifier says who bears a resident token.
type ResidentVerifier interface {
	Verify(token string) (handlers.Resident, error)
}

// resident is who the request acts for: with tokens, the token's complex
// and house (a different house in the body is refused); without, the
// house in the body.
func (h Alerts) resident(c *gin.Context, bodyHouse string) (handlers.Resident, error) {
	if h.Residents == nil {
		return handlers.Resident{House: bodyHouse}, nil
	}
	token, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	r, err := h.Residents.Verify(strings.TrimSpace(token))
	if err != nil {
		return r, err
	}
	if bodyHouse != "" {
		house, err := alert.NormalizeHouse(bodyHouse)
		if err == nil && house != r.House {
			return r, domain.Forbidden("house_mismatch", "you act as your own house (%s), not %s", r.House, house)
		}
	}
	return r, nil
}

func complexID(c *gin.Context) (string, error) {
	id := c.Param("complexId")
	if !alert.ValidComplexID(id) {
		return "", newError(http.StatusBadRequest, "invalid_complex_id", "complexId must be 1-64 characters of [A-Za-z0-9._-]")
	}
	return id, nil
}

type raiseRequest struct {
	House *string  `json:"house"`
	Text  *string  `json:"text"`
	Lat   *float64 `json:"lat"`
	Lng   *float64 `json:"lng"`
}

// raise stores the alert: 202 means it is durable and will be pushed.
func (h Alerts) raise(c *gin.Context) {
	complex, err := complexID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req raiseRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.House == nil {
		respondError(c, missingField("house"))
		return
	}
	who, err := h.resident(c, *req.House)
	if err != nil {
		respondError(c, err)
		return
	}
	if who.ComplexID != "" && who.ComplexID != complex {
		respondError(c, domain.Forbidden("wrong_complex", "you are a resident of another complex"))
		return
	}
	var text string
	if req.Text != nil {
		text = *req.Text
	}
	raised, err := h.Raise.Handle(c.Request.Context(), handlers.RaiseAlert{ComplexID: complex, House: *req.House, Text: text, Lat: req.Lat, Lng: req.Lng})
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"alertId": raised.AlertID, "status": "raised"})
}

type houseRequest struct {
	House *string `json:"house"`
}

func (h Alerts) houseOf(c *gin.Context) (handlers.Resident, bool) {
	var req houseRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return handlers.Resident{}, false
	}
	if req.House == nil {
		respondError(c, missingField("house"))
		return handlers.Resident{}, false
	}
	who, err := h.resident(c, *req.House)
	if err != nil {
		respondError(c, err)
		return who, false
	}
	return who, true
}

// accept: 202 for the first acceptor, 409 already_accepted (naming the
// winner) for every later one.
func (h Alerts) accept(c *gin.Context) {
	who, ok := h.houseOf(c)
	if !ok {
		return
	}
	id := c.Param("alertId")
	if _, err := h.Accept.Handle(c.Request.Context(), handlers.RequestAcceptance{AlertID: id, By: who}); err != nil {
		respondError(c, err)
		return
	}
	house, _ := alert.NormalizeHouse(who.House)
	c.JSON(http.StatusAccepted, gin.H{"alertId": id, "status": "accepted", "acceptedBy": house})
}

// cancel: only the raiser, only while no one accepted.
func (h Alerts) cancel(c *gin.Context) {
	who, ok := h.houseOf(c)
	if !ok {
		return
	}
	id := c.Param("alertId")
	if _, err := h.Cancel.Handle(c.Request.Context(), handlers.RequestCancellation{AlertID: id, By: who}); err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"alertId": id, "status": "cancelled"})
}

func (h Alerts) get(c *gin.Context) {
	who, err := h.resident(c, "")
	if err != nil {
		respondError(c, err)
		return
	}
	v, err := h.Queries.Alert(c.Request.Context(), c.Param("alertId"), who.ComplexID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// feed is the catch-up of a resident who was away: what the WebSocket
// pushed after a position, in order, the same payloads.
func (h Alerts) feed(c *gin.Context) {
	complex, err := complexID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	after, limit, err := pageQuery(c.Request.URL.RawQuery, handlers.MaxFeedPage, 100)
	if err != nil {
		respondError(c, err)
		return
	}
	who, err := h.resident(c, "")
	if err != nil {
		respondError(c, err)
		return
	}
	if who.ComplexID != "" && who.ComplexID != complex {
		respondError(c, domain.Forbidden("wrong_complex", "you are a resident of another complex"))
		return
	}
	entries, err := h.Queries.Feed(c.Request.Context(), complex, after, limit)
	if err != nil {
		respondError(c, err)
		return
	}
	events := make([]json.RawMessage, len(entries))
	position := after
	for i, e := range entries {
		events[i] = e.Payload
		position = e.Position
	}
	c.JSON(http.StatusOK, gin.H{"events": events, "position": position})
}
