package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// progress is a progress bar on stderr, shown only when stderr is a
// terminal: the bytes of input read, out of the file's size when known.
type progress struct {
	bar *progressbar.ProgressBar // nil: not shown
}

func newProgress(stderr io.Writer, size int64) *progress {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("auditing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)}
}

// reader counts what is read from r on the bar.
func (p *progress) reader(r io.Reader) io.Reader {
	if p.bar == nil {
		return r
	}
	pr := progressbar.NewReader(r, p.bar)
	return &pr
}

// println writes a line to stderr, clearing the bar first; it is drawn
// again at the next read.
func (p *progress) println(stderr io.Writer, line string) {
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(stderr, line)
}

// finish takes the bar off the screen.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Clear()
		p.bar.Exit()
	}
}

// verdictOrder is the order the summary lists verdicts in; verdicts this
// version does not know come after, by name.
var verdictOrder = []client.Verdict{client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn,
	client.VerdictNotListed, client.VerdictUnknown}

// printSummary writes the summary table.
func printSummary(stderr io.Writer, sum audit.Summary) {
	type line struct{ label, value, note string }
	var lines []line
	row := func(label string, n int64, note string) { lines = append(lines, line{label, group(n), note}) }
	row("listings", int64(sum.Listings), "")
	row("products looked up", int64(sum.Keys), "distinct keys, and any looked up again")
	row("API calls", int64(sum.Calls), "batches of up to 100 keys")
	verdicts := slices.Clone(verdictOrder)
	for v := range sum.Verdicts {
		if !slices.Contains(verdicts, v) {
			verdicts = append(verdicts, v)
		}
	}
	slices.SortFunc(verdicts[len(verdictOrder):], func(a, b client.Verdict) int { return strings.Compare(string(a), string(b)) })
	for _, v := range verdicts {
		note := "flagged"
		if v == client.VerdictCommitted {
			note = ""
		}
		row("  "+safeText(string(v)), int64(sum.Verdicts[v]), note)
	}
	for i, c := range slices.DeleteFunc(slices.Clone(audit.ReasonCodes), func(c audit.ReasonCode) bool {
		return c == audit.CodeCommitted || sum.Codes[c] == 0
	}) {
		note := ""
		if i == 0 {
			note = "flagged, by reason code"
		}
		row("    "+string(c), int64(sum.Codes[c]), note)
	}
	row("lookups failed", int64(sum.LookupFailed), "unknown because the registry did not answer")
	row("malformed rows", int64(sum.Malformed), "skipped")
	row("findings written", sum.Findings, "")
	lines = append(lines, line{"time", sum.Elapsed.Round(time.Millisecond).String(), ""})
	lw, vw := 0, 0
	for _, l := range lines {
		lw, vw = max(lw, len(l.label)), max(vw, len(l.value))
	}
	var b strings.Builder
	b.WriteString("qcaudit summary:\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "  %-*s  %*s", lw, l.label, vw, l.value)
		if l.note != "" {
			b.WriteString("  " + l.note)
		}
		b.WriteByte('\n')
	}
	io.WriteString(stderr, b.String())
}

// group writes n with thousands separated by commas.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// rowErrorText is a skipped row as the user reads it.
// The cause is cut short: it may quote a cell of any length.
func rowErrorText(re *audit.RowError) string {
	return fmt.Sprintf("line %d: %s", re.Line, cutText(re.Err.Error(), 4*maxQuoted))
}

// cutText is s cut to at most n bytes, on a rune boundary, with the
// length said when cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%s bytes)", s[:cut], group(int64(len(s))))
}

// maxListed is how many names a message lists; maxQuoted how many bytes of
// one name or path it quotes.
const (
	maxListed = 20
	maxQuoted = 80
)

// quoteList is names, each quoted and cut short, the first maxListed of
// them: a header line of megabytes is described, not echoed.
func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var q []string
	for _, n := range names[:min(len(names), maxListed)] {
		q = append(q, quoteText(n))
	}
	if more := len(names) - maxListed; more > 0 {
		q = append(q, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(q, ", ")
}

// quoteText is untrusted text for a message: quoted, made safe for a
// terminal (safeText), and cut to maxQuoted bytes with its length said.
func quoteText(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%s bytes)", strconv.Quote(s[:cut]), group(int64(len(s))))
}

// safeText is untrusted text (a catalogue's cells, the registry's words)
// made safe for a terminal: control characters, bidirectional overrides
// and invalid UTF-8 are escaped, so that no text can move the cursor,
// recolour the screen or reorder what the user reads.
func safeText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == unicode.ReplacementChar && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bytesReader reads b.
func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
