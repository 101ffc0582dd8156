package widget

import (
	"fmt"
	"html/template"
	"strings"
)

// Theme is a badge's colour scheme: ThemeLight (the default) or ThemeDark.
type Theme uint8

const (
	ThemeLight Theme = iota
	ThemeDark
)

func (t Theme) String() string {
	if t == ThemeDark {
		return "dark"
	}
	return "light"
}

// Size is a badge's size: SizeFull (the default: title and detail) or
// SizeCompact (the title alone). Each has fixed dimensions, so that a badge
// never shifts the page's layout as it appears.
type Size uint8

const (
	SizeFull Size = iota
	SizeCompact
)

func (s Size) String() string {
	if s == SizeCompact {
		return "compact"
	}
	return "full"
}

// dimensions of each size, in CSS pixels; the SVG uses the same.
var dimensions = [...]struct{ W, H int }{
	SizeFull:    {260, 56},
	SizeCompact: {200, 28},
}

// state is a verdict as the stylesheet names it. The three ways a
// commitment stops being in force are states of their own: a shopper must
// tell a revoked commitment from one that merely lapsed at a glance.
type state uint8

const (
	stateCommitted state = iota
	stateFailed
	stateSuspended
	stateRevoked
	stateExpired
	stateNotListed
	stateUnknown
	numStates
)

var stateNames = [numStates]string{"committed", "failed", "suspended", "revoked", "expired", "not-listed", "unknown"}

func (s state) String() string { return stateNames[s] }

// stateClasses are a state's classes: the withdrawn states keep the
// qcb-withdrawn class they had before they were told apart, so that a
// host page's rules for it still apply.
var stateClasses = [numStates]string{
	"qcb-committed", "qcb-failed",
	"qcb-withdrawn qcb-suspended", "qcb-withdrawn qcb-revoked", "qcb-withdrawn qcb-expired",
	"qcb-not-listed", "qcb-unknown",
}

// palette is a state's colours in one theme. Every foreground has a
// contrast of at least 4.5:1 with its background (WCAG AA for text; a
// test checks it), every state's background differs from every other's
// in the same theme, and no state is told apart by colour alone: each
// has its own icon and words.
type palette struct{ FG, BG, Border string }

var palettes = [2][numStates]palette{
	ThemeLight: {
		stateCommitted: {"#0b5d1e", "#e9f6ed", "#2e8b4a"},
		stateFailed:    {"#8a1c00", "#fdece8", "#c2410c"},
		stateSuspended: {"#6b4500", "#fff3d6", "#c98a00"},
		stateRevoked:   {"#6d1a4f", "#f9e6f1", "#b0407f"},
		stateExpired:   {"#2d4660", "#e7eef6", "#6b88a8"},
		stateNotListed: {"#3b3b3b", "#eeeeee", "#9a9a9a"},
		stateUnknown:   {"#3b3b3b", "#ffffff", "#8a8a8a"},
	},
	ThemeDark: {
		stateCommitted: {"#a8e6b8", "#10291a", "#3f9d5c"},
		stateFailed:    {"#ffb7a6", "#3a1510", "#e0623e"},
		stateSuspended: {"#ffd98a", "#33260a", "#b8860b"},
		stateRevoked:   {"#f5b3dc", "#361327", "#b0407f"},
		stateExpired:   {"#b9d0ea", "#172433", "#5a7ea6"},
		stateNotListed: {"#d9d9d9", "#2a2a2a", "#6b6b6b"},
		stateUnknown:   {"#d9d9d9", "#141414", "#6b6b6b"},
	},
}

// stylesheet is built once from the dimensions and palettes, so that the
// CSS, the SVG and the contrast test agree.
var stylesheet = buildStylesheet()

func buildStylesheet() string {
	var b strings.Builder
	// Every rule is scoped to qcb- classes, and the badge resets what a
	// host page's element rules (a, span) could have set.
	b.WriteString(`.qcb{box-sizing:border-box;display:inline-flex;align-items:center;gap:6px;overflow:hidden;vertical-align:middle;` +
		`margin:0;border:1px solid;border-radius:6px;font:400 13px/1.3 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;` +
		`text-decoration:none;text-align:left;white-space:nowrap;letter-spacing:normal;max-width:100%}` + "\n")
	for s, d := range dimensions {
		pad := "6px 10px"
		if Size(s) == SizeCompact {
			pad = "2px 6px"
		}
		fmt.Fprintf(&b, ".qcb-%s{width:%dpx;height:%dpx;padding:%s}\n", Size(s), d.W, d.H, pad)
	}
	// The words are sized to fit their box in both locales with the
	// widest common fallback font (DejaVu Sans; the browser suite measures
	// them); the ellipsis only guards a font wider still.
	b.WriteString(".qcb-icon{flex:none;width:18px;text-align:center;font-weight:700}\n" +
		".qcb-text{display:flex;flex-direction:column;min-width:0}\n" +
		".qcb-title{font-weight:600;overflow:hidden;text-overflow:ellipsis}\n" +
		".qcb-detail{font-size:12px;overflow:hidden;text-overflow:ellipsis}\n" +
		".qcb-compact{gap:4px;font-size:12px}\n" +
		".qcb-compact .qcb-icon{width:16px}\n" +
		// A compact badge has one line: its detail is only for the
		// accessible name, but for a stale answer's date, which shows
		// beside the title so that it never passes for a fresh one.
		".qcb-compact .qcb-text{flex-direction:row;align-items:baseline;gap:4px}\n" +
		".qcb-compact .qcb-detail{display:none}\n" +
		".qcb-compact.qcb-stale .qcb-detail{display:block}\n" +
		// Unknown is told from every answer by its dashed frame too.
		".qcb-unknown{border-style:dashed}\n" +
		"a.qcb:hover .qcb-title{text-decoration:underline}\n" +
		"a.qcb:focus-visible{outline:2px solid currentColor;outline-offset:2px}\n")
	for t := range palettes {
		for s, p := range palettes[t] {
			fmt.Fprintf(&b, ".qcb-%s.qcb-%s{color:%s;background:%s;border-color:%s}\n", Theme(t), state(s), p.FG, p.BG, p.Border)
		}
	}
	return b.String()
}

// StyleTag is the CSS every badge needs (about 2 KB) in a <style>
// element, for pages that inline it rather than link the Handler's
// badge.css. Pass the page's CSP nonce, or "" for none.
func StyleTag(nonce string) template.HTML {
	if nonce == "" {
		return template.HTML("<style>" + stylesheet + "</style>")
	}
	return template.HTML(`<style nonce="` + template.HTMLEscapeString(nonce) + `">` + stylesheet + "</style>")
}
