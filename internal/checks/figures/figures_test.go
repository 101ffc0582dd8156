package figures

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// section is one claim of BENCHMARKS.md: a ## or ### heading and what
// follows it up to the next heading.
type section struct {
	title    string
	anchor   string
	line     int      // of the heading, 1-based
	text     string   // the heading, prose and tables, code blocks left out, normalised
	commands int      // ```sh blocks
	headers  []string // each table's header row, normalised
	headerAt []int    // and its line
}

// parseBenchmarks splits BENCHMARKS.md into its sections. What precedes
// the first ## heading (the title and contents) is no section. A line
// starting with # inside a code block is a shell comment, not a heading.
func parseBenchmarks(src string) []section {
	var (
		secs    []section
		text    []string
		fenced  bool
		inTable bool
		slugs   = map[string]int{}
	)
	flush := func() {
		if len(secs) > 0 {
			secs[len(secs)-1].text = normalise(strings.Join(text, "\n"))
		}
		text = nil
	}
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if !fenced && len(secs) > 0 && strings.TrimSpace(strings.TrimPrefix(trimmed, "```")) == "sh" {
				secs[len(secs)-1].commands++
			}
			fenced = !fenced
			inTable = false
			continue
		}
		if fenced {
			continue
		}
		if level, title, ok := heading(line); ok && level >= 2 {
			flush()
			secs = append(secs, section{title: title, anchor: uniqueSlug(slugs, title), line: i + 1})
			text = append(text, title) // a link may name its section
			inTable = false
			continue
		}
		if len(secs) == 0 {
			continue
		}
		text = append(text, line)
		isRow := strings.HasPrefix(trimmed, "|")
		if isRow && !inTable {
			s := &secs[len(secs)-1]
			s.headers = append(s.headers, normalise(trimmed))
			s.headerAt = append(s.headerAt, i+1)
		}
		inTable = isRow
	}
	flush()
	return secs
}

// heading reports a Markdown ATX heading's level and text.
func heading(line string) (level int, title string, ok bool) {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || n > 6 || len(line) == n || line[n] != ' ' {
		return 0, "", false
	}
	return n, strings.TrimSpace(line[n:]), true
}

// slug is GitHub's anchor for a heading: lower case, letters, digits,
// '-' and '_' kept, spaces made '-', everything else dropped.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// uniqueSlug numbers a repeated heading's anchor as GitHub does (-1, -2).
func uniqueSlug(seen map[string]int, title string) string {
	s := slug(title)
	n := seen[s]
	seen[s] = n + 1
	if n > 0 {
		return fmt.Sprintf("%s-%d", s, n)
	}
	return s
}

var (
	spaces    = strings.NewReplacer("\u2009", " ", "\u202f", " ", "\u00a0", " ", "\u200a", " ", "**", "", "`", "")
	hyphenRun = regexp.MustCompile(`(\d)-(\d)`)
	dashed    = regexp.MustCompile(` ?[–—] ?`)
	unitSpace = regexp.MustCompile(`(\d) (\S)`)
)

// normalise makes a figure and the text it is looked for in comparable:
// thin and no-break spaces are spaces, bold and code marks go, a range's
// dash is an en dash with no space around it, and a number is joined to
// its unit ("1.4 – 3.5 ms" and "1.4–3.5 ms" are both "1.4–3.5ms").
func normalise(s string) string {
	s = spaces.Replace(s)
	s = strings.Join(strings.Fields(s), " ")
	s = hyphenRun.ReplaceAllString(s, "$1–$2")
	s = dashed.ReplaceAllString(s, "–")
	return unitSpace.ReplaceAllString(s, "$1$2")
}

// states reports whether a section's normalised text states a normalised
// figure: where it appears, it is not part of a longer number or word
// ("3.5ms" is not in "13.5ms", "1.4" not in "1.42"). A range is stated
// when it appears whole, or when each of its ends does: a README may
// sum up a table's rows as their least and greatest.
func states(text, fig string) bool {
	if appears(text, fig) {
		return true
	}
	lo, hi, ok := strings.Cut(fig, "–")
	if !ok || lo == "" || hi == "" {
		return false
	}
	unit := strings.TrimLeftFunc(hi, func(r rune) bool { return unicode.IsDigit(r) || r == '.' || r == ',' })
	if last := lo[len(lo)-1]; last >= '0' && last <= '9' {
		lo += unit
	}
	return appears(text, lo) && appears(text, hi)
}

