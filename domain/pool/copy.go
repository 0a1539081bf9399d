package pool

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// WarmCopy is one prepared copy: ready, then taken by one design or expired.
type WarmCopy struct {
	domain.Root
	ID         string
	TemplateID string
	Keys       []CopyKey
	ExpiresAt  time.Time
	TakenBy    string // the design
	Expired    bool
}

// LoadCopy rebuilds a copy.
func LoadCopy(history []domain.Event) *WarmCopy {
	c := &WarmCopy{}
	c.Replay(history, c.apply)
	return c
}

// Ready says whether a design may take it.
func (c *WarmCopy) Ready() bool { return !c.IsNew() && c.TakenBy == "" && !c.Expired }

// Prepare records WarmCopyPrepared for a copy whose objects were all
// copied (keys), ready for ttl.
func (c *WarmCopy) Prepare(copyID, templateID string, keys []CopyKey, now time.Time, ttl time.Duration) error {
	if !c.IsNew() {
		return nil
	}
	now = now.UTC().Truncate(time.Millisecond)
	c.Record(WarmCopyPrepared{CopyID: copyID, TemplateID: templateID, Keys: keys, PreparedAt: now, ExpiresAt: now.Add(ttl)}, c.apply)
	return nil
}

// ErrCopyGone: the copy is not ready any more (another design took it, or it
// expired); take another, or copy.
var ErrCopyGone = domain.Conflict("copy_gone", "the ready copy was taken or expired")

// Take records DesignCreated (warm) for a ready copy.
func (c *WarmCopy) Take(designID, ownerID string, now time.Time) error {
	if !c.Ready() {
		return ErrCopyGone
	}
	owner, err := NormalizeOwnerID(ownerID)
	if err != nil {
		return err
	}
	c.Record(DesignCreated{DesignID: designID, TemplateID: c.TemplateID, OwnerID: owner, Source: Warm, CopyID: c.ID, Assets: c.Keys,
		CreatedAt: now.UTC().Truncate(time.Millisecond)}, c.apply)
	return nil
}

// Expire records WarmCopyExpired for a ready copy (a taken one is the
// design's, and keeps its objects).
func (c *WarmCopy) Expire(reason string, now time.Time) error {
	if !c.Ready() {
		return ErrCopyGone
	}
	c.Record(WarmCopyExpired{CopyID: c.ID, TemplateID: c.TemplateID, Reason: reason, ExpiredAt: now.UTC().Truncate(time.Millisecond)}, c.apply)
	return nil
}

func (c *WarmCopy) apply(e domain.Event) {
	switch e := e.(type) {
	case WarmCopyPrepared:
		c.ID, c.TemplateID, c.Keys, c.ExpiresAt = e.CopyID, e.TemplateID, e.Keys, e.ExpiresAt
	case DesignCreated:
		c.TakenBy = e.DesignID
	case WarmCopyExpired:
		c.Expired = true
	}
}

// Design is a user's design (a cold one's stream; a warm one lives on the
// copy it took).
type Design struct {
	domain.Root
	Created DesignCreated
}

// LoadDesign rebuilds a cold design.
func LoadDesign(history []domain.Event) *Design {
	d := &Design{}
	d.Replay(history, d.apply)
	return d
}

// CreateCold records DesignCreated (cold) for a design whose objects were
// all copied now.
func (d *Design) CreateCold(designID string, t *Template, ownerID, copyID string, keys []CopyKey, now time.Time) error {
	if !t.Open() {
		return ErrTemplateNotFound
	}
	owner, err := NormalizeOwnerID(ownerID)
	if err != nil {
		return err
	}
	if !d.IsNew() {
		return nil
	}
	d.Record(DesignCreated{DesignID: designID, TemplateID: t.ID, OwnerID: owner, Source: Cold, CopyID: copyID, Assets: keys,
		CreatedAt: now.UTC().Truncate(time.Millisecond)}, d.apply)
	return nil
}

func (d *Design) apply(e domain.Event) {
	if e, ok := e.(DesignCreated); ok {
		d.Created = e
	}
}

// ReadyCopy is a ready copy as the store lists it.
type ReadyCopy struct {
	CopyID     string
	TemplateID string
	PreparedAt time.Time
	ExpiresAt  time.Time
}

// PoolState is a template's pool as the store counts it.
type PoolState struct {
	TemplateID string
	Target     int
	Closed     bool
	Ready      int
}
