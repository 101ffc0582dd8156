package etag

import "strings"

// Match reports whether ifNoneMatch, the value of an If-None-Match field,
// names etag, the entity-tag of the current representation, under the
// weak comparison RFC 9110 §13.1.2 prescribes for it: true means the
// answer is 304 Not Modified.
//
// The field is "*", which matches any current representation, or a list
// of entity-tags, weak (W/"…") or strong ("…"), separated by commas with
// optional whitespace; empty list elements are skipped (RFC 9110 §5.6.1).
// Weak comparison ignores the W/ of either tag and compares the quoted
// rest byte for byte. A malformed field — an unquoted or unterminated
// tag, "*" inside a list, a byte a tag may not hold, anything between
// tags but a comma — matches nothing, as if absent: the full answer is
// always a safe reply. So does an etag that is not an entity-tag.
func Match(ifNoneMatch, etag string) bool {
	current, ok := opaque(etag)
	if !ok {
		return false
	}
	field := strings.Trim(ifNoneMatch, " \t")
	if field == "*" {
		return true
	}
	matched := false
	for rest := field; ; {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return matched
		}
		if rest[0] == ',' {
			rest = rest[1:]
			continue
		}
		tag, after, ok := scan(rest)
		if !ok {
			return false
		}
		// The whole field is read even after a match, so that a
		// malformed one never matches.
		matched = matched || tag == current
		after = strings.TrimLeft(after, " \t")
		if after != "" && after[0] != ',' {
			return false
		}
		rest = after
	}
}

// opaque returns the quoted part of an entity-tag that is nothing else.
func opaque(etag string) (string, bool) {
	tag, rest, ok := scan(etag)
	return tag, ok && rest == ""
}

// scan reads the entity-tag at the start of s: its opaque tag, quotes
// included, without any W/, and the text after it.
func scan(s string) (tag, rest string, ok bool) {
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		// etagc = %x21 / %x23-7E / obs-text
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80:
		default:
			return "", "", false
		}
	}
	return "", "", false
}
