package chat

import (
	"encoding/json"
	"time"
)

// What clients are told: each feed event as the SSE event of that name and
// its JSON data, the same bytes a reconnecting client catches up on.

// SSE event names.
const (
	EventMessage  = "message"
	EventReaction = "reaction"
	EventHot      = "hot"
	EventCooled   = "cooled"
)

// MessageView is a message as a fetch (and the SSE "message" event) shows it.
type MessageView struct {
	MessageID string         `json:"messageId"`
	UserID    string         `json:"userId"`
	Text      string         `json:"text"`
	Reactions map[string]int `json:"reactions"`
	Position  int64          `json:"position"`
	At        time.Time      `json:"at"`
}

type reactionView struct {
	MessageID string    `json:"messageId"`
	UserID    string    `json:"userId"`
	Emoji     string    `json:"emoji"`
	Count     int       `json:"count"`
	Position  int64     `json:"position"`
	At        time.Time `json:"at"`
}

type hotView struct {
	RoomID   string    `json:"roomId"`
	Rate     float64   `json:"rate"`
	Position int64     `json:"position"`
	At       time.Time `json:"at"`
}

type cooledView struct {
	RoomID        string    `json:"roomId"`
	HotForSeconds float64   `json:"hotForSeconds"`
	Position      int64     `json:"position"`
	At            time.Time `json:"at"`
}

// FeedEntry is one event of a room's feed as clients receive it.
type FeedEntry struct {
	Position int64
	Event    string // message | reaction | hot | cooled
	Data     json.RawMessage
}

// Entry renders a feed event.
func Entry(e Positioned) (FeedEntry, error) {
	var v any
	var name string
	switch e := e.(type) {
	case MessagePosted:
		v, name = MessageView{MessageID: e.MessageID, UserID: e.UserID, Text: e.Text, Reactions: map[string]int{}, Position: e.Position, At: e.PostedAt}, EventMessage
	case ReactionAdded:
		v, name = reactionView{MessageID: e.MessageID, UserID: e.UserID, Emoji: e.Emoji, Count: e.Count, Position: e.Position, At: e.AddedAt}, EventReaction
	case RoomBecameHot:
		v, name = hotView{RoomID: e.RoomID, Rate: e.Rate, Position: e.Position, At: e.HotSince}, EventHot
	case RoomCooledDown:
		v, name = cooledView{RoomID: e.RoomID, HotForSeconds: e.HotFor.Seconds(), Position: e.Position, At: e.CooledAt}, EventCooled
	}
	data, err := json.Marshal(v)
	return FeedEntry{Position: e.FeedPosition(), Event: name, Data: data}, err
}
