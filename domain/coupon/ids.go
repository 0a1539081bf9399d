package coupon

import (
	"regexp"
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

// NormalizeUserID returns the canonical form of a user id (NFC, trimmed)
// or an error: 1..64 printable characters, no '/', not "." or "..". Two
// spellings of one name are one user.
func NormalizeUserID(id string) (string, error) {
	clean, ok := domain.CleanID(id, MaxUserLength)
	if !ok {
		return "", domain.Invalid("invalid_user_id", "userId must be 1-%d printable characters, without '/' and not '.' or '..'", MaxUserLength)
	}
	return clean, nil
}

// ValidateUserID checks a user id is already in its canonical form.
func ValidateUserID(id string) error {
	clean, err := NormalizeUserID(id)
	if err != nil {
		return err
	}
	if clean != id {
		return domain.Invalid("invalid_user_id", "userId is not in its canonical form (NFC, trimmed)")
	}
	return nil
}

// NormalizeName returns the canonical form of a display name (NFC, trimmed)
// or an error: 1..200 characters without control characters.
func NormalizeName(name string) (string, error) {
	clean, ok := domain.CleanText(name, false)
	if !ok || clean == "" || utf8.RuneCountInString(clean) > MaxNameLength {
		return "", domain.Invalid("invalid_name", "name must be 1-%d characters without control characters", MaxNameLength)
	}
	return clean, nil
}

// --- stream ids ---

// CampaignStreamID is the event stream of one campaign.
func CampaignStreamID(campaignID string) string { return "campaign/" + campaignID }

// CouponStreamID is the event stream of one user's coupon in one campaign. The
// campaign id cannot contain '/', so the id is unambiguous.
func CouponStreamID(campaignID, userID string) string {
	return "coupon/" + campaignID + "/" + userID
}
