package pool

import (
	"strings"
	"unicode/utf8"

	"github.com/surge-platform/surge/domain"
)

const (
	MaxTemplateIDLength = 64
	MaxNameLength       = 200
	MaxOwnerIDLength    = 64
	MaxAssets           = 500
	MaxAssetKeyLength   = 512
)

// ValidID says whether id is 1..64 characters of [A-Za-z0-9._-], not "."
// or "..": template, copy and design ids are path segments.
func ValidID(id string) bool { return domain.ValidSegment(id, MaxTemplateIDLength) }

// ValidateTemplateID checks a template id.
func ValidateTemplateID(id string) error {
	if !ValidID(id) {
		return domain.Invalid("invalid_template_id", "template id must be 1-%d characters of [A-Za-z0-9._-]", MaxTemplateIDLength)
	}
	return nil
}

// NormalizeName is a template's display name.
func NormalizeName(name string) (string, error) {
	clean, ok := domain.CleanText(name, false)
	if !ok || clean == "" || utf8.RuneCountInString(clean) > MaxNameLength {
		return "", domain.Invalid("invalid_name", "name must be 1-%d characters without control characters", MaxNameLength)
	}
	return clean, nil
}

// NormalizeOwnerID is the id of a design's owner.
func NormalizeOwnerID(id string) (string, error) {
	clean, ok := domain.CleanID(id, MaxOwnerIDLength)
	if !ok {
		return "", domain.Invalid("invalid_owner_id", "ownerId must be 1-%d printable characters without '/'", MaxOwnerIDLength)
	}
	return clean, nil
}

// CopiesPrefix is where every copy's objects live: CopiesPrefix + copy id +
// "/" + the asset's key. Nothing else is ever written under it.
const CopiesPrefix = "copies/"

// ValidateAssets checks a template's asset keys: 1..500 object keys, none
// under the copies prefix, no duplicates.
func ValidateAssets(keys []string) error {
	if len(keys) < 1 || len(keys) > MaxAssets {
		return domain.Invalid("invalid_assets", "assets must list 1-%d object keys", MaxAssets)
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		switch {
		case k == "" || len(k) > MaxAssetKeyLength || !utf8.ValidString(k) || strings.ContainsAny(k, "\x00\r\n"):
			return domain.Invalid("invalid_asset_key", "asset key %q must be 1-%d bytes of UTF-8 without control characters", k, MaxAssetKeyLength)
		case strings.HasPrefix(k, CopiesPrefix):
			return domain.Invalid("invalid_asset_key", "asset key %q is under %s, where copies live", k, CopiesPrefix)
		case seen[k]:
			return domain.Invalid("duplicate_asset", "asset key %q is listed twice", k)
		}
		seen[k] = true
	}
	return nil
}

// CopyKey is one copied object: from the template's asset to the copy's key.
type CopyKey struct {
	From string `json:"from"`
	Key  string `json:"key"`
}

// CopyKeys are where a copy's objects go.
func CopyKeys(copyID string, assets []string) []CopyKey {
	out := make([]CopyKey, len(assets))
	for i, a := range assets {
		out[i] = CopyKey{From: a, Key: CopiesPrefix + copyID + "/" + a}
	}
	return out
}

// CopyIDOf is the copy id of a key under the copies prefix ("" if none).
func CopyIDOf(key string) string {
	rest, ok := strings.CutPrefix(key, CopiesPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// Stream ids.
func TemplateStreamID(templateID string) string { return "template/" + templateID }
func CopyStreamID(copyID string) string         { return "warmcopy/" + copyID }
func DesignStreamID(designID string) string     { return "design/" + designID }
