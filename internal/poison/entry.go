// Package poison holds what an operator sees of the poison queue: messages
// a handler could not process, with why. The queue itself is stored by
// infra/postgres and listed through the admin API and `surge poison`.
package poison

import "time"

// Topic is where messages go that failed for good. It is a
// watermill-sql topic, so operators can list, requeue and discard entries.
const Topic = "surge_poison"

// AttemptsKey counts how often a handler ran a message in its last delivery.
const AttemptsKey = "attempts"

// Entry is one poisoned message as an operator sees it.
type Entry struct {
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
