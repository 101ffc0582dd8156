package client

import (
	"encoding/json"
	"strings"
	"testing"
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
		{`[]`, `[]`},
		{`{}`, `{}`},
	} {
		dec := json.NewDecoder(strings.NewReader(c.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		got, err := appendCanonical(nil, v)
		if err != nil || string(got) != c.want {
			t.Errorf("canonical %s = %s (%v); want %s", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{`1.5`, `1e3`, `{"a":[0.1]}`} {
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, err := appendCanonical(nil, v); err == nil {
			t.Errorf("canonical %s: no error; a fraction is refused", in)
		}
	}
}
