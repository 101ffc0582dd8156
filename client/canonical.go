package client

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// appendCanonicalJSON appends src, one JSON value, in RFC 8785 canonical
// form: object members sorted by their keys' UTF-16 code units, no
// insignificant space, strings escaped as appendCanonicalString does,
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
		s, rest, err := readJSONString(src)
		if err != nil {
			return nil, nil, err
		}
		return appendCanonicalString(dst, s), rest, nil
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

// member is an object's member: its key, and its value as src holds it.
type member struct {
	key string
	val []byte
}

func canonObject(dst, src []byte) ([]byte, []byte, error) {
	var buf [16]member
	ms := buf[:0]
	rest := skipSpace(src[1:])
	if len(rest) > 0 && rest[0] == '}' {
		return append(dst, "{}"...), rest[1:], nil
	}
	for {
		if len(rest) == 0 || rest[0] != '"' {
			return nil, nil, errors.New("an object member without a key")
		}
		key, after, err := readJSONString(rest)
		if err != nil {
			return nil, nil, err
		}
		after = skipSpace(after)
		if len(after) == 0 || after[0] != ':' {
			return nil, nil, errors.New("an object key without a value")
		}
		after = skipSpace(after[1:])
		n, err := valueLen(after)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, member{key, after[:n]})
		rest = skipSpace(after[n:])
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
	slices.SortFunc(ms, func(a, b member) int { return compareUTF16(a.key, b.key) })
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			if m.key == ms[i-1].key {
				return nil, nil, fmt.Errorf("%w: %q", errDuplicateKey, shorten(m.key))
			}
			dst = append(dst, ',')
		}
		dst = appendCanonicalString(dst, m.key)
		dst = append(dst, ':')
		var err error
		if dst, _, err = canonValue(dst, m.val); err != nil {
			return nil, nil, err
		}
	}
	return append(dst, '}'), rest, nil
}

// valueLen is the length of the JSON value src starts with, checked only
// as far as finding its end; canonValue checks the rest.
func valueLen(src []byte) (int, error) {
	depth, i := 0, 0
	for i < len(src) {
		switch c := src[i]; c {
		case '"':
			n, err := stringLen(src[i:])
			if err != nil {
				return 0, err
			}
			i += n
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, nil
			}
			i++
		default:
			if depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return i, nil
			}
			i++
		}
		if depth == 0 && i > 0 && (src[i-1] == '"' || src[i-1] == '}' || src[i-1] == ']') {
			return i, nil
		}
	}
	if depth != 0 {
		return 0, errJSONEnd
	}
	return i, nil
}

// stringLen is the length of the JSON string src starts with, quotes
// included.
func stringLen(src []byte) (int, error) {
	for i := 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errJSONEnd
}

// readJSONString reads the JSON string src starts with.
func readJSONString(src []byte) (string, []byte, error) {
	n, err := stringLen(src)
	if err != nil {
		return "", nil, err
	}
	raw := src[1 : n-1]
	if !slices.Contains(raw, '\\') {
		return string(raw), src[n:], nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return "", nil, errJSONEnd
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok {
				return "", nil, errors.New("a malformed \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, ok = hex4(raw[i+3:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError // a lone surrogate, as encoding/json reads one
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", nil, fmt.Errorf("the escape \\%c", raw[i])
		}
	}
	return string(out), src[n:], nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(v), err == nil
}