func appears(text, fig string) bool {
	if fig == "" {
		return false
	}
	first := []rune(fig)[0]
	last := []rune(fig)[len([]rune(fig))-1]
	for from := 0; from < len(text); {
		j := strings.Index(text[from:], fig)
		if j < 0 {
			return false
		}
		j += from
		from = j + 1
		before := []rune(text[:j])
		after := []rune(text[j+len(fig):])
		if len(before) > 0 {
			b := before[len(before)-1]
			if isNumberPart(b) && unicode.IsDigit(first) {
				continue
			}
			if unicode.IsLetter(first) && unicode.IsLetter(b) {
				continue
			}
		}
		if len(after) > 0 {
			a := after[0]
			if unicode.IsDigit(last) && (unicode.IsDigit(a) || (a == '.' || a == ',') && len(after) > 1 && unicode.IsDigit(after[1])) {
				continue
			}
			if unicode.IsLetter(last) && unicode.IsLetter(a) {
				continue
			}
		}
		return true
	}
	return false
}

func isNumberPart(r rune) bool { return unicode.IsDigit(r) || r == '.' || r == ',' }

// benchLink is a link into BENCHMARKS.md at a heading.
var benchLink = regexp.MustCompile(`\[([^\]]+)\]\(BENCHMARKS\.md#([^)\s]+)\)`)

// ownLink is a link from BENCHMARKS.md to one of its own headings.
var ownLink = regexp.MustCompile(`\]\(#([^)\s]+)\)`)

