package pool

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// TemplateOpened: a template can be turned into designs; its pool holds
// Target ready copies.
type TemplateOpened struct {
	TemplateID string    `json:"templateId"`
	Name       string    `json:"name"`
	Assets     []string  `json:"assets"`
	Target     int       `json:"target"`
	OpenedAt   time.Time `json:"openedAt"`
}

func (TemplateOpened) WireName() string { return "pool.template_opened.v1" }

// TemplateClosed: no more designs from it; its ready copies are expired.
type TemplateClosed struct {
	TemplateID string    `json:"templateId"`
	ClosedAt   time.Time `json:"closedAt"`
}

func (TemplateClosed) WireName() string { return "pool.template_closed.v1" }

// WarmCopyPrepared: every asset of the template was copied for one future
// design; the copy is ready until ExpiresAt.
type WarmCopyPrepared struct {
	CopyID     string    `json:"copyId"`
	TemplateID string    `json:"templateId"`
	Keys       []CopyKey `json:"keys"`
	PreparedAt time.Time `json:"preparedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

func (WarmCopyPrepared) WireName() string { return "pool.warm_copy_prepared.v1" }

// WarmCopyExpired: a ready copy was taken out of the pool unused (too old,
// or its template closed); its objects are deleted.
type WarmCopyExpired struct {
	CopyID     string    `json:"copyId"`
	TemplateID string    `json:"templateId"`
	Reason     string    `json:"reason"` // ttl | template_closed
	ExpiredAt  time.Time `json:"expiredAt"`
}

func (WarmCopyExpired) WireName() string { return "pool.warm_copy_expired.v1" }

// Expiry reasons.
const (
	ExpiredTTL    = "ttl"
	ExpiredClosed = "template_closed"
)

// DesignCreated: a user's design of a template exists, with its own copy
// of every asset: a ready copy taken from the pool (warm: on that copy's
// stream, which so records that it is taken) or copied now (cold).
type DesignCreated struct {
	DesignID   string    `json:"designId"`
	TemplateID string    `json:"templateId"`
	OwnerID    string    `json:"ownerId"`
	Source     string    `json:"source"` // warm | cold
	CopyID     string    `json:"copyId"`
	Assets     []CopyKey `json:"assets"`
	CreatedAt  time.Time `json:"createdAt"`
}

func (DesignCreated) WireName() string { return "pool.design_created.v1" }

// Design sources.
const (
	Warm = "warm"
	Cold = "cold"
)

// EventTypes lists the events of this package.
func EventTypes() []domain.Event {
	return []domain.Event{TemplateOpened{}, TemplateClosed{}, WarmCopyPrepared{}, WarmCopyExpired{}, DesignCreated{}}
}

// A template's events share its partition (and outbox shard), so its read
// model sees them in order: a copy prepared after the template closed is
// never put back in its pool.
func templateKey(templateID string) string { return "template/" + templateID }

func (e TemplateOpened) PartitionKey() string   { return templateKey(e.TemplateID) }
func (e TemplateClosed) PartitionKey() string   { return templateKey(e.TemplateID) }
func (e WarmCopyPrepared) PartitionKey() string { return templateKey(e.TemplateID) }
func (e WarmCopyExpired) PartitionKey() string  { return templateKey(e.TemplateID) }
func (e DesignCreated) PartitionKey() string    { return templateKey(e.TemplateID) }
