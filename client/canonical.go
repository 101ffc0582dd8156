package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// appendCanonicalJSON appends src, one JSON value, in RFC 8785 canonical
// form: object members sorted by their keys' UTF-16 code units, no
// insignificant space, strings escaped as appendCanonicalRune does,
// integers as they are. A number with a fraction or an exponent is
// refused: the registry's records hold integers only, and ECMAScript's
// formatting of others is not reproduced here.
//
// It reads the bytes encoding/json wrote rather than a decoded value, so
// that a record's digest costs no map or interface per field: every leaf
// of the log is one, and a large registry's first checkpoint makes tens
// of thousands of them.
func appendCanonicalJSON(dst, src []byte) ([]byte, error) {
	dst, rest, err := canonValue(dst, skipSpace(src))
	if err != nil {
		return nil, err
	}
	if len(skipSpace(rest)) != 0 {
		return nil, errors.New("data after the JSON value")
	}
	return dst, nil
}

var (
	errJSONEnd = errors.New("the JSON value ends early")
	// errDuplicateKey: RFC 8785 takes I-JSON, whose objects name each
	// key once; no record encodes another way.
	errDuplicateKey = errors.New("an object names a key twice")
)

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// canonValue appends the value src starts with, and returns what follows
// it.
func canonValue(dst, src []byte) ([]byte, []byte, error) {
	if len(src) == 0 {
		return nil, nil, errJSONEnd
	}
	switch c := src[0]; {
	case c == '{':
		return canonObject(dst, src)
	case c == '[':
		dst = append(dst, '[')
		rest := skipSpace(src[1:])
		if len(rest) > 0 && rest[0] == ']' {
			return append(dst, ']'), rest[1:], nil
		}
		for {
			var err error
			if dst, rest, err = canonValue(dst, rest); err != nil {
				return nil, nil, err
			}
			rest = skipSpace(rest)
			if len(rest) == 0 {
				return nil, nil, errJSONEnd
			}
			if rest[0] == ']' {
				return append(dst, ']'), rest[1:], nil
			}
			if rest[0] != ',' {
				return nil, nil, fmt.Errorf("%q in an array", rest[0])
			}
			dst = append(dst, ',')
			rest = skipSpace(rest[1:])
		}
	case c == '"':
		n, plain, err := scanString(src)
		if err != nil {
			return nil, nil, err
		}
		if plain {
			// Nearly every string of a record: already as RFC 8785
			// writes it, so copied as it is.
			return append(dst, src[:n]...), src[n:], nil
		}
		dst, err = appendCanonicalRaw(dst, src[1:n-1])
		return dst, src[n:], err
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(src) >= len(lit) && string(src[:len(lit)]) == lit {
				return append(dst, lit...), src[len(lit):], nil
			}
		}
		return nil, nil, fmt.Errorf("%q is not a JSON literal", shorten(string(src[:min(len(src), 8)])))
	case c == '-' || c >= '0' && c <= '9':
		n := 1
		for n < len(src) && (src[n] >= '0' && src[n] <= '9' || src[n] == '.' || src[n] == 'e' || src[n] == 'E' || src[n] == '+' || src[n] == '-') {
			n++
		}
		v, err := strconv.ParseInt(string(src[:n]), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("a number the canonical form does not take: %s", src[:n])
		}
		return strconv.AppendInt(dst, v, 10), src[n:], nil
	}
	return nil, nil, fmt.Errorf("%q does not start a JSON value", src[0])
}

// member is an object's member: its key as it reads (escapes undone),
// to sort by, and where canonObject wrote it, key and value, in dst.
type member struct {
	key        []byte
	start, end int
}

