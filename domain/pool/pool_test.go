package pool_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/pool"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var assets = []string{"templates/spring/01.png", "templates/spring/02.png"}

func opened() pool.TemplateOpened {
	return pool.TemplateOpened{TemplateID: "spring", Name: "Spring", Assets: assets, Target: 4, OpenedAt: now}
}

func template() *pool.Template { return pool.LoadTemplate([]domain.Event{opened()}) }

func prepared(copyID string) pool.WarmCopyPrepared {
	return pool.WarmCopyPrepared{CopyID: copyID, TemplateID: "spring", Keys: pool.CopyKeys(copyID, assets),
		PreparedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func code(t *testing.T, err error, kind domain.Kind, want string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != want || de.Kind != kind {
		t.Fatalf("got %v, want %s (kind %d)", err, want, kind)
	}
}

func TestOpenTemplateOnceSameTermsAreHarmlessOthersConflict(t *testing.T) {
	tpl := pool.LoadTemplate(nil)
	if err := tpl.OpenTemplate(pool.OpenTemplate{TemplateID: "spring", Name: " Spring ", Assets: assets}, 4, now); err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{opened()}; !reflect.DeepEqual(tpl.Changes(), want) {
		t.Fatalf("changes %#v", tpl.Changes())
	}
	again := template()
	if err := again.OpenTemplate(pool.OpenTemplate{TemplateID: "spring", Name: "Spring", Assets: assets}, 4, now); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("same terms: %v %v", err, again.Changes())
	}
	err := again.OpenTemplate(pool.OpenTemplate{TemplateID: "spring", Name: "Spring", Assets: assets[:1]}, 4, now)
	code(t, err, domain.KindConflict, "template_exists")
	closed := pool.LoadTemplate([]domain.Event{opened(), pool.TemplateClosed{TemplateID: "spring", ClosedAt: now}})
	err = closed.OpenTemplate(pool.OpenTemplate{TemplateID: "spring", Name: "Spring", Assets: assets}, 4, now)
	code(t, err, domain.KindConflict, "template_exists")
}

func TestOpenTemplateRefusesBadInput(t *testing.T) {
	many := make([]string, pool.MaxAssets+1)
	for i := range many {
		many[i] = fmt.Sprintf("a/%d.png", i)
	}
	for _, tc := range []struct {
		name string
		cmd  pool.OpenTemplate
		code string
	}{
		{"bad id", pool.OpenTemplate{TemplateID: "a/b", Name: "n", Assets: assets}, "invalid_template_id"},
		{"dot id", pool.OpenTemplate{TemplateID: "..", Name: "n", Assets: assets}, "invalid_template_id"},
		{"long id", pool.OpenTemplate{TemplateID: strings.Repeat("a", 65), Name: "n", Assets: assets}, "invalid_template_id"},
		{"empty name", pool.OpenTemplate{TemplateID: "t", Name: "  ", Assets: assets}, "invalid_name"},
		{"control in name", pool.OpenTemplate{TemplateID: "t", Name: "a\x07b", Assets: assets}, "invalid_name"},
		{"no assets", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: nil}, "invalid_assets"},
		{"too many assets", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: many}, "invalid_assets"},
		{"empty key", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: []string{""}}, "invalid_asset_key"},
		{"long key", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: []string{strings.Repeat("k", 513)}}, "invalid_asset_key"},
		{"newline in key", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: []string{"a\nb"}}, "invalid_asset_key"},
		{"key under copies", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: []string{"copies/x/a.png"}}, "invalid_asset_key"},
		{"duplicate key", pool.OpenTemplate{TemplateID: "t", Name: "n", Assets: []string{"a", "a"}}, "duplicate_asset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl := pool.LoadTemplate(nil)
			code(t, tpl.OpenTemplate(tc.cmd, 4, now), domain.KindInvalid, tc.code)
			if len(tpl.Changes()) != 0 {
				t.Fatalf("recorded %v", tpl.Changes())
			}
		})
	}
}

