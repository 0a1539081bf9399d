package chat

import (
	"unicode"
	"unicode/utf8"

	"github.com/surge-platform/surge/domain"
)

const (
	MaxRoomIDLength  = 64
	MaxNameLength    = 200
	MaxUserIDLength  = 64
	MaxTextLength    = 1000
	MaxEmojiBytes    = 16
	MaxMessageLength = 64
)

// ValidRoomID says whether id is 1..64 characters of [A-Za-z0-9._-], not
// "." or "..": it is a path segment.
func ValidRoomID(id string) bool { return domain.ValidSegment(id, MaxRoomIDLength) }

// ValidateRoomID checks a room id.
func ValidateRoomID(id string) error {
	if !ValidRoomID(id) {
		return domain.Invalid("invalid_room_id", "room id must be 1-%d characters of [A-Za-z0-9._-]", MaxRoomIDLength)
	}
	return nil
}

// ValidMessageID says whether id looks like a message id (minted by Surge).
func ValidMessageID(id string) bool { return ValidRoomID(id) }

// NormalizeName is a room's display name: NFC, trimmed, 1..200 characters
// without control characters.
func NormalizeName(name string) (string, error) {
	clean, ok := domain.CleanText(name, false)
	if !ok || clean == "" || utf8.RuneCountInString(clean) > MaxNameLength {
		return "", domain.Invalid("invalid_name", "name must be 1-%d characters without control characters", MaxNameLength)
	}
	return clean, nil
}

// NormalizeUserID is a user id: NFC, trimmed, 1..64 printable characters
// without '/'.
func NormalizeUserID(id string) (string, error) {
	clean, ok := domain.CleanID(id, MaxUserIDLength)
	if !ok {
		return "", domain.Invalid("invalid_user_id", "userId must be 1-%d printable characters without '/'", MaxUserIDLength)
	}
	return clean, nil
}

// NormalizeText is a message's text: NFC, trimmed, 1..1000 characters,
// newlines allowed, no other control characters.
func NormalizeText(text string) (string, error) {
	clean, ok := domain.CleanText(text, true)
	if !ok || clean == "" || utf8.RuneCountInString(clean) > MaxTextLength {
		return "", domain.Invalid("invalid_text", "text must be 1-%d characters without control characters", MaxTextLength)
	}
	return clean, nil
}

// NormalizeEmoji is a reaction: 1..16 bytes of printable characters
// (emoji, with their variation selectors and joiners), no spaces.
func NormalizeEmoji(emoji string) (string, error) {
	bad := domain.Invalid("invalid_emoji", "emoji must be 1-%d bytes of printable characters without spaces", MaxEmojiBytes)
	if len(emoji) < 1 || len(emoji) > MaxEmojiBytes || !utf8.ValidString(emoji) {
		return "", bad
	}
	for _, r := range emoji {
		joiner := r == '\u200d' || (r >= '\ufe00' && r <= '\ufe0f') // ZWJ sequences, variation selectors
		if !joiner && (unicode.IsSpace(r) || !unicode.IsPrint(r)) {
			return "", bad
		}
	}
	return emoji, nil
}

// RoomStreamID is the event stream of a room (its creation and heat).
func RoomStreamID(roomID string) string { return "room/" + roomID }

// MessageStreamID is the event stream of one message and its reactions.
func MessageStreamID(roomID, messageID string) string { return "message/" + roomID + "/" + messageID }
