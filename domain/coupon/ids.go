package coupon

import (
	"regexp"
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

// --- stream ids ---

// CampaignStreamID is the event stream of one campaign.
func CampaignStreamID(campaignID string) string { return "campaign/" + campaignID }

// CouponStreamID is the event stream of one user's coupon in one campaign. The
// campaign id cannot contain '/', so the id is unambiguous.
func CouponStreamID(campaignID, userID string) string {
	return "coupon/" + campaignID + "/" + userID
}