func TestAReadyCopyGoesToExactlyOneDesign(t *testing.T) {
	c := pool.LoadCopy([]domain.Event{prepared("c1")})
	if !c.Ready() {
		t.Fatal("a prepared copy is ready")
	}
	if err := c.Take("d1", " alice ", now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{pool.DesignCreated{DesignID: "d1", TemplateID: "spring", OwnerID: "alice", Source: pool.Warm, CopyID: "c1",
		Assets: pool.CopyKeys("c1", assets), CreatedAt: now}}
	if !reflect.DeepEqual(c.Changes(), want) {
		t.Fatalf("changes %#v", c.Changes())
	}
	// Whoever loads the copy after that (a second pop of the same id, a
	// replayed Redis list) finds it taken.
	taken := pool.LoadCopy(append([]domain.Event{prepared("c1")}, c.Changes()...))
	if taken.Ready() || taken.TakenBy != "d1" {
		t.Fatalf("ready=%v takenBy=%q", taken.Ready(), taken.TakenBy)
	}
	if err := taken.Take("d2", "bob", now); !errors.Is(err, pool.ErrCopyGone) || len(taken.Changes()) != 0 {
		t.Fatalf("second take: %v %v", err, taken.Changes())
	}
	if err := taken.Expire(pool.ExpiredTTL, now); !errors.Is(err, pool.ErrCopyGone) {
		t.Fatalf("expiring a taken copy: %v", err)
	}
}

func TestAnExpiredCopyIsTakenByNoOne(t *testing.T) {
	c := pool.LoadCopy([]domain.Event{prepared("c1")})
	if err := c.Expire(pool.ExpiredTTL, now); err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{pool.WarmCopyExpired{CopyID: "c1", TemplateID: "spring", Reason: pool.ExpiredTTL, ExpiredAt: now}}; !reflect.DeepEqual(c.Changes(), want) {
		t.Fatalf("changes %#v", c.Changes())
	}
	if err := c.Take("d1", "alice", now); !errors.Is(err, pool.ErrCopyGone) {
		t.Fatalf("take after expiry: %v", err)
	}
	if err := pool.LoadCopy(nil).Take("d1", "alice", now); !errors.Is(err, pool.ErrCopyGone) {
		t.Fatalf("take of a copy never prepared: %v", err)
	}
}

func TestTakeRefusesABadOwnerAndRecordsNothing(t *testing.T) {
	for _, owner := range []string{"", "   ", "a/b", strings.Repeat("o", 65), "x\x00y"} {
		c := pool.LoadCopy([]domain.Event{prepared("c1")})
		code(t, c.Take("d1", owner, now), domain.KindInvalid, "invalid_owner_id")
		if len(c.Changes()) != 0 || !c.Ready() {
			t.Fatalf("owner %q: recorded %v", owner, c.Changes())
		}
	}
}

func TestPrepareRecordsOnceWithItsExpiry(t *testing.T) {
	c := pool.LoadCopy(nil)
	keys := pool.CopyKeys("c1", assets)
	if err := c.Prepare("c1", "spring", keys, now.Add(123456*time.Nanosecond), time.Hour); err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{prepared("c1")}; !reflect.DeepEqual(c.Changes(), want) {
		t.Fatalf("changes %#v, want %#v", c.Changes(), want)
	}
	again := pool.LoadCopy(c.Changes())
	if err := again.Prepare("c1", "spring", keys, now, time.Hour); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("prepared twice: %v %v", err, again.Changes())
	}
}

func TestColdDesignNeedsAnOpenTemplate(t *testing.T) {
	d := pool.LoadDesign(nil)
	keys := pool.CopyKeys("c9", assets)
	if err := d.CreateCold("d1", template(), "alice", "c9", keys, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{pool.DesignCreated{DesignID: "d1", TemplateID: "spring", OwnerID: "alice", Source: pool.Cold, CopyID: "c9", Assets: keys, CreatedAt: now}}
	if !reflect.DeepEqual(d.Changes(), want) {
		t.Fatalf("changes %#v", d.Changes())
	}
	closed := pool.LoadTemplate([]domain.Event{opened(), pool.TemplateClosed{TemplateID: "spring", ClosedAt: now}})
	if err := pool.LoadDesign(nil).CreateCold("d2", closed, "alice", "c8", keys, now); !errors.Is(err, pool.ErrTemplateNotFound) {
		t.Fatalf("closed template: %v", err)
	}
}

func TestCloseOnceAndOnlyAnOpenedTemplate(t *testing.T) {
	tpl := template()
	if err := tpl.Close(now); err != nil || len(tpl.Changes()) != 1 || tpl.Open() {
		t.Fatalf("close: %v %v open=%v", err, tpl.Changes(), tpl.Open())
	}
	again := pool.LoadTemplate([]domain.Event{opened(), pool.TemplateClosed{TemplateID: "spring", ClosedAt: now}})
	if err := again.Close(now); err != nil || len(again.Changes()) != 0 {
		t.Fatalf("closed twice: %v %v", err, again.Changes())
	}
	if err := pool.LoadTemplate(nil).Close(now); !errors.Is(err, pool.ErrTemplateNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestCopyKeysLiveUnderTheCopyPrefixAndNameTheirCopy(t *testing.T) {
	keys := pool.CopyKeys("c1", []string{"templates/a b+c.png"})
	if keys[0].Key != "copies/c1/templates/a b+c.png" || keys[0].From != "templates/a b+c.png" {
		t.Fatalf("keys %v", keys)
	}
	for key, want := range map[string]string{"copies/c1/templates/a.png": "c1", "copies/c2": "c2", "templates/x": ""} {
		if got := pool.CopyIDOf(key); got != want {
			t.Fatalf("CopyIDOf(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestEveryEventOfATemplateSharesItsPartition(t *testing.T) {
	want := "template/spring"
	for _, e := range []interface{ PartitionKey() string }{
		opened(), pool.TemplateClosed{TemplateID: "spring"}, prepared("c1"),
		pool.WarmCopyExpired{TemplateID: "spring"}, pool.DesignCreated{TemplateID: "spring"}, pool.RefillPool{TemplateID: "spring"},
	} {
		if got := e.PartitionKey(); got != want {
			t.Fatalf("%T: %q", e, got)
		}
	}
}
