package widget

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// luminance is the WCAG 2 relative luminance of a #rrggbb colour.
func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) != 7 || hex[0] != '#' {
		t.Fatalf("colour %q is not #rrggbb", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func TestEveryStateHasReadableContrast(t *testing.T) {
	for th := range palettes {
		for s, p := range palettes[th] {
			if r := contrast(t, p.FG, p.BG); r < 4.5 {
				t.Errorf("%s %s: text contrast %.2f:1; want at least 4.5:1", Theme(th), state(s), r)
			}
			// The CSS carries exactly these colours.
			rule := ".qcb-" + Theme(th).String() + ".qcb-" + state(s).String() + "{color:" + p.FG + ";background:" + p.BG
			if !strings.Contains(stylesheet, rule) {
				t.Errorf("the stylesheet lacks %q", rule)
			}
		}
	}
}

func TestStylesheetIsSmallAndScoped(t *testing.T) {
	if n := len(stylesheet); n > 4096 {
		t.Errorf("stylesheet is %d bytes", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(stylesheet), "\n") {
		sel, _, _ := strings.Cut(line, "{")
		for _, part := range strings.Split(sel, ",") {
			if !strings.Contains(part, ".qcb") {
				t.Errorf("rule %q is not scoped to the badge's classes", line)
			}
		}
	}
	if got := string(StyleTag(`"><script>`)); strings.Contains(got, "<script>") {
		t.Errorf("StyleTag does not escape its nonce: %s", got[:40])
	}
}

// No two states look alike: in each theme every pair differs in its
// background, its frame and its icon, and in each locale in its title.
func TestEveryPairOfStatesDiffersInColourIconAndWords(t *testing.T) {
	titles := func(w *words) [numStates]string {
		return [numStates]string{w.committed, w.failed, w.suspended, w.revoked, w.expired, w.notListed, w.unknown}
	}
	for a := range numStates {
		for b := a + 1; b < numStates; b++ {
			for th := range palettes {
				pa, pb := palettes[th][a], palettes[th][b]
				if pa.BG == pb.BG || pa.Border == pb.Border && !(b == stateUnknown) {
					t.Errorf("%s: %s and %s share their colours: %+v, %+v", Theme(th), a, b, pa, pb)
				}
			}
			if icons[a] == icons[b] || icons[a] == staleIcon || icons[b] == staleIcon {
				t.Errorf("%s and %s: icons %q and %q", a, b, icons[a], icons[b])
			}
			for l := range vocab {
				ts := titles(&vocab[l])
				if ts[a] == ts[b] || vocab[l].short[a] == vocab[l].short[b] {
					t.Errorf("%s: %s and %s say the same", Locale(l), a, b)
				}
			}
		}
	}
}
