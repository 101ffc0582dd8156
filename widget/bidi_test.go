package widget_test

import (
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/widget"
)

// The isolation rules, held here rather than only by the browser suite:
// an isolate is opened before registry text and closed after it, the
// text cannot close it early, and an identifier loses every directional
// control it carries.
func TestIsolateAndLTR(t *testing.T) {
	const (
		lri = "\u2066"
		rli = "\u2067"
		fsi = "\u2068"
		pdi = "\u2069"
		rlo = "\u202e"
		lre = "\u202a"
		pdf = "\u202c"
		lrm = "\u200e"
		rlm = "\u200f"
		alm = "\u061c"
	)
	isolate := []struct {
		name, in, want string
	}{
		{"empty stays empty", "", ""},
		{"plain words", "示例电器", fsi + "示例电器" + pdi},
		{"Latin words", "Example Co.", fsi + "Example Co." + pdi},
		{"an unterminated override stays inside the isolate", "ACME" + rlo + "gnp.exe", fsi + "ACME" + rlo + "gnp.exe" + pdi},
		{"a close of the isolate in the text is removed", "x" + pdi + rlo + "y", fsi + "x" + rlo + "y" + pdi},
		{"isolates the text opens are removed", lri + "a" + rli + "b" + fsi + "c", fsi + "abc" + pdi},
		{"marks and embeddings are kept: they end with the isolate", "a" + rlm + lre + "b" + pdf, fsi + "a" + rlm + lre + "b" + pdf + pdi},
		// The bytes around a removed control must not join into a close:
		// \xe2\x81 and \xa9 are a POP DIRECTIONAL ISOLATE's.
		{"broken bytes around a control stay broken", "\xe2\x81" + lri + "\xa9", fsi + "\ufffd" + "\ufffd" + pdi},
	}
	for _, c := range isolate {
		if got := widget.Isolate(c.in); got != c.want {
			t.Errorf("Isolate: %s: Isolate(%+q) = %+q; want %+q", c.name, c.in, got, c.want)
		}
	}
	ltr := []struct {
		name, in, want string
	}{
		{"empty stays empty", "", ""},
		{"a credit code", "91440300MA5F000A1L", lri + "91440300MA5F000A1L" + pdi},
		{"a date with an override inside", "2026-" + rlo + "11-16", lri + "2026-11-16" + pdi},
		{"every control removed", lrm + rlm + alm + lre + pdf + lri + rli + fsi + pdi + "6901234567892" + rlo,
			lri + "6901234567892" + pdi},
	}
	for _, c := range ltr {
		if got := widget.LTR(c.in); got != c.want {
			t.Errorf("LTR: %s: LTR(%+q) = %+q; want %+q", c.name, c.in, got, c.want)
		}
	}
}

// Whatever the text, the isolate is balanced: one initiator at the start,
// one close at the end, none between.
func FuzzIsolateIsBalanced(f *testing.F) {
	for _, s := range []string{"", "a", "\u2069", "\u2066\u2069\u2069", "x\u202ey", "示例\u2067"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fn := range []struct {
			name string
			f    func(string) string
			open string
		}{{"Isolate", widget.Isolate, "\u2068"}, {"LTR", widget.LTR, "\u2066"}} {
			got := fn.f(s)
			if s == "" {
				if got != "" {
					t.Fatalf("%s(%q) = %q; want empty", fn.name, s, got)
				}
				continue
			}
			inner, ok := strings.CutPrefix(got, fn.open)
			if !ok {
				t.Fatalf("%s(%+q) = %+q does not open with its isolate", fn.name, s, got)
			}
			inner, ok = strings.CutSuffix(inner, "\u2069")
			if !ok {
				t.Fatalf("%s(%+q) = %+q does not close its isolate", fn.name, s, got)
			}
			if strings.ContainsAny(inner, "\u2066\u2067\u2068\u2069") {
				t.Fatalf("%s(%+q) = %+q has an isolate control inside", fn.name, s, got)
			}
		}
	})
}
