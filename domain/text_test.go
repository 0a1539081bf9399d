package domain_test

import (
	"testing"

	"github.com/surge-platform/surge/domain"
)

func TestCleanTextNormalisesAndRefusesControlCharacters(t *testing.T) {
	nfd, nfc := "Cafe\u0301", "Caf\u00e9"
	if got, ok := domain.CleanText("  "+nfd+" ", false); !ok || got != nfc {
		t.Fatalf("NFD %q cleaned to %q, %v; want %q", nfd, got, ok, nfc)
	}
	for _, bad := range []string{"a\x00b", "\x1b[31mred\x1b[0m", "bell\a", "\xff", "rtl\u202eoverride", "zero\u200bwidth", "a\nb", "a\tb"} {
		if got, ok := domain.CleanText(bad, false); ok {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
	if got, ok := domain.CleanText("line one\nline\ttwo", true); !ok || got != "line one\nline\ttwo" {
		t.Errorf("multiline text refused: %q %v", got, ok)
	}
}

func TestCleanIDRefusesPathSegments(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "/", " ", "x\x00", string(make([]byte, 0)), "\u00a0"} {
		if got, ok := domain.CleanID(bad, 64); ok {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
	if _, ok := domain.CleanID("abcde", 4); ok {
		t.Error("5 characters accepted with a limit of 4")
	}
	for in, want := range map[string]string{"u1": "u1", " u1 ": "u1", "ユーザー": "ユーザー", "a.b": "a.b", "...": "...", "Jose\u0301": "Jos\u00e9"} {
		if got, ok := domain.CleanID(in, 64); !ok || got != want {
			t.Errorf("CleanID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