func readRoot(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", name)) // internal/checks/figures
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func byAnchor(secs []section) map[string]section {
	m := make(map[string]section, len(secs))
	for _, s := range secs {
		m[s.anchor] = s
	}
	return m
}

// linkProblems returns, for each link of doc into BENCHMARKS.md, what is
// wrong with it: an anchor that names no section, or a figure its
// section does not state.
func linkProblems(doc, name string, secs []section) (problems []string, links int) {
	anchors := byAnchor(secs)
	for i, line := range strings.Split(doc, "\n") {
		for _, m := range benchLink.FindAllStringSubmatch(line, -1) {
			links++
			fig, anchor := m[1], m[2]
			s, ok := anchors[anchor]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s:%d: [%s](BENCHMARKS.md#%s): BENCHMARKS.md has no heading with that anchor", name, i+1, fig, anchor))
			case !states(s.text, normalise(fig)):
				problems = append(problems, fmt.Sprintf("%s:%d: %q is not what BENCHMARKS.md:%d (%q) states: correct it to the section's table, or re-measure",
					name, i+1, fig, s.line, s.title))
			}
		}
	}
	return problems, links
}

func TestREADMEFiguresMatchTheirTables(t *testing.T) {
	secs := parseBenchmarks(readRoot(t, "BENCHMARKS.md"))
	problems, links := linkProblems(readRoot(t, "README.md"), "README.md", secs)
	for _, p := range problems {
		t.Error(p)
	}
	if links == 0 {
		t.Error("README.md links no figure to BENCHMARKS.md#…: the parser or the README lost them")
	}
}

func TestBenchmarksLinksResolve(t *testing.T) {
	src := readRoot(t, "BENCHMARKS.md")
	anchors := byAnchor(parseBenchmarks(src))
	for i, line := range strings.Split(src, "\n") {
		for _, m := range ownLink.FindAllStringSubmatch(line, -1) {
			if _, ok := anchors[m[1]]; !ok {
				t.Errorf("BENCHMARKS.md:%d: #%s names no heading", i+1, m[1])
			}
		}
	}
}

// Each claim has the command that reproduces it and one current table.
// Two tables of the same shape in one section are a claim measured twice
// (keep the latest; git keeps the rest) or two claims (make two sections).
func TestEachClaimHasACommandAndOneTable(t *testing.T) {
	secs := parseBenchmarks(readRoot(t, "BENCHMARKS.md"))
	if len(secs) < 10 {
		t.Fatalf("BENCHMARKS.md: %d sections found; the parser lost them", len(secs))
	}
	for _, s := range secs {
		if s.commands == 0 {
			t.Errorf("BENCHMARKS.md:%d %q: no ```sh block with the command that reproduces it", s.line, s.title)
		}
		first := map[string]int{}
		for i, h := range s.headers {
			if at, ok := first[h]; ok {
				t.Errorf("BENCHMARKS.md:%d %q: the table at line %d has the shape of the one at line %d: keep one current table per claim",
					s.line, s.title, s.headerAt[i], at)
				continue
			}
			first[h] = s.headerAt[i]
		}
	}
}

func TestSlug(t *testing.T) {
	for title, want := range map[string]string{
		"Client: a product lookup vs a bare net/http GET":                  "client-a-product-lookup-vs-a-bare-nethttp-get",
		"Widget: a cold listing page under faults (cmd/qcload -mode page)": "widget-a-cold-listing-page-under-faults-cmdqcload--mode-page",
		"Sandbox: building a 1,000,000-product data set":                   "sandbox-building-a-1000000-product-data-set",
		"The watcher's first start, and a night's sync":                    "the-watchers-first-start-and-a-nights-sync",
	} {
		if got := slug(title); got != want {
			t.Errorf("slug(%q) = %q, want %q", title, got, want)
		}
	}
}

func TestStates(t *testing.T) {
	for _, c := range []struct {
		text, fig string
		want      bool
	}{
		{"| sequential | 0.96× | 0 |", "0.96×", true},
		{"median (+1.4–3.5 ms a pair)", "1.4–3.5 ms", true},
		{"median (+1.4 – 3.5 ms a pair)", "1.4–3.5\u2009ms", true},
		{"median (+1.4-3.5 ms a pair)", "1.4–3.5 ms", true},
		{"| 1 | 13 ms |\n| 2 | 14 ms |\n| 3 | 12 ms |", "12–14 ms", true},
		{"| 1 | 13 ms |\n| 2 | 14 ms |", "12–14 ms", false},
		{"1.48 s (12 changes) | 736 ms (4) | 1.74 s (15)", "736 ms–1.74 s", true},
		{"p99 13.5 ms", "3.5 ms", false},
		{"p99 3.55 ms", "3.5 ms", false},
		{"| 1,000,000 | **1,362** |", "1,362", true},
		{"| 1,000,000 | **1,362** |", "362", false},
		{"| 1,000,000 | **1,362** |", "1.4 KB", false},
		{"61.3 (quota 200)", "61", false},
		{"61.3 (quota 200)", "61.3", true},
		{"About 1,300 times less time", "1,300 times", true},
		{"3.6 %", "3.4–4.1 %", false},
	} {
		if got := states(normalise(c.text), normalise(c.fig)); got != c.want {
			t.Errorf("states(%q, %q) = %v, want %v", c.text, c.fig, got, c.want)
		}
	}
}

func TestParseSkipsShellComments(t *testing.T) {
	src := "# Benchmarks\n\n| claim | verdict |\n|---|---|\n\n## A: one\n\n```sh\ngo test\n# one row: a shell comment\n```\n\n| a | b |\n|---|---|\n| 1 ms | 2 |\n\n### B: two\n\n| a | b |\n|---|---|\n| 3 | 4 |\n"
	secs := parseBenchmarks(src)
	if len(secs) != 2 || secs[0].title != "A: one" || secs[1].title != "B: two" {
		t.Fatalf("sections %+v, want A: one and B: two", secs)
	}
	if secs[0].commands != 1 || secs[1].commands != 0 || len(secs[0].headers) != 1 || len(secs[1].headers) != 1 {
		t.Errorf("commands %d, %d, tables %d, %d; want 1, 0, 1, 1", secs[0].commands, secs[1].commands, len(secs[0].headers), len(secs[1].headers))
	}
	if !states(secs[0].text, normalise("1 ms")) || states(secs[1].text, normalise("1 ms")) {
		t.Errorf("a section's text runs into the next: %q / %q", secs[0].text, secs[1].text)
	}
}
