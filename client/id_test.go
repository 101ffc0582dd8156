package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// idErrorCmp compares IDErrors field by field, the unexported ones too:
// they decide what Error says.
var idErrorCmp = cmp.AllowUnexported(IDError{})

func TestParseGTIN(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("9", 1000)
	tests := []struct {
		name    string
		in      string
		want    GTIN
		wantErr *IDError
	}{
		{name: "gtin-8", in: "96385074", want: "00000096385074"},
		{name: "gtin-12 upc-a", in: "036000291452", want: "00036000291452"},
		{name: "gtin-13 ean-13", in: "4006381333931", want: "04006381333931"},
		{name: "gtin-13 china prefix", in: "6901028075862", want: "06901028075862"},
		{name: "gtin-13 china prefix 692", in: "6920152400012", want: "06920152400012"},
		{name: "gtin-13 check digit zero", in: "6900000000007", want: "06900000000007"},
		{name: "gtin-14", in: "10012345678902", want: "10012345678902"},
		{name: "gtin-14 canonical of gtin-13", in: "00614141000418", want: "00614141000418"},
		{name: "all zeros", in: "00000000000000", want: "00000000000000"},
		{name: "surrounding spaces", in: "  6901234567892 ", want: "06901234567892"},

		{name: "empty", in: "",
			wantErr: &IDError{Kind: "gtin", Input: "", Reason: ReasonEmpty, Pos: -1}},
		{name: "only spaces", in: "   ",
			wantErr: &IDError{Kind: "gtin", Input: "   ", Reason: ReasonEmpty, Pos: -1}},
		{name: "too short", in: "690123",
			wantErr: &IDError{Kind: "gtin", Input: "690123", Reason: ReasonLength, Pos: -1, length: 6}},
		{name: "length 9", in: "963850741",
			wantErr: &IDError{Kind: "gtin", Input: "963850741", Reason: ReasonLength, Pos: -1, length: 9}},
		{name: "length 15", in: "069012345678920",
			wantErr: &IDError{Kind: "gtin", Input: "069012345678920", Reason: ReasonLength, Pos: -1, length: 15}},
		{name: "overly long digits", in: long,
			wantErr: &IDError{Kind: "gtin", Input: long[:32], Reason: ReasonLength, Pos: -1, length: 1000}},
		{name: "letter O for zero", in: "69O1234567892",
			wantErr: &IDError{Kind: "gtin", Input: "69O1234567892", Reason: ReasonCharacter, Pos: 2, length: 13}},
		{name: "position counts leading spaces", in: "  69-1234567892",
			wantErr: &IDError{Kind: "gtin", Input: "  69-1234567892", Reason: ReasonCharacter, Pos: 4, length: 13}},
		{name: "full-width digit", in: "６901234567892",
			wantErr: &IDError{Kind: "gtin", Input: "６901234567892", Reason: ReasonCharacter, Pos: 0, length: 15}},
		{name: "arabic-indic digits", in: "٦٩٠١٢٣٤٥",
			wantErr: &IDError{Kind: "gtin", Input: "٦٩٠١٢٣٤٥", Reason: ReasonCharacter, Pos: 0, length: 16}},
		{name: "tab is not trimmed", in: "\t6901234567892",
			wantErr: &IDError{Kind: "gtin", Input: "\t6901234567892", Reason: ReasonCharacter, Pos: 0, length: 14}},
		{name: "no-break space is not trimmed", in: "6901234567892\u00a0",
			wantErr: &IDError{Kind: "gtin", Input: "6901234567892\u00a0", Reason: ReasonCharacter, Pos: 13, length: 15}},
		{name: "sign", in: "+6901234567892",
			wantErr: &IDError{Kind: "gtin", Input: "+6901234567892", Reason: ReasonCharacter, Pos: 0, length: 14}},
		{name: "two gtins pasted", in: "6901234567892 6901234567892",
			wantErr: &IDError{Kind: "gtin", Input: "6901234567892 6901234567892", Reason: ReasonCharacter, Pos: 13, length: 27}},
		{name: "invalid utf-8", in: "\xff\xfe",
			wantErr: &IDError{Kind: "gtin", Input: "\xff\xfe", Reason: ReasonCharacter, Pos: 0, length: 2}},
		{name: "bad character past the cut", in: strings.Repeat(" ", 40) + "x",
			wantErr: &IDError{Kind: "gtin", Input: strings.Repeat(" ", 32), Reason: ReasonCharacter, Pos: 40, length: 1}},
		{name: "wrong check digit", in: "6901234567890",
			wantErr: &IDError{Kind: "gtin", Input: "6901234567890", Reason: ReasonCheckDigit, Pos: -1, length: 13}},
		{name: "transposed digits", in: "6901234567982",
			wantErr: &IDError{Kind: "gtin", Input: "6901234567982", Reason: ReasonCheckDigit, Pos: -1, length: 13}},
		{name: "gtin-8 wrong check digit", in: "96385075",
			wantErr: &IDError{Kind: "gtin", Input: "96385075", Reason: ReasonCheckDigit, Pos: -1, length: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseGTIN(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseGTIN(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			checkIDError(t, err, tt.wantErr)
		})
	}
}

func TestParseUSCC(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("9", 1<<20)
	tests := []struct {
		name    string
		in      string
		want    USCC
		wantErr *IDError
	}{
		{name: "company", in: "91350100M000100Y43", want: "91350100M000100Y43"},
		{name: "letter check character", in: "91110000802100433B", want: "91110000802100433B"},
		{name: "another", in: "91440300708461136T", want: "91440300708461136T"},
		{name: "lower case", in: "91350100m000100y43", want: "91350100M000100Y43"},
		{name: "lower-case check character", in: "91110000802100433b", want: "91110000802100433B"},
		{name: "surrounding spaces", in: " 91350100M000100Y43  ", want: "91350100M000100Y43"},

		{name: "empty", in: "",
			wantErr: &IDError{Kind: "uscc", Input: "", Reason: ReasonEmpty, Pos: -1}},
		{name: "only spaces", in: "  ",
			wantErr: &IDError{Kind: "uscc", Input: "  ", Reason: ReasonEmpty, Pos: -1}},
		{name: "17 characters", in: "91350100M000100Y4",
			wantErr: &IDError{Kind: "uscc", Input: "91350100M000100Y4", Reason: ReasonLength, Pos: -1, length: 17}},
		{name: "19 characters", in: "91350100M000100Y430",
			wantErr: &IDError{Kind: "uscc", Input: "91350100M000100Y430", Reason: ReasonLength, Pos: -1, length: 19}},
		{name: "organisation code only", in: "M000100Y4",
			wantErr: &IDError{Kind: "uscc", Input: "M000100Y4", Reason: ReasonLength, Pos: -1, length: 9}},
		{name: "overly long", in: long,
			wantErr: &IDError{Kind: "uscc", Input: long[:32], Reason: ReasonLength, Pos: -1, length: 1 << 20}},
		{name: "letter O", in: "913O0100M000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "913O0100M000100Y43", Reason: ReasonCharacter, Pos: 3, length: 18}},
		{name: "lower-case o", in: "913o0100M000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "913o0100M000100Y43", Reason: ReasonCharacter, Pos: 3, length: 18}},
		{name: "letter I", in: "91350100I000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "91350100I000100Y43", Reason: ReasonCharacter, Pos: 8, length: 18}},
		{name: "letter Z", in: "91350100Z000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "91350100Z000100Y43", Reason: ReasonCharacter, Pos: 8, length: 18}},
		{name: "letter S", in: "91350100S000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "91350100S000100Y43", Reason: ReasonCharacter, Pos: 8, length: 18}},
		{name: "letter V", in: "91350100V000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "91350100V000100Y43", Reason: ReasonCharacter, Pos: 8, length: 18}},
		{name: "hyphen", in: "913501-00M000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "913501-00M000100Y43", Reason: ReasonCharacter, Pos: 6, length: 19}},
		{name: "full-width", in: "９1350100M000100Y43",
			wantErr: &IDError{Kind: "uscc", Input: "９1350100M000100Y43", Reason: ReasonCharacter, Pos: 0, length: 20}},
		{name: "control character", in: "91350100M000100Y4\x00",
			wantErr: &IDError{Kind: "uscc", Input: "91350100M000100Y4\x00", Reason: ReasonCharacter, Pos: 17, length: 18}},
		{name: "wrong check character", in: "91350100M000100Y44",
			wantErr: &IDError{Kind: "uscc", Input: "91350100M000100Y44", Reason: ReasonCheckDigit, Pos: -1, length: 18}},
		{name: "wrong check letter", in: "91110000802100433C",
			wantErr: &IDError{Kind: "uscc", Input: "91110000802100433C", Reason: ReasonCheckDigit, Pos: -1, length: 18}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseUSCC(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseUSCC(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			checkIDError(t, err, tt.wantErr)
		})
	}
}

// checkIDError checks that err is wantErr, that it is found by errors.As
// and errors.Is however deeply it is wrapped, and that nil means nil.
func checkIDError(t *testing.T, err error, wantErr *IDError) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	wrapped := fmt.Errorf("lookup: %w", err)
	var got *IDError
	if !errors.As(wrapped, &got) {
		t.Fatalf("errors.As(%v, *IDError) = false, want true", err)
	}
	if diff := cmp.Diff(wantErr, got, idErrorCmp); diff != "" {
		t.Errorf("IDError mismatch (-want +got):\n%s", diff)
	}
	if !errors.Is(wrapped, ErrInvalidID) {
		t.Errorf("errors.Is(%v, ErrInvalidID) = false, want true", err)
	}
}

func TestIDErrorMessages(t *testing.T) {
	t.Parallel()
	parseGTIN := func(s string) error { _, err := ParseGTIN(s); return err }
	parseUSCC := func(s string) error { _, err := ParseUSCC(s); return err }
	completeGTIN := func(s string) error { _, err := CompleteGTIN(s); return err }
	completeUSCC := func(s string) error { _, err := CompleteUSCC(s); return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"gtin empty", parseGTIN(""), `qcsdk: invalid gtin "": empty`},
		{"gtin length", parseGTIN("690123"), `qcsdk: invalid gtin "690123": length 6, want 8, 12, 13 or 14 digits`},
		{"gtin length of long input", parseGTIN(strings.Repeat("1", 40)),
			`qcsdk: invalid gtin "11111111111111111111111111111111": length 40, want 8, 12, 13 or 14 digits`},
		{"gtin character", parseGTIN("690O234567892"), `qcsdk: invalid gtin "690O234567892": character 'O' at position 3 is not allowed`},
		{"gtin full-width", parseGTIN("69０1234567892"), `qcsdk: invalid gtin "69０1234567892": character '０' at position 2 is not allowed`},
		{"gtin control character", parseGTIN("69\x1b[31m"), `qcsdk: invalid gtin "69\x1b[31m": character '\x1b' at position 2 is not allowed`},
		{"gtin invalid utf-8", parseGTIN("6\xff"), `qcsdk: invalid gtin "6\xff": byte 0xff at position 1 is not allowed`},
		{"gtin past the cut", parseGTIN(strings.Repeat(" ", 33) + "x"),
			`qcsdk: invalid gtin "                                ": character at position 33 is not allowed`},
		{"gtin check digit", parseGTIN("6901234567893"), `qcsdk: invalid gtin "6901234567893": check digit is 3, want 2`},
		{"gtin check digit with spaces", parseGTIN(" 96385070 "), `qcsdk: invalid gtin " 96385070 ": check digit is 0, want 4`},
		{"gtin payload length", completeGTIN("690123"), `qcsdk: invalid gtin payload "690123": length 6, want 7, 11, 12 or 13 digits`},
		{"gtin payload character", completeGTIN("69x"), `qcsdk: invalid gtin payload "69x": character 'x' at position 2 is not allowed`},
		{"uscc empty", parseUSCC(" "), `qcsdk: invalid uscc " ": empty`},
		{"uscc length", parseUSCC("91350100M000100Y4"), `qcsdk: invalid uscc "91350100M000100Y4": length 17, want 18 characters`},
		{"uscc character", parseUSCC("913O0100M000100Y43"), `qcsdk: invalid uscc "913O0100M000100Y43": character 'O' at position 3 is not allowed`},
		{"uscc check character", parseUSCC("91350100M000100Y4A"), `qcsdk: invalid uscc "91350100M000100Y4A": check character is 'A', want '3'`},
		{"uscc lower-case check character", parseUSCC("91110000802100433c"), `qcsdk: invalid uscc "91110000802100433c": check character is 'C', want 'B'`},
		{"uscc payload length", completeUSCC("91350100M000100Y43"), `qcsdk: invalid uscc payload "91350100M000100Y43": length 18, want 17 characters`},
		{"cut keeps characters whole", parseUSCC(strings.Repeat("一", 11)),
			`qcsdk: invalid uscc "一一一一一一一一一一": character '一' at position 0 is not allowed`},
		{"hand-built length", &IDError{Kind: "gtin", Input: "12345", Reason: ReasonLength, Pos: -1},
			`qcsdk: invalid gtin "12345": length 5, want 8, 12, 13 or 14 digits`},
		{"hand-built check digit", &IDError{Kind: "gtin", Input: "x", Reason: ReasonCheckDigit, Pos: -1},
			`qcsdk: invalid gtin "x": wrong check digit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.err == nil {
				t.Fatal("err = nil, want an error")
			}
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestIDErrorIs(t *testing.T) {
	t.Parallel()
	var err error = &IDError{Kind: "gtin", Reason: ReasonEmpty, Pos: -1}
	if !errors.Is(err, ErrInvalidID) {
		t.Error("errors.Is(IDError, ErrInvalidID) = false, want true")
	}
	if errors.Is(err, errors.New("qcsdk: invalid identifier")) {
		t.Error("errors.Is matched an unrelated error with the same text")
	}
}

func TestCompleteGTIN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    GTIN
		wantErr *IDError
	}{
		{in: "9638507", want: "00000096385074"},
		{in: "03600029145", want: "00036000291452"},
		{in: "690123456789", want: "06901234567892"},
		{in: " 1001234567890 ", want: "10012345678902"},
		{in: "", wantErr: &IDError{Kind: "gtin", Reason: ReasonEmpty, Pos: -1, payload: true}},
		{in: "6901234567892", want: "69012345678922"}, // a GTIN-13 is also a GTIN-14 payload
		{in: "69012345678922", wantErr: &IDError{Kind: "gtin", Input: "69012345678922", Reason: ReasonLength, Pos: -1, length: 14, payload: true}},
		{in: "96385074", wantErr: &IDError{Kind: "gtin", Input: "96385074", Reason: ReasonLength, Pos: -1, length: 8, payload: true}},
		{in: "69012345678a", wantErr: &IDError{Kind: "gtin", Input: "69012345678a", Reason: ReasonCharacter, Pos: 11, length: 12, payload: true}},
	}
	for _, tt := range tests {
		got, err := CompleteGTIN(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("CompleteGTIN(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		checkIDError(t, err, tt.wantErr)
	}
}

func TestCompleteUSCC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    USCC
		wantErr *IDError
	}{
		{in: "91350100M000100Y4", want: "91350100M000100Y43"},
		{in: "91110000802100433", want: "91110000802100433B"},
		{in: "91350100m000100y4", want: "91350100M000100Y43"},
		{in: "", wantErr: &IDError{Kind: "uscc", Reason: ReasonEmpty, Pos: -1, payload: true}},
		{in: "9135", wantErr: &IDError{Kind: "uscc", Input: "9135", Reason: ReasonLength, Pos: -1, length: 4, payload: true}},
		{in: "91350100M00010OY4", wantErr: &IDError{Kind: "uscc", Input: "91350100M00010OY4", Reason: ReasonCharacter, Pos: 14, length: 17, payload: true}},
	}
	for _, tt := range tests {
		got, err := CompleteUSCC(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("CompleteUSCC(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		checkIDError(t, err, tt.wantErr)
	}
}

// TestGTINRoundTrip checks, over payloads of every length, that a completed
// GTIN parses to itself in every spelling and that every other final digit
// is rejected, so that Complete and Parse cannot drift apart.
func TestGTINRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{7, 11, 12, 13} {
		for i := range 2000 {
			v := uint64(i) * 7919 * 104729
			payload := fmt.Sprintf("%0*d", n, v%pow10(n))
			g, err := CompleteGTIN(payload)
			if err != nil {
				t.Fatalf("CompleteGTIN(%q): %v", payload, err)
			}
			if len(g) != 14 || !strings.HasSuffix(string(g)[:13], payload) {
				t.Fatalf("CompleteGTIN(%q) = %q, want the payload, padded to 14", payload, g)
			}
			check := g[13]
			for d := byte('0'); d <= '9'; d++ {
				s := payload + string(d)
				got, err := ParseGTIN(s)
				if d != check {
					if !errors.Is(err, ErrInvalidID) {
						t.Fatalf("ParseGTIN(%q) = %q, %v; want a check digit error", s, got, err)
					}
					continue
				}
				if err != nil || got != g {
					t.Fatalf("ParseGTIN(%q) = %q, %v; want %q", s, got, err, g)
				}
			}
		}
	}
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// TestUSCCRoundTrip checks Complete against Parse over many payloads, and
// that every check character, '0' included (31 stands for 0), comes up.
func TestUSCCRoundTrip(t *testing.T) {
	t.Parallel()
	seen := make(map[byte]bool)
	for i := range 5000 {
		var b [17]byte
		v := uint64(i)*2654435761 + 12345
		for j := range b {
			b[j] = usccChars[v%31]
			v = v/31 + uint64(j)*977
		}
		payload := string(b[:])
		u, err := CompleteUSCC(payload)
		if err != nil {
			t.Fatalf("CompleteUSCC(%q): %v", payload, err)
		}
		seen[u[17]] = true
		if got, err := ParseUSCC(string(u)); err != nil || got != u {
			t.Fatalf("ParseUSCC(%q) = %q, %v; want it back", u, got, err)
		}
		if got, err := ParseUSCC(strings.ToLower(string(u))); err != nil || got != u {
			t.Fatalf("ParseUSCC(lower %q) = %q, %v; want %q", u, got, err, u)
		}
		for k := range len(usccChars) {
			c := usccChars[k]
			if c == u[17] {
				continue
			}
			if _, err := ParseUSCC(payload + string(c)); !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseUSCC(%q) accepted a wrong check character", payload+string(c))
			}
		}
	}
	if len(seen) != len(usccChars) {
		t.Errorf("check characters seen: %d, want all %d", len(seen), len(usccChars))
	}
}

// TestUSCCWeights pins the weights to the table GB 32100-2015 prints, in
// case someone "simplifies" the loop that computes them.
func TestUSCCWeights(t *testing.T) {
	t.Parallel()
	want := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	for i, w := range want {
		// A payload with a single 1 at position i sums to its weight.
		p := []byte(strings.Repeat("0", 17))
		p[i] = '1'
		wantCheck := usccChars[(31-w%31)%31]
		if got := usccCheck(string(p)); got != wantCheck {
			t.Errorf("weight of position %d: check %c, want %c (weight %d)", i, got, wantCheck, w)
		}
	}
}

// TestUSCCValue checks the letter table against the character set it was
// derived from, for every byte.
func TestUSCCValue(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		want := strings.IndexByte(usccChars, upper(byte(c)))
		if got := usccValue(byte(c)); got != want {
			t.Errorf("usccValue(%q) = %d, want %d", rune(c), got, want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want float64
	}{
		{"ParseGTIN canonical", func() { _, _ = ParseGTIN("06901234567892") }, 0},
		{"ParseGTIN canonical with spaces", func() { _, _ = ParseGTIN(" 06901234567892 ") }, 0},
		{"ParseGTIN gtin-13", func() { _, _ = ParseGTIN("6901234567892") }, 1},
		{"CompleteGTIN", func() { _, _ = CompleteGTIN("690123456789") }, 1},
		{"ParseUSCC canonical", func() { _, _ = ParseUSCC("91350100M000100Y43") }, 0},
		{"ParseUSCC lower case", func() { _, _ = ParseUSCC("91350100m000100y43") }, 1},
		{"CompleteUSCC", func() { _, _ = CompleteUSCC("91350100M000100Y4") }, 1},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != tt.want {
			t.Errorf("%s: %v allocs, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkParseGTIN(b *testing.B) {
	for _, in := range []string{"06901234567892", "6901234567892", "96385074", " 6901234567892 "} {
		b.Run(strconv.Quote(in), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseGTIN(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompleteGTIN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompleteGTIN("690123456789"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseUSCC(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUSCC("91350100M000100Y43"); err != nil {
			b.Fatal(err)
		}
	}
}

// The canonical form's one-pass check accepts exactly what the general
// rule does: every 14-byte string one byte away from a valid GTIN, digits
// and the bytes next to them included, and every check digit.
func TestCanonicalGTINAgreesWithTheCheckDigit(t *testing.T) {
	t.Parallel()
	general := func(s string) bool { return scanDigits(s) < 0 && gtinCheck(s[:13]) == s[13] }
	for _, base := range []string{"06901234567892", "00000096385074", "99999999999997", "00000000000000"} {
		if !general(base) {
			t.Fatalf("%s is not a valid GTIN", base)
		}
		for i := range 14 {
			for _, c := range []byte("0123456789/:a \x00\xff") {
				b := []byte(base)
				b[i] = c
				s := string(b)
				if got, want := canonicalGTIN(s), general(s); got != want {
					t.Errorf("canonicalGTIN(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
