package chat

import "time"

// CreateRoom opens a room. The API runs it synchronously (201).
type CreateRoom struct {
	RoomID string `json:"roomId"`
	Name   string `json:"name"`
}

func (CreateRoom) WireName() string { return "chat.create_room.v1" }

// PostMessage posts a message; the API mints MessageID.
type PostMessage struct {
	RoomID    string `json:"roomId"`
	MessageID string `json:"messageId"`
	UserID    string `json:"userId"`
	Text      string `json:"text"`
}

func (PostMessage) WireName() string { return "chat.post_message.v1" }

// PartitionKey keeps one room's commands in order.
func (c PostMessage) PartitionKey() string { return roomKey(c.RoomID) }

// AddReaction reacts to a message with an emoji.
type AddReaction struct {
	RoomID    string `json:"roomId"`
	MessageID string `json:"messageId"`
	UserID    string `json:"userId"`
	Emoji     string `json:"emoji"`
}

func (AddReaction) WireName() string { return "chat.add_reaction.v1" }

// PartitionKey keeps one room's commands in order.
func (c AddReaction) PartitionKey() string { return roomKey(c.RoomID) }

// ReportRoomHeat is the detector's verdict on a room's fetch rate: hot or
// not. The room's stream records a change only (a detector that restarts
// and says it again records nothing).
type ReportRoomHeat struct {
	RoomID     string    `json:"roomId"`
	Hot        bool      `json:"hot"`
	Rate       float64   `json:"rate"` // fetches per second over the window
	ObservedAt time.Time `json:"observedAt"`
}

func (ReportRoomHeat) WireName() string { return "chat.report_room_heat.v1" }

// PartitionKey keeps one room's commands in order.
func (c ReportRoomHeat) PartitionKey() string { return roomKey(c.RoomID) }

func roomKey(roomID string) string { return "room/" + roomID }
