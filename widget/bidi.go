package widget

import (
	"strings"
	"unicode/utf8"
)

// Registry text may be in any script, and may carry bidirectional
// controls, by mistake or by design: an unterminated RIGHT-TO-LEFT
// OVERRIDE in a maker's name would otherwise reverse everything after it
// on the page — its credit code, the next result, the dates. Every
// registry string the pages show goes through Isolate (words) or LTR
// (identifiers).
//
// They work with Unicode's isolates (UAX #9) rather than <bdi>, so that
// they hold in a <title>, an <option>, an attribute and a sentence built
// of several strings alike, where an element cannot go. The text's own
// isolate controls are removed first, so that no string can close the
// isolate it sits in; the embeddings and overrides it opens end at the
// isolate's end.

const (
	lri = "\u2066" // LEFT-TO-RIGHT ISOLATE
	fsi = "\u2068" // FIRST STRONG ISOLATE
	pdi = "\u2069" // POP DIRECTIONAL ISOLATE
)

// isolateControls are the characters that open or close an isolate.
var isolateControls = strings.NewReplacer("\u2066", "", "\u2067", "", "\u2068", "", "\u2069", "")

// bidiControls are every explicit directional formatting character, and
// the marks.
var bidiControls = strings.NewReplacer(
	"\u061c", "", "\u200e", "", "\u200f", "",
	"\u202a", "", "\u202b", "", "\u202c", "", "\u202d", "", "\u202e", "",
	"\u2066", "", "\u2067", "", "\u2068", "", "\u2069", "")

// Isolate returns registry text ready to sit among other words: its
// direction is its own first strong character's, and nothing in it can
// change the direction of what comes after it. Use it for every registry
// string a page shows (names, wording, authorities), in HTML text and in
// attributes; html/template still escapes the result.
func Isolate(s string) string {
	if s == "" {
		return ""
	}
	return fsi + isolateControls.Replace(validUTF8(s)) + pdi
}

// validUTF8 replaces what is not UTF-8 in s before a control is taken
// out of it: otherwise the bytes on either side of a removed control
// could join into one — "\xe2\x81" and "\xa9" around a LEFT-TO-RIGHT
// ISOLATE make a POP DIRECTIONAL ISOLATE once it is gone, closing the
// isolate early.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// LTR returns an identifier — a credit code, a GTIN, a report number, a
// date — that always reads left to right in its true order: its
// directional controls are removed, and it is isolated as left-to-right.
func LTR(s string) string {
	if s == "" {
		return ""
	}
	return lri + bidiControls.Replace(validUTF8(s)) + pdi
}