// canonObject writes the object's members as they come, each key and
// value canonical, then (unless they came in order) again in order after
// them, and moves that down over them: one pass over src, whatever the
// depth, and bytes moved rather than values parsed twice.
func canonObject(dst, src []byte) ([]byte, []byte, error) {
	// A record's objects have a few members to a dozen or so: on the
	// stack, however many objects a record nests.
	var buf [16]member
	ms := buf[:0]
	open := len(dst)
	dst = append(dst, '{')
	rest := skipSpace(src[1:])
	if len(rest) > 0 && rest[0] == '}' {
		return append(dst, '}'), rest[1:], nil
	}
	for {
		if len(rest) == 0 || rest[0] != '"' {
			return nil, nil, errors.New("an object member without a key")
		}
		n, plain, err := scanString(rest)
		if err != nil {
			return nil, nil, err
		}
		if len(ms) > 0 {
			dst = append(dst, ',')
		}
		m := member{key: rest[1 : n-1], start: len(dst)}
		if plain {
			dst = append(dst, rest[:n]...)
		} else {
			// Sorted and told apart by what it reads: "\u0062" is "b".
			// Rare (a record's keys are its fields' names), so allocated.
			if m.key, err = appendUnescaped(nil, m.key); err != nil {
				return nil, nil, err
			}
			dst = appendCanonicalText(dst, m.key)
		}
		rest = skipSpace(rest[n:])
		if len(rest) == 0 || rest[0] != ':' {
			return nil, nil, errors.New("an object key without a value")
		}
		dst = append(dst, ':')
		if dst, rest, err = canonValue(dst, skipSpace(rest[1:])); err != nil {
			return nil, nil, err
		}
		m.end = len(dst)
		ms = append(ms, m)
		rest = skipSpace(rest)
		if len(rest) == 0 {
			return nil, nil, errJSONEnd
		}
		if rest[0] == '}' {
			rest = rest[1:]
			break
		}
		if rest[0] != ',' {
			return nil, nil, fmt.Errorf("%q in an object", rest[0])
		}
		rest = skipSpace(rest[1:])
	}
	// Sorted by index: moving an index is cheaper than moving a member.
	var ibuf [len(buf)]int32
	idx := ibuf[:0]
	for i := range ms {
		idx = append(idx, int32(i))
	}
	slices.SortFunc(idx, func(a, b int32) int { return compareUTF16(ms[a].key, ms[b].key) })
	inOrder := true
	for i, j := range idx {
		inOrder = inOrder && int(j) == i
		if i > 0 && bytes.Equal(ms[j].key, ms[idx[i-1]].key) {
			return nil, nil, fmt.Errorf("%w: %q", errDuplicateKey, shorten(string(ms[j].key)))
		}
	}
	if inOrder {
		return append(dst, '}'), rest, nil
	}
	moved := len(dst)
	dst = append(dst, '{')
	for i, j := range idx {
		if i > 0 {
			dst = append(dst, ',')
		}
		// If append moves dst, it copies from the old array, intact.
		dst = append(dst, dst[ms[j].start:ms[j].end]...)
	}
	dst = append(dst, '}')
	n := copy(dst[open:], dst[moved:])
	return dst[:open+n], rest, nil
}

// scanString is the length of the JSON string src starts with, quotes
// included, and whether it is plain: no escape, no control character and
// valid UTF-8, so that it reads as it is written and RFC 8785 writes it
// the same.
func scanString(src []byte) (n int, plain bool, err error) {
	plain = true
	i := 1
	// Most of a record's text is ordinary ASCII (ids, codes, URLs,
	// English): eight bytes a step while it lasts, then a byte a step.
	for i+8 <= len(src) && ordinary8(binary.LittleEndian.Uint64(src[i:])) {
		i += 8
	}
	for ; i < len(src); i++ {
		// One look-up for an ordinary byte, then on.
		c := src[i]
		if !stringSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain, nil
		case c == '\\':
			plain = false
			i++
		case c < 0x20:
			plain = false
		default:
			// A character beyond ASCII, taken whole: none of its bytes
			// is a quote or a backslash. Broken UTF-8 is not plain.
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			i += size - 1
		}
	}
	return 0, false, errJSONEnd
}

// ordinary8 reports whether the eight bytes of x are all ordinary ASCII:
// none a control character, a quote or a backslash, and none with its top
// bit set (part of a non-ASCII character). For bytes below 0x80,
// subtracting 0x20 from each sets a byte's top bit, by borrowing, only if
// some byte is below 0x20; and a byte equal to c, XORed with c and less
// one, borrows likewise. A borrow may mark a higher byte too, never miss
// one, so the answer is exact.
func ordinary8(x uint64) bool {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	ctrl := x - 0x20*ones
	quote := (x ^ '"'*ones) - ones
	bslash := (x ^ '\\'*ones) - ones
	return (x|ctrl|quote|bslash)&tops == 0
}

