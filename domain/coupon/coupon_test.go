package coupon_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
)

var now = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func opened(id string, limit int) coupon.CampaignOpened {
	return coupon.CampaignOpened{CampaignID: id, Name: "Spring", Limit: limit, OpenedAt: now}
}

func TestOpenCampaignRecordsCampaignOpened(t *testing.T) {
	c := coupon.LoadCampaign(nil)
	if err := c.Open(coupon.OpenCampaign{CampaignID: "spring", Name: "  Spring ", Limit: 100}, now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{opened("spring", 100)}
	if !reflect.DeepEqual(c.Changes(), want) {
		t.Fatalf("changes = %#v, want %#v", c.Changes(), want)
	}
	if c.ID != "spring" || c.Limit != 100 || c.Version() != 0 {
		t.Fatalf("state = %+v", c)
	}
}

func TestOpenCampaignAgainWithSameTermsRecordsNothing(t *testing.T) {
	c := coupon.LoadCampaign([]domain.Event{opened("spring", 100)})
	if err := c.Open(coupon.OpenCampaign{CampaignID: "spring", Name: "Spring", Limit: 100}, now); err != nil {
		t.Fatal(err)
	}
	if len(c.Changes()) != 0 || c.Version() != 1 {
		t.Fatalf("changes = %v, version = %d", c.Changes(), c.Version())
	}
}

func TestOpenCampaignAgainWithOtherTermsConflicts(t *testing.T) {
	c := coupon.LoadCampaign([]domain.Event{opened("spring", 100)})
	err := c.Open(coupon.OpenCampaign{CampaignID: "spring", Name: "Spring", Limit: 101}, now)
	if domain.KindOf(err) != domain.KindConflict {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if len(c.Changes()) != 0 {
		t.Fatalf("recorded %v", c.Changes())
	}
}

func TestOpenCampaignValidation(t *testing.T) {
	cases := map[string]struct {
		cmd  coupon.OpenCampaign
		code string
	}{
		"limit zero":      {coupon.OpenCampaign{CampaignID: "a", Name: "n", Limit: 0}, "invalid_limit"},
		"limit too large": {coupon.OpenCampaign{CampaignID: "a", Name: "n", Limit: coupon.MaxLimit + 1}, "invalid_limit"},
		"blank name":      {coupon.OpenCampaign{CampaignID: "a", Name: "   ", Limit: 1}, "invalid_name"},
		"uppercase id":    {coupon.OpenCampaign{CampaignID: "Spring", Name: "n", Limit: 1}, "invalid_campaign_id"},
		"slash in id":     {coupon.OpenCampaign{CampaignID: "a/b", Name: "n", Limit: 1}, "invalid_campaign_id"},
		"trailing dash":   {coupon.OpenCampaign{CampaignID: "a-", Name: "n", Limit: 1}, "invalid_campaign_id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := coupon.LoadCampaign(nil)
			err := c.Open(tc.cmd, now)
			de, ok := err.(*domain.Error)
			if !ok || de.Kind != domain.KindInvalid || de.Code != tc.code {
				t.Fatalf("err = %v, want invalid %s", err, tc.code)
			}
			if len(c.Changes()) != 0 {
				t.Fatalf("recorded %v", c.Changes())
			}
		})
	}
	c := coupon.LoadCampaign(nil)
	if err := c.Open(coupon.OpenCampaign{CampaignID: "a", Name: "n", Limit: coupon.MaxLimit}, now); err != nil {
		t.Fatalf("max limit refused: %v", err)
	}
}

func TestIssueCouponRecordsCouponIssued(t *testing.T) {
	campaign := coupon.LoadCampaign([]domain.Event{opened("spring", 10)})
	cp := coupon.LoadCoupon(nil)
	if err := cp.Issue(campaign, coupon.IssueCoupon{CampaignID: "spring", UserID: "u1"}, "c-1", now); err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{coupon.CouponIssued{CouponID: "c-1", CampaignID: "spring", UserID: "u1", IssuedAt: now}}
	if !reflect.DeepEqual(cp.Changes(), want) {
		t.Fatalf("changes = %#v", cp.Changes())
	}
}

func TestIssueCouponTwiceRecordsNothing(t *testing.T) {
	campaign := coupon.LoadCampaign([]domain.Event{opened("spring", 10)})
	cp := coupon.LoadCoupon([]domain.Event{coupon.CouponIssued{CouponID: "c-1", CampaignID: "spring", UserID: "u1", IssuedAt: now}})
	if err := cp.Issue(campaign, coupon.IssueCoupon{CampaignID: "spring", UserID: "u1"}, "c-1", now); err != nil {
		t.Fatal(err)
	}
	if len(cp.Changes()) != 0 || !cp.Issued || cp.Version() != 1 {
		t.Fatalf("changes = %v issued = %v version = %d", cp.Changes(), cp.Issued, cp.Version())
	}
}

func TestIssueCouponForUnknownCampaignIsInvalid(t *testing.T) {
	cp := coupon.LoadCoupon(nil)
	err := cp.Issue(coupon.LoadCampaign(nil), coupon.IssueCoupon{CampaignID: "nope", UserID: "u1"}, "c-1", now)
	if domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("err = %v, want invalid (a permanent error)", err)
	}
	if len(cp.Changes()) != 0 {
		t.Fatalf("recorded %v", cp.Changes())
	}
}

func TestValidateUserID(t *testing.T) {
	for _, ok := range []string{"u", "user-1", "ユーザー", string(make([]byte, 0)) + "x"} {
		if err := coupon.ValidateUserID(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	long := ""
	for i := 0; i < 65; i++ {
		long += "a"
	}
	for _, bad := range []string{"", long, "a\nb", "\x00", string([]byte{0xff})} {
		if err := coupon.ValidateUserID(bad); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStreamIDsAreUnambiguous(t *testing.T) {
	// The campaign id ends at the first '/', because campaign ids cannot hold one.
	if coupon.ValidateCampaignID("a/b") == nil {
		t.Fatal("a campaign id with '/' was accepted: coupon stream ids would be ambiguous")
	}
	if got := coupon.CouponStreamID("spring", "u1"); got != "coupon/spring/u1" {
		t.Fatalf("stream id = %q", got)
	}
}

func TestUserIDsAreNormalisedAndNamesCleaned(t *testing.T) {
	a, errA := coupon.NormalizeUserID("Jose\u0301")
	b, errB := coupon.NormalizeUserID(" Jos\u00e9")
	if errA != nil || errB != nil || a != b {
		t.Fatalf("NFD and NFC forms of one name: %q %v, %q %v", a, errA, b, errB)
	}
	for _, bad := range []string{"a/b", ".", "..", "u\x00", "\x1b[1m"} {
		if _, err := coupon.NormalizeUserID(bad); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("user id %q accepted", bad)
		}
	}
	for _, bad := range []string{"Spring\x00", "\x1b[31mSpring", "Spring\nsale"} {
		c := coupon.LoadCampaign(nil)
		err := c.Open(coupon.OpenCampaign{CampaignID: "spring", Name: bad, Limit: 1}, now)
		if de, ok := err.(*domain.Error); !ok || de.Code != "invalid_name" {
			t.Errorf("name %q: %v, want invalid_name", bad, err)
		}
	}
}
