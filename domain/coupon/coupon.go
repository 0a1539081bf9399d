// Package coupon is the first-come coupon domain (seed 001): a Campaign with a
// limited number of coupons and one Coupon per applicant.
//
// Admission (who gets one of the limited slots) is decided before a command is
// sent, by an atomic gate; this package decides what a valid campaign and a
// valid issue look like and records what happened.
package coupon

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/surge-platform/surge/domain"
)

const (
	MaxLimit      = 10_000_000
	MaxNameLength = 200
	MaxUserLength = 64
)

var campaignIDPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// ValidateCampaignID checks a campaign id is a lowercase slug of 1..64 chars.
func ValidateCampaignID(id string) error {
	if !campaignIDPattern.MatchString(id) {
		return domain.Invalid("invalid_campaign_id", "campaign id must be a slug of 1-64 characters [a-z0-9-], not starting or ending with '-'")
	}
	return nil
}

// ValidateUserID checks a user id: 1..64 printable characters.
func ValidateUserID(id string) error {
	n := utf8.RuneCountInString(id)
	if n < 1 || n > MaxUserLength || !utf8.ValidString(id) {
		return domain.Invalid("invalid_user_id", "userId must be 1-%d characters", MaxUserLength)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return domain.Invalid("invalid_user_id", "userId must contain printable characters only")
		}
	}
	return nil
}

// --- commands ---

// OpenCampaign opens a first-come campaign with a fixed number of coupons.
type OpenCampaign struct {
	CampaignID string `json:"campaignId"`
	Name       string `json:"name"`
	Limit      int    `json:"limit"`
}

func (OpenCampaign) WireName() string { return "coupon.open_campaign.v1" }

// IssueCoupon issues the coupon of a user who was admitted by the gate.
type IssueCoupon struct {
	CampaignID string `json:"campaignId"`
	UserID     string `json:"userId"`
}

func (IssueCoupon) WireName() string { return "coupon.issue.v1" }

// PartitionKey keeps all commands of one coupon stream on one partition.
func (c IssueCoupon) PartitionKey() string { return CouponStreamID(c.CampaignID, c.UserID) }

// Validate checks the command on its own.
func (c IssueCoupon) Validate() error {
	if err := ValidateCampaignID(c.CampaignID); err != nil {
		return err
	}
	return ValidateUserID(c.UserID)
}

// --- events ---

// CampaignOpened: a campaign accepts applications up to Limit.
type CampaignOpened struct {
	CampaignID string    `json:"campaignId"`
	Name       string    `json:"name"`
	Limit      int       `json:"limit"`
	OpenedAt   time.Time `json:"openedAt"`
}

func (CampaignOpened) WireName() string { return "coupon.campaign_opened.v1" }

// CouponIssued: a user holds a coupon of a campaign.
type CouponIssued struct {
	CouponID   string    `json:"couponId"`
	CampaignID string    `json:"campaignId"`
	UserID     string    `json:"userId"`
	IssuedAt   time.Time `json:"issuedAt"`
}

func (CouponIssued) WireName() string { return "coupon.issued.v1" }

// --- stream ids ---

// CampaignStreamID is the event stream of one campaign.
func CampaignStreamID(campaignID string) string { return "campaign/" + campaignID }

// CouponStreamID is the event stream of one user's coupon in one campaign. The
// campaign id cannot contain '/', so the id is unambiguous.
func CouponStreamID(campaignID, userID string) string {
	return "coupon/" + campaignID + "/" + userID
}

// --- Campaign aggregate ---

// Campaign is rebuilt from its events; it only guards its own creation.
type Campaign struct {
	ID      string
	Name    string
	Limit   int
	version int
	changes []domain.Event
}

// Version is the number of events the campaign was rebuilt from.
func (c *Campaign) Version() int { return c.version }

// Changes are the events recorded since the campaign was loaded.
func (c *Campaign) Changes() []domain.Event { return c.changes }

// Exists says whether the campaign was ever opened.
func (c *Campaign) Exists() bool { return c.version > 0 || len(c.changes) > 0 }

// LoadCampaign rebuilds a campaign from its history.
func LoadCampaign(history []domain.Event) *Campaign {
	c := &Campaign{}
	for _, e := range history {
		c.apply(e)
		c.version++
	}
	return c
}

// Open validates the command and records CampaignOpened. Opening an already
// open campaign with the same terms is a no-op (a retried request); with other
// terms it is a conflict.
func (c *Campaign) Open(cmd OpenCampaign, now time.Time) error {
	if err := ValidateCampaignID(cmd.CampaignID); err != nil {
		return err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLength {
		return domain.Invalid("invalid_name", "name must be 1-%d characters", MaxNameLength)
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
	c.record(CampaignOpened{CampaignID: cmd.CampaignID, Name: name, Limit: cmd.Limit, OpenedAt: now.UTC()})
	return nil
}

func (c *Campaign) record(e domain.Event) {
	c.apply(e)
	c.changes = append(c.changes, e)
}

func (c *Campaign) apply(e domain.Event) {
	switch e := e.(type) {
	case CampaignOpened:
		c.ID, c.Name, c.Limit = e.CampaignID, e.Name, e.Limit
	}
}

// --- Coupon aggregate ---

// Coupon is one user's coupon in one campaign.
type Coupon struct {
	ID         string
	CampaignID string
	UserID     string
	Issued     bool
	version    int
	changes    []domain.Event
}

// LoadCoupon rebuilds a coupon from its history.
func LoadCoupon(history []domain.Event) *Coupon {
	c := &Coupon{}
	for _, e := range history {
		c.apply(e)
		c.version++
	}
	return c
}

// Version is the number of events the coupon was rebuilt from.
func (c *Coupon) Version() int { return c.version }

// Changes are the events recorded since the coupon was loaded.
func (c *Coupon) Changes() []domain.Event { return c.changes }

// Issue records CouponIssued for an admitted user. The campaign must exist;
// issuing twice records nothing (a redelivered command).
func (c *Coupon) Issue(campaign *Campaign, cmd IssueCoupon, couponID string, now time.Time) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	if !campaign.Exists() || campaign.ID != cmd.CampaignID {
		return domain.Invalid("campaign_not_found", "campaign %q was never opened", cmd.CampaignID)
	}
	if c.Issued {
		return nil
	}
	c.record(CouponIssued{CouponID: couponID, CampaignID: cmd.CampaignID, UserID: cmd.UserID, IssuedAt: now.UTC()})
	return nil
}

func (c *Coupon) record(e domain.Event) {
	c.apply(e)
	c.changes = append(c.changes, e)
}

func (c *Coupon) apply(e domain.Event) {
	switch e := e.(type) {
	case CouponIssued:
		c.ID, c.CampaignID, c.UserID, c.Issued = e.CouponID, e.CampaignID, e.UserID, true
	}
}

// EventTypes lists the events of this package, for decoding stored history.
func EventTypes() []domain.Event { return []domain.Event{CampaignOpened{}, CouponIssued{}} }

// Outcomes of the admission gate.
var (
	ErrCampaignNotFound = domain.NotFound("campaign_not_found", "no campaign with that id")
	ErrAlreadyApplied   = domain.Conflict("already_applied", "this user already applied to this campaign")
	ErrSoldOut          = domain.Gone("sold_out", "all coupons of this campaign are taken")
	ErrCouponNotFound   = domain.NotFound("coupon_not_found", "this user has no application in this campaign")
)