// stringSpecial marks the bytes scanString must look at: the quote, the
// backslash, control characters and the bytes of non-ASCII characters.
var stringSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// nextRune reads the first character of raw, the text between a JSON
// string's quotes: an escape, a surrogate pair of escapes, or a UTF-8
// sequence. A lone surrogate and broken UTF-8 read as U+FFFD, one per
// escape or byte, as encoding/json reads them.
func nextRune(raw []byte) (rune, int, error) {
	if raw[0] != '\\' {
		r, n := utf8.DecodeRune(raw)
		return r, n, nil
	}
	if len(raw) < 2 {
		return 0, 0, errJSONEnd
	}
	switch raw[1] {
	case '"', '\\', '/':
		return rune(raw[1]), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
		r, ok := hex4(raw[2:])
		if !ok {
			return 0, 0, errors.New("a malformed \\u escape")
		}
		if !utf16.IsSurrogate(r) {
			return r, 6, nil
		}
		if len(raw) >= 12 && raw[6] == '\\' && raw[7] == 'u' {
			if r2, ok := hex4(raw[8:]); ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return d, 12, nil
				}
			}
		}
		return utf8.RuneError, 6, nil
	}
	return 0, 0, fmt.Errorf("the escape \\%c", raw[1])
}

// appendUnescaped appends what raw, the text between a JSON string's
// quotes, reads.
func appendUnescaped(dst, raw []byte) ([]byte, error) {
	for len(raw) > 0 {
		r, n, err := nextRune(raw)
		if err != nil {
			return nil, err
		}
		dst = utf8.AppendRune(dst, r)
		raw = raw[n:]
	}
	return dst, nil
}

// appendCanonicalRaw appends the JSON string whose text between quotes is
// raw as RFC 8785 writes it.
func appendCanonicalRaw(dst, raw []byte) ([]byte, error) {
	dst = append(dst, '"')
	for len(raw) > 0 {
		r, n, err := nextRune(raw)
		if err != nil {
			return nil, err
		}
		dst = appendCanonicalRune(dst, r)
		raw = raw[n:]
	}
	return append(dst, '"'), nil
}

// appendCanonicalText appends text, valid UTF-8, as RFC 8785 writes a
// string.
func appendCanonicalText(dst, text []byte) []byte {
	dst = append(dst, '"')
	for len(text) > 0 {
		r, n := utf8.DecodeRune(text)
		dst = appendCanonicalRune(dst, r)
		text = text[n:]
	}
	return append(dst, '"')
}

// appendCanonicalRune appends r as RFC 8785 writes it in a string: quotes,
// backslashes and control characters escaped (the short escapes where
// JSON has them), everything else as it is — U+2028, "<" and the like
// included, which encoding/json would escape.
func appendCanonicalRune(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, `\"`...)
	case '\\':
		return append(dst, `\\`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	}
	if r < 0x20 {
		const hex = "0123456789abcdef"
		return append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// compareUTF16 orders two UTF-8 strings by their UTF-16 code units, as
// RFC 8785 sorts keys. Valid UTF-8 sorts byte by byte as its code points
// do, and code points as UTF-16 does but for one exception (see
// utf16Order), so only the first character that differs is decoded; an
// ASCII key costs a byte comparison.
func compareUTF16(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) - len(b)
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i-- // back to the start of the character that differs
	}
	ra, _ := utf8.DecodeRune(a[i:])
	rb, _ := utf8.DecodeRune(b[i:])
	return int(utf16Order(ra)) - int(utf16Order(rb))
}

// utf16Order maps r so that runes compare as their UTF-16 code units do: a
// character beyond the BMP starts with a surrogate (U+D800–U+DBFF), after
// U+D7FF but before U+E000–U+FFFF, which so move above them all.
func utf16Order(r rune) rune {
	if r >= 0xe000 && r <= 0xffff {
		return r + 0x110000
	}
	return r
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
