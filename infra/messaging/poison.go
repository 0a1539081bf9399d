package messaging

import "time"

// PoisonEntry is one poisoned message as an operator sees it.
type PoisonEntry struct {
	ID              int64             `json:"id"`
	MessageID       string            `json:"messageId"`
	Topic           string            `json:"topic"`
	Handler         string            `json:"handler"`
	Reason          string            `json:"reason"`
	Attempts        int               `json:"attempts"`
	PoisonedAt      time.Time         `json:"poisonedAt"`
	Payload         string            `json:"payload"`
	PayloadEncoding string            `json:"payloadEncoding"` // "utf8" or "base64"
	Metadata        map[string]string `json:"metadata"`
}
