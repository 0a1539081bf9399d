package chat

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// RoomCreated: a room exists.
type RoomCreated struct {
	RoomID    string    `json:"roomId"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

func (RoomCreated) WireName() string { return "chat.room_created.v1" }

// The events of a room's feed carry their Position (set when stored) and
// are keyed by the room, so one room's events travel in order.

// MessagePosted: a user posted a message.
type MessagePosted struct {
	RoomID    string    `json:"roomId"`
	MessageID string    `json:"messageId"`
	UserID    string    `json:"userId"`
	Text      string    `json:"text"`
	PostedAt  time.Time `json:"postedAt"`
	Position  int64     `json:"position"`
}

func (MessagePosted) WireName() string { return "chat.message_posted.v1" }

// ReactionAdded: a user reacted to a message; Count is how many users gave
// the message this emoji, this one included.
type ReactionAdded struct {
	RoomID    string    `json:"roomId"`
	MessageID string    `json:"messageId"`
	UserID    string    `json:"userId"`
	Emoji     string    `json:"emoji"`
	Count     int       `json:"count"`
	AddedAt   time.Time `json:"addedAt"`
	Position  int64     `json:"position"`
}

func (ReactionAdded) WireName() string { return "chat.reaction_added.v1" }

// RoomBecameHot: the room's fetch rate over the window reached the
// threshold; its fetches are throttled until it cools down.
type RoomBecameHot struct {
	RoomID   string    `json:"roomId"`
	Rate     float64   `json:"rate"`
	HotSince time.Time `json:"hotSince"`
	Position int64     `json:"position"`
}

func (RoomBecameHot) WireName() string { return "chat.room_became_hot.v1" }

// RoomCooledDown: the room's fetch rate stayed below half the threshold for
// the cooldown; it was hot for HotFor.
type RoomCooledDown struct {
	RoomID   string        `json:"roomId"`
	HotFor   time.Duration `json:"hotFor"`
	CooledAt time.Time     `json:"cooledAt"`
	Position int64         `json:"position"`
}

func (RoomCooledDown) WireName() string { return "chat.room_cooled_down.v1" }

func (e MessagePosted) PartitionKey() string  { return roomKey(e.RoomID) }
func (e ReactionAdded) PartitionKey() string  { return roomKey(e.RoomID) }
func (e RoomBecameHot) PartitionKey() string  { return roomKey(e.RoomID) }
func (e RoomCooledDown) PartitionKey() string { return roomKey(e.RoomID) }
func (e RoomCreated) PartitionKey() string    { return roomKey(e.RoomID) }

// Positioned is an event of a room's feed.
type Positioned interface {
	domain.Event
	Room() string
	At(p int64) Positioned
	FeedPosition() int64
}

func (e MessagePosted) Room() string  { return e.RoomID }
func (e ReactionAdded) Room() string  { return e.RoomID }
func (e RoomBecameHot) Room() string  { return e.RoomID }
func (e RoomCooledDown) Room() string { return e.RoomID }

func (e MessagePosted) At(p int64) Positioned  { e.Position = p; return e }
func (e ReactionAdded) At(p int64) Positioned  { e.Position = p; return e }
func (e RoomBecameHot) At(p int64) Positioned  { e.Position = p; return e }
func (e RoomCooledDown) At(p int64) Positioned { e.Position = p; return e }

func (e MessagePosted) FeedPosition() int64  { return e.Position }
func (e ReactionAdded) FeedPosition() int64  { return e.Position }
func (e RoomBecameHot) FeedPosition() int64  { return e.Position }
func (e RoomCooledDown) FeedPosition() int64 { return e.Position }

// EventTypes lists the events of this package.
func EventTypes() []domain.Event {
	return []domain.Event{RoomCreated{}, MessagePosted{}, ReactionAdded{}, RoomBecameHot{}, RoomCooledDown{}}
}
