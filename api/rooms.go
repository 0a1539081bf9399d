package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/chat"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/projections"
)

// Rooms is the chat flow's HTTP port (routes in routes.go); the live
// stream is RoomStream (SSE).
type Rooms struct {
	Create       CreateRoom
	Submit       SubmitChat
	Fetch        FetchMessages
	Queries      RoomQueries
	MaxBodyBytes int64
}

// CreateRoom stores a room.
type CreateRoom interface {
	Handle(ctx context.Context, cmd chat.CreateRoom) (*chat.Room, error)
}

// SubmitChat sends messages and reactions.
type SubmitChat interface {
	Message(ctx context.Context, m handlers.SubmitMessage) (string, error)
	Reaction(ctx context.Context, r handlers.SubmitReaction) error
}

// FetchMessages serves a page of a room's messages (counted, and throttled
// while the room runs hot).
type FetchMessages interface {
	Handle(ctx context.Context, q handlers.FetchMessages) (handlers.MessagePage, error)
}

// RoomQueries reads rooms.
type RoomQueries interface {
	Room(ctx context.Context, roomID string) (projections.RoomView, error)
	HotRooms(ctx context.Context) ([]projections.RoomView, error)
}

type createRoomRequest struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

func (h Rooms) create(c *gin.Context) {
	var req createRoomRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.Name == nil {
		respondError(c, missingField("name"))
		return
	}
	cmd := chat.CreateRoom{Name: *req.Name}
	if req.ID != nil {
		cmd.RoomID = *req.ID
	} else {
		var b [6]byte
		rand.Read(b[:]) //nolint:errcheck
		cmd.RoomID = "r-" + hex.EncodeToString(b[:])
	}
	room, err := h.Create.Handle(c.Request.Context(), cmd)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": room.ID, "name": room.Name})
}

func roomID(c *gin.Context) (string, error) {
	id := c.Param("roomId")
	if !chat.ValidRoomID(id) {
		return "", newError(http.StatusBadRequest, "invalid_room_id", "room id must be 1-64 characters of [A-Za-z0-9._-]")
	}
	return id, nil
}

type postMessageRequest struct {
	UserID *string `json:"userId"`
	Text   *string `json:"text"`
}

func (h Rooms) post(c *gin.Context) {
	id, err := roomID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req postMessageRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	switch {
	case req.UserID == nil:
		respondError(c, missingField("userId"))
		return
	case req.Text == nil:
		respondError(c, missingField("text"))
		return
	}
	messageID, err := h.Submit.Message(c.Request.Context(), handlers.SubmitMessage{RoomID: id, UserID: *req.UserID, Text: *req.Text})
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"messageId": messageID})
}

type reactionRequest struct {
	UserID *string `json:"userId"`
	Emoji  *string `json:"emoji"`
}

func (h Rooms) react(c *gin.Context) {
	id, err := roomID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req reactionRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	switch {
	case req.UserID == nil:
		respondError(c, missingField("userId"))
		return
	case req.Emoji == nil:
		respondError(c, missingField("emoji"))
		return
	}
	r := handlers.SubmitReaction{RoomID: id, MessageID: c.Param("messageId"), UserID: *req.UserID, Emoji: *req.Emoji}
	if err := h.Submit.Reaction(c.Request.Context(), r); err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
}

// fetch serves a page of messages; while the room runs hot, a client over
// its rate gets 429 room_hot with Retry-After and a Link to the stream.
func (h Rooms) fetch(c *gin.Context) {
	id, err := roomID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	after, limit, err := pageQuery(c.Request.URL.RawQuery, handlers.MaxFetch, 50)
	if err != nil {
		respondError(c, err)
		return
	}
	page, err := h.Fetch.Handle(c.Request.Context(), handlers.FetchMessages{RoomID: id, After: after, Limit: limit, Client: clientID(c)})
	if err != nil {
		respondError(c, err)
		return
	}
	if page.Throttled {
		c.Header("Retry-After", strconv.Itoa(ceilSeconds(page.RetryAfter)))
		c.Header("Link", `</v1/rooms/`+id+`/stream>; rel="alternate"; type="text/event-stream"`)
		respondError(c, newError(http.StatusTooManyRequests, "room_hot",
			"this room is hot: fetches are limited per client; follow its stream (Link) or retry after Retry-After"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"messages": page.Messages, "position": page.Position, "hot": page.Hot})
}

// clientID is who fetches: X-Client-ID (printable ASCII, up to 64
// bytes), else the connection's remote address (never a forwarded header a
// client could forge).
func clientID(c *gin.Context) string {
	if id := c.GetHeader("X-Client-ID"); id != "" && len(id) <= 64 && validCorrelationID(id) {
		return "id:" + id
	}
	return "ip:" + c.RemoteIP()
}

func (h Rooms) get(c *gin.Context) {
	id, err := roomID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	v, err := h.Queries.Room(c.Request.Context(), id)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// list serves GET /v1/rooms?hot=true: the rooms that run hot.
func (h Rooms) list(c *gin.Context) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil || len(q) != 1 || len(q["hot"]) != 1 || q.Get("hot") != "true" {
		respondError(c, newError(http.StatusBadRequest, "invalid_query", "list the hot rooms with ?hot=true"))
		return
	}
	rooms, err := h.Queries.HotRooms(c.Request.Context())
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"rooms": rooms})
}

// pageQuery reads after (a position, default 0) and limit (1..max, default
// def); nothing else.
func pageQuery(raw string, maxLimit, def int) (after int64, limit int, err error) {
	q, perr := url.ParseQuery(raw)
	if perr != nil {
		return 0, 0, newError(http.StatusBadRequest, "invalid_query", "the query string is malformed")
	}
	limit = def
	for k, vs := range q {
		if len(vs) != 1 {
			return 0, 0, newError(http.StatusBadRequest, "invalid_query", strconv.Quote(k)+" must be given once")
		}
		switch k {
		case "after":
			if after, perr = strconv.ParseInt(vs[0], 10, 64); perr != nil || after < 0 {
				return 0, 0, newError(http.StatusBadRequest, "invalid_after", "after must be a position (an integer from 0)")
			}
		case "limit":
			if limit, perr = strconv.Atoi(vs[0]); perr != nil || limit < 1 || limit > maxLimit {
				return 0, 0, newError(http.StatusBadRequest, "invalid_limit", "limit must be an integer in 1.."+strconv.Itoa(maxLimit))
			}
		default:
			return 0, 0, newError(http.StatusBadRequest, "unknown_parameter", "unknown query parameter "+strconv.Quote(k)+" (after and limit are accepted)")
		}
	}
	return after, limit, nil
}
