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

// What a command is recorded once as: a message by its id, a reaction by
// who gave which emoji to which message. The event it records carries the
// same key, so a record of commands sent and not yet recorded can be
// settled by the events.
func (c PostMessage) Key() string { return "m/" + c.RoomID + "/" + c.MessageID }

func (c AddReaction) Key() string {
	return "r/" + c.RoomID + "/" + c.MessageID + "/" + c.UserID + "/" + c.Emoji
}

// CommandKey is the key of the PostMessage that recorded the event.
func (e MessagePosted) CommandKey() string {
	return PostMessage{RoomID: e.RoomID, MessageID: e.MessageID}.Key()
}

// CommandKey is the key of the AddReaction that recorded the event.
func (e ReactionAdded) CommandKey() string {
	return AddReaction{RoomID: e.RoomID, MessageID: e.MessageID, UserID: e.UserID, Emoji: e.Emoji}.Key()
}
