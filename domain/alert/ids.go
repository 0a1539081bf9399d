package alert

import (
	"math"
	"unicode/utf8"

	"github.com/surge-platform/surge/domain"
)

const (
	MaxComplexIDLength = 64
	MaxHouseLength     = 32
	MaxTextLength      = 500
)

// ValidComplexID says whether id is 1..64 characters of [A-Za-z0-9._-],
// not "." or "..": it is a path segment and part of a STOMP destination.
func ValidComplexID(id string) bool { return domain.ValidSegment(id, MaxComplexIDLength) }

// ValidateComplexID checks a complex id.
func ValidateComplexID(id string) error {
	if !ValidComplexID(id) {
		return domain.Invalid("invalid_complex_id", "complexId must be 1-%d characters of [A-Za-z0-9._-]", MaxComplexIDLength)
	}
	return nil
}

// ValidAlertID says whether id looks like an alert id (minted by Surge).
func ValidAlertID(id string) bool { return ValidComplexID(id) }

// NormalizeHouse returns the canonical form of a house ("101-1203"): NFC,
// trimmed, 1..32 printable characters without '/'.
func NormalizeHouse(house string) (string, error) {
	clean, ok := domain.CleanID(house, MaxHouseLength)
	if !ok {
		return "", domain.Invalid("invalid_house", "house must be 1-%d printable characters without '/'", MaxHouseLength)
	}
	return clean, nil
}

// NormalizeText returns the canonical form of an alert's text: NFC,
// trimmed, 0..500 characters, newlines allowed, no other control characters.
func NormalizeText(text string) (string, error) {
	clean, ok := domain.CleanText(text, true)
	if !ok || utf8.RuneCountInString(clean) > MaxTextLength {
		return "", domain.Invalid("invalid_text", "text must be at most %d characters without control characters", MaxTextLength)
	}
	return clean, nil
}

// Location is where the raiser is.
type Location struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// ValidateLocation checks a latitude and longitude: both or neither, in
// range.
func ValidateLocation(lat, lng *float64) (*Location, error) {
	switch {
	case lat == nil && lng == nil:
		return nil, nil
	case lat == nil || lng == nil:
		return nil, domain.Invalid("invalid_location", "lat and lng go together: give both or neither")
	case math.IsNaN(*lat) || *lat < -90 || *lat > 90:
		return nil, domain.Invalid("invalid_location", "lat must be between -90 and 90")
	case math.IsNaN(*lng) || *lng < -180 || *lng > 180:
		return nil, domain.Invalid("invalid_location", "lng must be between -180 and 180")
	}
	return &Location{Lat: *lat, Lng: *lng}, nil
}

// StreamID is the event stream of one alert.
func StreamID(alertID string) string { return "alert/" + alertID }
