package pool

import (
	"time"

	"github.com/surge-platform/surge/domain"
)

// Errors a caller can act on.
var (
	ErrTemplateNotFound = domain.NotFound("template_not_found", "no template with that id")
	ErrDesignNotFound   = domain.NotFound("design_not_found", "no design with that id")
)

// Template is a template and its pool's target.
type Template struct {
	domain.Root
	ID       string
	Name     string
	Assets   []string
	Target   int
	OpenedAt time.Time
	Closed   bool
}

// LoadTemplate rebuilds a template.
func LoadTemplate(history []domain.Event) *Template {
	t := &Template{}
	t.Replay(history, t.apply)
	return t
}

// Open says whether designs can be made from it.
func (t *Template) Open() bool { return !t.IsNew() && !t.Closed }

// OpenTemplate records TemplateOpened; opening it again with the same
// name and assets is harmless, with others a conflict.
func (t *Template) OpenTemplate(cmd OpenTemplate, target int, now time.Time) error {
	if err := ValidateTemplateID(cmd.TemplateID); err != nil {
		return err
	}
	name, err := NormalizeName(cmd.Name)
	if err != nil {
		return err
	}
	if err := ValidateAssets(cmd.Assets); err != nil {
		return err
	}
	if !t.IsNew() {
		if t.Name == name && equal(t.Assets, cmd.Assets) && !t.Closed {
			return nil
		}
		return domain.Conflict("template_exists", "template %q exists with other terms (or was closed)", cmd.TemplateID)
	}
	t.Record(TemplateOpened{TemplateID: cmd.TemplateID, Name: name, Assets: append([]string(nil), cmd.Assets...), Target: target,
		OpenedAt: now.UTC().Truncate(time.Millisecond)}, t.apply)
	return nil
}

// Close records TemplateClosed (once).
func (t *Template) Close(now time.Time) error {
	if t.IsNew() {
		return ErrTemplateNotFound
	}
	if !t.Closed {
		t.Record(TemplateClosed{TemplateID: t.ID, ClosedAt: now.UTC().Truncate(time.Millisecond)}, t.apply)
	}
	return nil
}

func (t *Template) apply(e domain.Event) {
	switch e := e.(type) {
	case TemplateOpened:
		t.ID, t.Name, t.Assets, t.Target, t.OpenedAt = e.TemplateID, e.Name, e.Assets, e.Target, e.OpenedAt
	case TemplateClosed:
		t.Closed = true
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
