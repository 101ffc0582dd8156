package etag_test

import (
	"testing"

	"github.com/qualitycommit/qcsdk/internal/etag"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		ifNoneMatch string
		etag        string
		want        bool
	}{
		// Weak comparison (RFC 9110 §8.8.3.2): the opaque tags are
		// compared, whether or not either is weak.
		{"same strong tag", `"abc"`, `"abc"`, true},
		{"other tag", `"abd"`, `"abc"`, false},
		{"weak in the request", `W/"abc"`, `"abc"`, true},
		{"weak on the server", `"abc"`, `W/"abc"`, true},
		{"weak on both", `W/"abc"`, `W/"abc"`, true},
		{"tags are case-sensitive", `"ABC"`, `"abc"`, false},
		{"empty opaque tag", `""`, `""`, true},

		// Lists, with the optional whitespace and the empty elements a
		// recipient must accept (RFC 9110 §5.6.1).
		{"second of a list", `"x", "abc"`, `"abc"`, true},
		{"none of a list", `"x", W/"y"`, `"abc"`, false},
		{"no spaces", `"x","abc"`, `"abc"`, true},
		{"tabs and empty elements", ",\t\"x\" , ,\"abc\",", `"abc"`, true},
		{"a comma inside a tag is part of it", `"a,b"`, `"a,b"`, true},
		{"a comma inside a tag does not split it", `"x,abc"`, `"abc"`, false},
		{"a tag split at its comma is not two", `"a,b"`, `"a"`, false},

		// "*" matches any current representation, but only on its own.
		{"star", `*`, `"abc"`, true},
		{"star with spaces", ` * `, `W/"abc"`, true},
		{"star in a list is malformed", `"x", *`, `"abc"`, false},
		{"star weak is malformed", `W/*`, `"abc"`, false},
		{"star with no current tag", `*`, ``, false},

		// A malformed field is ignored: nothing matches, so the full
		// answer is sent, which is always safe.
		{"empty field", ``, `"abc"`, false},
		{"only commas", ` , ,`, `"abc"`, false},
		{"unquoted", `abc`, `"abc"`, false},
		{"unterminated", `"abc`, `"abc"`, false},
		{"lowercase weak prefix", `w/"abc"`, `"abc"`, false},
		{"space after W/", `W/ "abc"`, `"abc"`, false},
		{"text after a tag", `"abc"x`, `"abc"`, false},
		{"two tags without a comma", `"x" "abc"`, `"abc"`, false},
		{"a malformed element spoils the list", `"abc", x`, `"abc"`, false},
		{"a space inside a tag", `"a bc"`, `"a bc"`, false},
		{"a control byte inside a tag", "\"a\x01\"", "\"a\x01\"", false},
		{"a quote inside a tag", `"a"b"`, `"a"b"`, false},

		// The server's own tag must be one too.
		{"unquoted server tag", `abc`, `abc`, false},
		{"empty server tag", `""`, ``, false},

		// obs-text is allowed inside a tag.
		{"obs-text", "\"caf\xe9\"", "\"caf\xe9\"", true},
	} {
		if got := etag.Match(tc.ifNoneMatch, tc.etag); got != tc.want {
			t.Errorf("%s: Match(%q, %q) = %v, want %v", tc.name, tc.ifNoneMatch, tc.etag, got, tc.want)
		}
	}
}
