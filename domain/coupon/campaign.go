package coupon

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Campaign is rebuilt from its events; it only guards its own creation.
type Campaign struct {
	domain.Root
	ID    string
	Name  string
	Limit int
}

// Exists says whether the campaign was ever opened.
func (c *Campaign) Exists() bool { return !c.IsNew() }

// LoadCampaign rebuilds a campaign from its history.
func LoadCampaign(history []domain.Event) *Campaign {
	c := &Campaign{}
	c.Replay(history, c.apply)
	return c
}

// Open validates the command and records CampaignOpened. Opening an already
// open campaign with the same terms is a no-op (a retried request); with other
// terms it is a conflict.
func (c *Campaign) Open(cmd OpenCampaign, now time.Time) error {
	if err := ValidateCampaignID(cmd.CampaignID); err != nil {
		return err
	}
	name, err := NormalizeName(cmd.Name)
	if err != nil {
		return err
	}
	if cmd.Limit < 1 || cmd.Limit > MaxLimit {
		return domain.Invalid("invalid_limit", "limit must be between 1 and %d", MaxLimit)
	}
	if c.Exists() {
		if c.ID == cmd.CampaignID && c.Name == name && c.Limit == cmd.Limit {
			return nil
		}
		return domain.Conflict("campaign_exists", "campaign %q already exists with other terms", cmd.CampaignID)
	}
	c.Record(CampaignOpened{CampaignID: cmd.CampaignID, Name: name, Limit: cmd.Limit, OpenedAt: now.UTC()}, c.apply)
	return nil
}

func (c *Campaign) apply(e domain.Event) {
	switch e := e.(type) {
	case CampaignOpened:
		c.ID, c.Name, c.Limit = e.CampaignID, e.Name, e.Limit
	}
}
