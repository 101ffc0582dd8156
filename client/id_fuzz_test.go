package client

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check the properties every caller relies on: parsing
// never panics, an accepted identifier is canonical (it parses to itself),
// and a rejection is always an *IDError that describes the input safely.

func FuzzParseGTIN(f *testing.F) {
	for _, s := range []string{
		"", " ", "96385074", "036000291452", "6901234567892", "06901234567892",
		" 6901234567892 ", "6901234567890", "69O1234567892", "６901234567892",
		"\xff", "\t1", "000 0", strings.Repeat("9", 40), strings.Repeat(" ", 40) + "1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGTIN(s)
		if err != nil {
			checkFuzzError(t, "gtin", s, g, err)
			return
		}
		if len(g) != 14 || scanDigits(string(g)) >= 0 {
			t.Fatalf("ParseGTIN(%q) = %q, want 14 ASCII digits", s, g)
		}
		again, err := ParseGTIN(string(g))
		if err != nil || again != g {
			t.Fatalf("ParseGTIN(%q) = %q, %v; want %q back", g, again, err, g)
		}
		if c, err := CompleteGTIN(string(g)[:13]); err != nil || c != g {
			t.Fatalf("CompleteGTIN(%q) = %q, %v; want %q", string(g)[:13], c, err, g)
		}
	})
}

func FuzzParseUSCC(f *testing.F) {
	for _, s := range []string{
		"", " ", "91350100M000100Y43", "91350100m000100y43", " 91110000802100433B ",
		"91350100M000100Y44", "913O0100M000100Y43", "９1350100M000100Y43",
		"\x00", "000 0000", strings.Repeat("A", 40), strings.Repeat(" ", 40) + "I",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSCC(s)
		if err != nil {
			checkFuzzError(t, "uscc", s, u, err)
			return
		}
		if len(u) != 18 || string(u) != strings.ToUpper(string(u)) {
			t.Fatalf("ParseUSCC(%q) = %q, want 18 upper-case characters", s, u)
		}
		again, err := ParseUSCC(string(u))
		if err != nil || again != u {
			t.Fatalf("ParseUSCC(%q) = %q, %v; want %q back", u, again, err, u)
		}
		if c, err := CompleteUSCC(string(u)[:17]); err != nil || c != u {
			t.Fatalf("CompleteUSCC(%q) = %q, %v; want %q", string(u)[:17], c, err, u)
		}
	})
}

func checkFuzzError[T ~string](t *testing.T, kind, s string, got T, err error) {
	t.Helper()
	if got != "" {
		t.Fatalf("%s %q: got %q together with error %v", kind, s, got, err)
	}
	var ie *IDError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInvalidID) {
		t.Fatalf("%s %q: error %T %v, want an *IDError", kind, s, err, err)
	}
	if ie.Kind != kind {
		t.Fatalf("%s %q: Kind = %q", kind, s, ie.Kind)
	}
	if len(ie.Input) > maxErrInput || !strings.HasPrefix(s, ie.Input) {
		t.Fatalf("%s %q: Input = %q, want a prefix of at most %d bytes", kind, s, ie.Input, maxErrInput)
	}
	switch ie.Reason {
	case ReasonCharacter:
		// Surrounding spaces are forgiven, so Pos must lie inside them.
		core, off := trimSpacesOff(s)
		if ie.Pos < off || ie.Pos >= off+len(core) {
			t.Fatalf("%s %q: Pos = %d does not name a bad character", kind, s, ie.Pos)
		}
	case ReasonEmpty, ReasonLength, ReasonCheckDigit:
		if ie.Pos != -1 {
			t.Fatalf("%s %q: Pos = %d with reason %s, want -1", kind, s, ie.Pos, ie.Reason)
		}
	default:
		t.Fatalf("%s %q: unexpected reason %q", kind, s, ie.Reason)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "qcsdk: invalid "+kind+" ") || strings.ContainsAny(msg, "\n\r\x00\x1b") || !utf8.ValidString(msg) {
		t.Fatalf("%s %q: unsafe or malformed message %q", kind, s, msg)
	}
	if len(msg) > 256 {
		t.Fatalf("%s %q: message of %d bytes, want it bounded", kind, s, len(msg))
	}
}
