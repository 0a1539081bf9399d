package chat

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Message is one message and who reacted to it with what.
type Message struct {
	domain.Root
	ID        string
	RoomID    string
	UserID    string
	Text      string
	PostedAt  time.Time
	reactions map[string]map[string]bool // emoji -> users
}

// LoadMessage rebuilds a message.
func LoadMessage(history []domain.Event) *Message {
	m := &Message{}
	m.Replay(history, m.apply)
	return m
}

// Exists says whether the message was posted.
func (m *Message) Exists() bool { return !m.IsNew() }

// Reactions counts the users per emoji.
func (m *Message) Reactions() map[string]int {
	out := make(map[string]int, len(m.reactions))
	for emoji, users := range m.reactions {
		out[emoji] = len(users)
	}
	return out
}

// Post records MessagePosted in a room that exists; posting it again (a
// redelivered command) records nothing.
func (m *Message) Post(room *Room, cmd PostMessage, now time.Time) error {
	if !room.Exists() {
		return domain.Invalid("room_not_found", "room %q was never created", cmd.RoomID)
	}
	if !ValidMessageID(cmd.MessageID) {
		return domain.Invalid("invalid_message_id", "messageId must be 1-%d characters of [A-Za-z0-9._-]", MaxMessageLength)
	}
	user, err := NormalizeUserID(cmd.UserID)
	if err != nil {
		return err
	}
	text, err := NormalizeText(cmd.Text)
	if err != nil {
		return err
	}
	if m.Exists() {
		return nil
	}
	m.Record(MessagePosted{RoomID: room.ID, MessageID: cmd.MessageID, UserID: user, Text: text, PostedAt: now.UTC().Truncate(time.Millisecond)}, m.apply)
	return nil
}

// HasReaction says whether user gave emoji to the message.
func (m *Message) HasReaction(user, emoji string) bool { return m.reactions[emoji][user] }

// React records ReactionAdded with the emoji's new count, unless the user
// gave this emoji to this message already (then: nothing, still one).
func (m *Message) React(cmd AddReaction, now time.Time) error {
	if !m.Exists() {
		return ErrMessageNotFound
	}
	user, err := NormalizeUserID(cmd.UserID)
	if err != nil {
		return err
	}
	emoji, err := NormalizeEmoji(cmd.Emoji)
	if err != nil {
		return err
	}
	if m.reactions[emoji][user] {
		return nil
	}
	m.Record(ReactionAdded{RoomID: m.RoomID, MessageID: m.ID, UserID: user, Emoji: emoji, Count: len(m.reactions[emoji]) + 1,
		AddedAt: now.UTC().Truncate(time.Millisecond)}, m.apply)
	return nil
}

func (m *Message) apply(e domain.Event) {
	switch e := e.(type) {
	case MessagePosted:
		m.ID, m.RoomID, m.UserID, m.Text, m.PostedAt = e.MessageID, e.RoomID, e.UserID, e.Text, e.PostedAt
	case ReactionAdded:
		if m.reactions == nil {
			m.reactions = map[string]map[string]bool{}
		}
		if m.reactions[e.Emoji] == nil {
			m.reactions[e.Emoji] = map[string]bool{}
		}
		m.reactions[e.Emoji][e.UserID] = true
	}
}
