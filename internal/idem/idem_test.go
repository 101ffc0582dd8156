package idem_test

import (
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/internal/idem"
)

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  string
		want bool
	}{
		// Length: 1 to 255 bytes.
		{"empty", "", false},
		{"one character", "a", true},
		{"255 characters", strings.Repeat("k", 255), true},
		{"256 characters", strings.Repeat("k", 256), false},
		{"a uuid", "3f2c8e7a-9b1d-4c6e-8f0a-2d4b6c8e0f12", true},
		{"the report form's key", "qcw-AbC_dEf-123-xYz_Q", true},

		// Characters: visible ASCII, 0x21 '!' to 0x7e '~', and nothing else.
		{"lowest visible", "!", true},
		{"highest visible", "~", true},
		{"every visible character", visibleASCII(), true},
		{"space", "a b", false},
		{"leading space", " ab", false},
		{"tab", "a\tb", false},
		{"newline", "a\nb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII letter", "clé", false},
		{"full-width digit", "key１", false},
		{"invalid UTF-8", "a\xffb", false},
		{"a bad byte at the end of a long key", strings.Repeat("k", 254) + "\x7f", false},
	} {
		if got := idem.ValidKey(tc.key); got != tc.want {
			t.Errorf("%s: ValidKey(%.40q) = %v; want %v", tc.name, tc.key, got, tc.want)
		}
	}
}

func visibleASCII() string {
	var b strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		b.WriteByte(c)
	}
	return b.String()
}
