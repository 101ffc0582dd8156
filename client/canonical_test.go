package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// The canonical form RFC 8785 gives JSON: keys sorted by UTF-16 code
// units, no space, strings escaped only where JSON must (no HTML escapes,
// U+2028 as it is), integers as they are; what it cannot give exactly
// here (a fraction) is refused.
func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{` { "z" : [ 3 , { "y" : true , "x" : null } ] } `, `{"z":[3,{"x":null,"y":true}]}`},
		{`"<>&\u2028\u2029"`, "\"<>&\u2028\u2029\""},
		{`"\"\\\/\b\f\n\r\t\u0001\u001f"`, `"\"\\/\b\f\n\r\t\u0001\u001f"`},
		{`"é 中 😀"`, `"é 中 😀"`},
		// U+FB01 sorts after U+1F600 by code point, before it by UTF-16
		// (a surrogate pair starts at U+D83D).
		{`{"ﬁ":1,"😀":2,"a":3}`, `{"a":3,"😀":2,"ﬁ":1}`},
		{`-12`, `-12`},
		{`-0`, `0`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		// Keys are sorted as they read, not as they are escaped: "\n"
		// is U+000A, before "\\n"; "\u0062" is "b".
		{`{"m":1,"\\n":2,"\n":3}`, `{"\n":3,"\\n":2,"m":1}`},
		{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"]":1,"\\":2,"[":3}`, `{"[":3,"\\":2,"]":1}`},
		{`{"a\"b":1,"a\\b":2,"a":3}`, `{"a":3,"a\"b":1,"a\\b":2}`},
		// ASCII, then characters of the BMP and beyond, in one key's
		// tail and spelt both ways.
		{`{"aﬁ":1,"a😀":2,"a":3,"ab":4,"a\ud83d\ude01":5,"a\u00e9":6}`,
			`{"a":3,"ab":4,"aé":6,"a😀":2,"a😁":5,"aﬁ":1}`},
		{`{"中b":1,"中a":2,"é":3,"e":4}`, `{"e":4,"é":3,"中a":2,"中b":1}`},
		// Keys that differ in a character's last byte, not its first.
		{`{"é":1,"è":2,"丫":3,"中":4,"ﬂ":5,"ﬁ":6}`, `{"è":2,"é":1,"丫":3,"中":4,"ﬁ":6,"ﬂ":5}`},
		{`{"b":{"d":[],"c":{}},"a":[{"y":1,"x":[]},[]]}`, `{"a":[{"x":[],"y":1},[]],"b":{"c":{},"d":[]}}`},
		// Escapes undone but where JSON needs them; a lone surrogate and
		// broken UTF-8 are U+FFFD, as encoding/json reads them.
		{`"\ud83d\ude00 \u00e9\u4e2d \ud800 \udc00x"`, "\"😀 é中 \ufffd \ufffdx\""},
		{`"\u0000\u007f\u0080\u00ad\ufeff\u2028"`, "\"\\u0000\u007f\u0080\u00ad\ufeff\u2028\""},
		{"\"a\xffb\xe4\xb8\"", "\"a\ufffdb\ufffd\ufffd\""},
		{`"\u003c\u003e\u0026 \u2029"`, "\"<>& \u2029\""},
	} {
		dec := json.NewDecoder(strings.NewReader(c.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		got, err := referenceCanonical(nil, v)
		if err != nil || string(got) != c.want {
			t.Errorf("reference canonical %s = %s (%v); want %s", c.in, got, err, c.want)
		}
		got, err = appendCanonicalJSON(nil, []byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("canonical %s = %s (%v); want %s", c.in, got, err, c.want)
		}
	}
	// Not JSON, but never written less than canonical: a raw control
	// character is escaped, as the reference's decoder would refuse it.
	if got, err := appendCanonicalJSON(nil, []byte("{\"a\x1fb\":\"\x00\tx\x1f\"}")); err != nil || string(got) != `{"a\u001fb":"\u0000\tx\u001f"}` {
		t.Errorf("canonical of raw control characters = %s (%v)", got, err)
	}
	// I-JSON names a key once, however it is spelt.
	for _, in := range []string{`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"é":1,"\u00e9":2}`} {
		if _, err := appendCanonicalJSON(nil, []byte(in)); !errors.Is(err, errDuplicateKey) {
			t.Errorf("canonical %s: %v; want errDuplicateKey", in, err)
		}
	}
	for _, in := range []string{`1.5`, `1e3`, `{"a":[0.1]}`} {
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, err := referenceCanonical(nil, v); err == nil {
			t.Errorf("reference canonical %s: no error; a fraction is refused", in)
		}
		if _, err := appendCanonicalJSON(nil, []byte(in)); err == nil {
			t.Errorf("canonical %s: no error; a fraction is refused", in)
		}
	}
}

// FuzzCanonicalJSON: whatever JSON appendCanonicalJSON is given, it
// writes what the reference writes from the decoded value, or refuses
// what the reference refuses.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":2}`, `{"a":{"c":[1,{"e":"x","d":null}],"b":false}}`, `"<>&\u2028\u2029"`,
		`"\"\\\/\b\f\n\r\t\u0001\u001f"`, `"\ud83d\ude00 \ud800 x"`, `{"ﬁ":1,"😀":2,"a":3}`,
		`[1, 2 ,{ "a" : "b" } ]`, `-0`, `1.5`, `{"a":1e3}`, `"\u00e9"`, `[[],{},[{}]]`,
		`{"m":1,"\\n":2,"\n":3}`, `{"a\"b":1,"a\\b":2,"a":3}`, `{"aﬁ":1,"a😀":2,"a\ud83d\ude01":5,"a\u00e9":6}`,
		`{"中b":1,"中a":2,"é":3,"e":4}`, "\"a\xffb\xe4\xb8\"", "{\"\xe4\":1,\"\xe4\xb8\xad\":2}",
		`"\u0000\u007f\u2028"`, `{"a":1,"\u0061":2}`, `{"a":1.5,"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dec := json.NewDecoder(strings.NewReader(string(in)))
		dec.UseNumber()
		var v any
		if !json.Valid(in) || dec.Decode(&v) != nil {
			return // not one JSON value: the digest's input always is
		}
		want, werr := referenceCanonical(nil, v)
		got, gerr := appendCanonicalJSON(nil, in)
		if hasDuplicateKey(in) {
			// Not I-JSON, which RFC 8785 takes: the reference keeps the
			// last, appendCanonicalJSON refuses it.
			if gerr == nil {
				t.Fatalf("canonical %s = %s; want it refused, a key is named twice", in, got)
			}
			return
		}
		if (werr == nil) != (gerr == nil) || !slices.Equal(got, want) {
			t.Fatalf("canonical %s = %s (%v); the reference %s (%v)", in, got, gerr, want, werr)
		}
	})
}

// hasDuplicateKey reports whether an object of in, one JSON value, names
// a key twice, as encoding/json reads keys.
func hasDuplicateKey(in []byte) bool {
	type frame struct {
		keys    map[string]bool
		obj     bool
		wantKey bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(in))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			top := stack[n-1]
			if top.wantKey {
				k := tok.(string)
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
			top.wantKey = true // tok begins the member's value
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{keys: map[string]bool{}, obj: d == '{', wantKey: d == '{'})
		}
	}
}

// referenceCanonical appends v, as decoded by encoding/json with UseNumber,
// in RFC 8785 canonical form: the straightforward way, against which
// appendCanonicalJSON, which reads the encoded bytes instead, is checked.
// It shares no code with it (its string escaping and key order are its
// own, below), so that a fast path gone wrong in canonical.go cannot hide
// behind the same mistake here. The registry's records hold integers
// only: a number with a fraction or an exponent is refused rather than
// formatted as ECMAScript would.
func referenceCanonical(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("a number the canonical form does not take: %s", v)
		}
		return strconv.AppendInt(b, n, 10), nil
	case string:
		return referenceString(b, v), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = referenceCanonical(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// By UTF-16 code units, as RFC 8785 sorts: the same as Go's
		// string order unless a key holds characters beyond U+FFFF.
		slices.SortFunc(keys, referenceCompareUTF16)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = referenceString(b, k)
			b = append(b, ':')
			var err error
			if b, err = referenceCanonical(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("a value the canonical form does not take: %T", v)
}

// referenceString appends s as RFC 8785 writes a string, rune by rune:
// quotes, backslashes and control characters escaped (the short escapes
// where JSON has them), everything else as it is.
func referenceString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if r < 0x20 {
				b = fmt.Appendf(b, `\u%04x`, r)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// referenceCompareUTF16 orders two strings by their UTF-16 code units,
// converting each whole string.
func referenceCompareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// benchRecords are records as encoding/json writes them: a maker, its
// commitment and an inspection, the three of a typical status.
var benchRecords = []string{
	`{"id":"ent_0000001","uscc":"91330100MAAAWN1T5U","name":{"zh":"杭州清源电器有限公司","en":"Hangzhou Qingyuan Electric Appliance Co., Ltd."},"region_code":"330100","region":{"zh":"浙江省杭州市","en":"Hangzhou, Zhejiang"},"categories":["household_appliances"],"listed_at":"2023-05-26T00:00:00Z","version":7,"updated_at":"2023-11-19T00:00:00Z","verify_url":"https://verify.qualitycommit.example/enterprises/ent_0000001"}`,
	`{"id":"cmt_0000001_1","enterprise_id":"ent_0000001","category":"household_appliances","scope":{"brands":["清源"]},"items":[{"kind":"standard","standard":"GB 4706.1-2005","text":{"zh":"符合家用和类似用途电器安全通用要求","en":"Meets the general safety requirements for household electrical appliances"}},{"kind":"repair","text":{"zh":"整机保修三年，主要部件保修五年","en":"Three-year repair guarantee, five years for main parts"}},{"kind":"return","text":{"zh":"售出之日起7日内可无理由退货","en":"Returns without reason within 7 days of sale"}},{"kind":"labelling","text":{"zh":"产品标识、说明书与实际一致","en":"Labels and instructions match the product"}}],"effective_at":"2025-11-02T00:00:00Z","expires_at":"2028-11-02T00:00:00Z","status":"active","status_changed_at":"2025-11-02T00:00:00Z","version":8,"updated_at":"2025-11-02T00:00:00Z","verify_url":"https://verify.qualitycommit.example/commitments/cmt_0000001_1"}`,
	`{"id":"ins_00000001","enterprise_id":"ent_0000001","category":"household_appliances","product":{"name":{"zh":"电热水壶","en":"Electric kettle"},"brand":"清源","model":"QY-1000","batch":"20261006-9","gtin":"06910000100003"},"authority":{"zh":"浙江省市场监督管理局","en":"Zhejiang Administration for Market Regulation"},"sampled_at":"2026-10-06T10:00:00Z","published_at":"2026-10-28T10:00:00Z","result":"pass","report_no":"QC2026000001","version":9,"updated_at":"2026-10-28T10:00:00Z","verify_url":"https://verify.qualitycommit.example/inspections/ins_00000001"}`,
}

// BenchmarkCanonicalJSON is the canonical form's share of a status's
// verification, apart from encoding/json and the hashes:
//
//	go test -run '^$' -bench BenchmarkCanonicalJSON -benchmem -count 5 ./client/
func BenchmarkCanonicalJSON(b *testing.B) {
	recs := make([][]byte, len(benchRecords))
	for i, r := range benchRecords {
		recs[i] = []byte(r)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		for _, r := range recs {
			var err error
			if buf, err = appendCanonicalJSON(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestHasDuplicateKey(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`: false,
		`{"a":{"b":1,"b":2}}`:                       true,
		`[{"a":1},{"b":1,"c":[],"b":2}]`:            true,
		`{"a":1,"\u0061":2}`:                        true,
		`{"a":[{"x":1}],"b":{"x":2}}`:               false,
		`{"a":{},"a":[]}`:                           true,
	} {
		if got := hasDuplicateKey([]byte(in)); got != want {
			t.Errorf("hasDuplicateKey(%s) = %v", in, got)
		}
	}
}

// ordinary8 says of eight bytes what the byte-by-byte test says of each:
// every byte value at every position, among ordinary bytes and among the
// bytes next to the boundaries (where a borrow could go wrong).
func TestOrdinary8(t *testing.T) {
	ordinary := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	for _, fill := range []byte{'a', ' ', '!', '#', '[', ']', 0x7f, 0x1f, 0x00, 0x80, '"', '\\'} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := true
				for _, b := range w {
					want = want && ordinary(b)
				}
				if got := ordinary8(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("ordinary8(%q) = %v", w, got)
				}
			}
		}
	}
}
