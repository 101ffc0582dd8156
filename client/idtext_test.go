package client

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGTINUnmarshalText holds the rule that a GTIN is validated where it
// enters, a JSON document included: a value that ParseGTIN refuses never
// becomes a GTIN, and one it accepts is kept in its canonical form.
func TestGTINUnmarshalText(t *testing.T) {
	t.Parallel()
	type doc struct {
		GTIN GTIN `json:"gtin"`
	}
	tests := []struct {
		name    string
		in      string
		want    GTIN
		wantErr *IDError
	}{
		{name: "gtin-8", in: `{"gtin":"96385074"}`, want: "00000096385074"},
		{name: "gtin-12", in: `{"gtin":"036000291452"}`, want: "00036000291452"},
		{name: "gtin-13", in: `{"gtin":"6901234567892"}`, want: "06901234567892"},
		{name: "gtin-14", in: `{"gtin":"06901234567892"}`, want: "06901234567892"},
		{name: "surrounding spaces", in: `{"gtin":" 6901234567892 "}`, want: "06901234567892"},
		// The zero GTIN is "no GTIN": MarshalText writes it as "", so ""
		// must read back as the zero value for a round trip to hold.
		{name: "empty is the zero value", in: `{"gtin":""}`, want: ""},
		{name: "absent", in: `{}`, want: ""},
		{name: "null", in: `{"gtin":null}`, want: ""},

		{name: "too short", in: `{"gtin":"123"}`,
			wantErr: &IDError{Kind: "gtin", Input: "123", Reason: ReasonLength, Pos: -1, length: 3}},
		{name: "wrong check digit", in: `{"gtin":"6901234567893"}`,
			wantErr: &IDError{Kind: "gtin", Input: "6901234567893", Reason: ReasonCheckDigit, Pos: -1, length: 13}},
		{name: "full-width digit", in: `{"gtin":"690123456789２"}`,
			wantErr: &IDError{Kind: "gtin", Input: "690123456789２", Reason: ReasonCharacter, Pos: 12, length: 15}},
		{name: "only spaces", in: `{"gtin":"   "}`,
			wantErr: &IDError{Kind: "gtin", Input: "   ", Reason: ReasonEmpty, Pos: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d doc
			err := json.Unmarshal([]byte(tt.in), &d)
			checkDecoded(t, tt.in, err, tt.wantErr, d.GTIN, tt.want, d, "gtin")
		})
	}
}

// A GTIN that is not in a JSON document goes through the same check: the
// method itself refuses what ParseGTIN refuses and leaves the value as it
// was.
func TestGTINUnmarshalTextKeepsValueOnError(t *testing.T) {
	t.Parallel()
	g := GTIN("06901234567892")
	err := g.UnmarshalText([]byte("0690123456789X"))
	var idErr *IDError
	if !errors.As(err, &idErr) || idErr.Reason != ReasonCharacter {
		t.Fatalf("UnmarshalText(0690123456789X) = %v, want an *IDError for a character", err)
	}
	if g != "06901234567892" {
		t.Errorf("after a refused UnmarshalText the GTIN is %q, want it unchanged", g)
	}
	b, err := g.MarshalText()
	if err != nil || string(b) != "06901234567892" {
		t.Errorf("MarshalText() = %q, %v; want 06901234567892", b, err)
	}
}

func TestUSCCUnmarshalText(t *testing.T) {
	t.Parallel()
	type doc struct {
		USCC USCC `json:"uscc"`
	}
	tests := []struct {
		name    string
		in      string
		want    USCC
		wantErr *IDError
	}{
		{name: "upper case", in: `{"uscc":"91350100M000100Y43"}`, want: "91350100M000100Y43"},
		{name: "lower case is upper-cased", in: `{"uscc":"91350100m000100y43"}`, want: "91350100M000100Y43"},
		{name: "empty is the zero value", in: `{"uscc":""}`, want: ""},
		{name: "absent", in: `{}`, want: ""},

		{name: "too short", in: `{"uscc":"123"}`,
			wantErr: &IDError{Kind: "uscc", Input: "123", Reason: ReasonLength, Pos: -1, length: 3}},
		{name: "wrong check character", in: `{"uscc":"91350100M000100Y44"}`,
			wantErr: &IDError{Kind: "uscc", Input: "91350100M000100Y44", Reason: ReasonCheckDigit, Pos: -1, length: 18}},
		{name: "letter outside the set", in: `{"uscc":"91350100O000100Y43"}`,
			wantErr: &IDError{Kind: "uscc", Input: "91350100O000100Y43", Reason: ReasonCharacter, Pos: 8, length: 18}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d doc
			err := json.Unmarshal([]byte(tt.in), &d)
			checkDecoded(t, tt.in, err, tt.wantErr, d.USCC, tt.want, d, "uscc")
		})
	}
}

// checkDecoded checks one identifier decoded from the JSON document in:
// refused with wantErr, an *IDError matching ErrInvalidID, or else equal
// to want, and the document d it was decoded into written back with it in
// the same canonical form under field.
func checkDecoded[T ~string](t *testing.T, in string, err error, wantErr *IDError, got, want T, d any, field string) {
	t.Helper()
	if wantErr != nil {
		var idErr *IDError
		if !errors.As(err, &idErr) {
			t.Fatalf("json.Unmarshal(%s) = %v (%T), want an *IDError", in, err, err)
		}
		if diff := cmp.Diff(wantErr, idErr, idErrorCmp); diff != "" {
			t.Errorf("json.Unmarshal(%s) error mismatch (-want +got):\n%s", in, diff)
		}
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("json.Unmarshal(%s) = %v, does not match ErrInvalidID", in, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", in, err)
	}
	if got != want {
		t.Errorf("json.Unmarshal(%s) gave %q, want %q", in, got, want)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("json.Marshal(%+v) = %v", d, err)
	}
	if w := `{"` + field + `":"` + string(want) + `"}`; string(out) != w {
		t.Errorf("json.Marshal(%+v) = %s, want %s", d, out, w)
	}
}
