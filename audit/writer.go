package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// FindingWriter takes a run's findings. Run calls Flush after each
// window's findings and saves its checkpoint only once Flush returns nil,
// so Flush must put every finding written so far where a crash cannot
// take it back (as far as the writer can: an *os.File's own durability is
// the caller's).
type FindingWriter interface {
	Write(Finding) error
	Flush() error
}

// ResumableWriter is a FindingWriter that counts the bytes it has written
// and flushed, so that a checkpoint can say where the output was, and that
// can be told it resumes at such an offset, with its header (if any)
// already written. Both writers of this package are.
type ResumableWriter interface {
	FindingWriter
	Offset() int64
	Resume(offset int64)
}

// countWriter counts the bytes that reach w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// csvColumns is the header the CSV writer writes, in its order.
var csvColumns = []string{
	"line", "listing_id", "seller", "title", "gtin", "uscc", "brand", "model",
	"verdict", "reason", "commitment_id", "inspection_id", "enterprise_id", "verify_url",
	"code", "finding_id", "status",
}

// CSVWriter writes findings as CSV that a spreadsheet opens safely
// however it splits the rows — on commas as written, or on semicolons as
// Excel does in many European locales, or on tabs: UTF-8 (invalid
// sequences replaced by U+FFFD), optionally after a byte order mark so
// that Excel reads it as UTF-8, with a header row, every field quoted,
// and every cell start that would run as a formula neutralised (see
// SafeCell), so that neither a listing's title nor registry text can run
// as a formula.
type CSVWriter struct {
	cw      *countWriter
	bw      *bufio.Writer
	bom     bool
	started bool
	row     []string
}

// NewCSVWriter returns a CSVWriter on w, writing a BOM first if bom is set.
func NewCSVWriter(w io.Writer, bom bool) *CSVWriter {
	cw := &countWriter{w: w}
	return &CSVWriter{cw: cw, bw: bufio.NewWriter(cw), bom: bom, row: make([]string, len(csvColumns))}
}

func (w *CSVWriter) start() error {
	if w.started {
		return nil
	}
	w.started = true
	if w.bom {
		if _, err := w.bw.WriteString("\ufeff"); err != nil {
			return err
		}
	}
	return w.writeRow(csvColumns)
}

// writeRow writes cells as one record, each quoted whether or not it
// needs to be: a spreadsheet splitting on another separator then still
// sees each field begin with a quote.
func (w *CSVWriter) writeRow(cells []string) error {
	for i, c := range cells {
		if i > 0 {
			w.bw.WriteByte(',')
		}
		w.bw.WriteByte('"')
		w.bw.WriteString(strings.ReplaceAll(SafeCell(c), `"`, `""`))
		w.bw.WriteByte('"')
	}
	return w.bw.WriteByte('\n')
}

// Write writes one finding as a row.
func (w *CSVWriter) Write(f Finding) error {
	if err := w.start(); err != nil {
		return err
	}
	k := f.Listing.Key
	line := ""
	if f.Listing.Line > 0 {
		line = strconv.Itoa(f.Listing.Line)
	}
	w.row = append(w.row[:0], line, f.Listing.ID, f.Listing.Seller, f.Listing.Title,
		string(k.GTIN), string(k.USCC), k.Brand, k.Model,
		string(f.Verdict), f.Reason, f.CommitmentID, f.InspectionID, f.EnterpriseID, f.VerifyURL,
		string(f.Code), f.ID(), string(f.Status))
	return w.writeRow(w.row)
}

// Flush writes out what is buffered, the header at least.
func (w *CSVWriter) Flush() error {
	if err := w.start(); err != nil {
		return err
	}
	return w.bw.Flush()
}

// Offset is the bytes written and flushed to the underlying writer.
func (w *CSVWriter) Offset() int64 { return w.cw.n }

// Resume makes the writer continue an output of offset bytes: with offset
// above zero the BOM and header are taken as written.
func (w *CSVWriter) Resume(offset int64) {
	w.cw.n = offset
	w.started = offset > 0
}

// SafeCell returns a cell a spreadsheet shows as text, after OWASP's
// advice on CSV injection: valid UTF-8, and a single quote put before
// every character that would start a formula where a cell may start.
//
// A formula starts with =, +, -, @, a tab, a carriage return, a line
// feed, a NUL or a full-width ＝, ＋, － or ＠ (which some spreadsheets fold
// to their ASCII forms), after any spaces. A cell may start at the cell's
// own start, and — for a spreadsheet that splits the row on another
// separator than the writer's — after a comma, a semicolon, a tab or a
// line break inside it, past any spaces and quotes. So "x;=cmd" becomes
// "x;'=cmd": the quote shows, the formula does not run.
func SafeCell(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	if !needsNeutralising(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	cellStart := true
	for _, r := range s {
		if cellStart {
			switch {
			case r == ' ' || r == '"':
				b.WriteRune(r)
				continue
			case formulaRune(r):
				b.WriteByte('\'')
			}
		}
		b.WriteRune(r)
		cellStart = isSplit(r)
	}
	return b.String()
}

// needsNeutralising is the quick test of SafeCell: whether s has any rune
// that starts a formula at all.
func needsNeutralising(s string) bool {
	for _, r := range s {
		if formulaRune(r) {
			return true
		}
	}
	return false
}

func formulaRune(r rune) bool {
	switch r {
	case '=', '+', '-', '@', '\t', '\r', '\n', 0, '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20':
		return true
	}
	return false
}

// isSplit reports whether a spreadsheet may start a new cell after r.
func isSplit(r rune) bool {
	switch r {
	case ',', ';', '\t', '\r', '\n':
		return true
	}
	return false
}

// JSONLinesWriter writes findings as JSON Lines, one object per finding.
// Invalid UTF-8 becomes U+FFFD, and <, > and & are escaped, so that a line
// pasted into a page is inert.
type JSONLinesWriter struct {
	cw  *countWriter
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewJSONLinesWriter returns a JSONLinesWriter on w.
func NewJSONLinesWriter(w io.Writer) *JSONLinesWriter {
	cw := &countWriter{w: w}
	bw := bufio.NewWriter(cw)
	return &JSONLinesWriter{cw: cw, bw: bw, enc: json.NewEncoder(bw)}
}

// jsonFinding is a finding's JSON form.
type jsonFinding struct {
	Line         int               `json:"line,omitempty"`
	ListingID    string            `json:"listing_id"`
	Seller       string            `json:"seller"`
	Title        string            `json:"title"`
	Key          client.ProductKey `json:"key"`
	Verdict      client.Verdict    `json:"verdict"`
	Reason       string            `json:"reason"`
	CommitmentID string            `json:"commitment_id,omitempty"`
	InspectionID string            `json:"inspection_id,omitempty"`
	EnterpriseID string            `json:"enterprise_id,omitempty"`
	VerifyURL    string            `json:"verify_url,omitempty"`
	Code         ReasonCode        `json:"code,omitempty"`
	FindingID    string            `json:"finding_id"`
	Status       FindingStatus     `json:"status,omitempty"`
	EventID      string            `json:"event_id,omitempty"`
	EventSeq     int64             `json:"event_seq,omitempty"`
	EventType    string            `json:"event_type,omitempty"`
	EventAt      string            `json:"event_at,omitempty"`
	DecidedAt    string            `json:"decided_at,omitempty"`
}

// Write writes one finding as a line.
func (w *JSONLinesWriter) Write(f Finding) error {
	j := jsonFinding{
		Line: f.Listing.Line, ListingID: f.Listing.ID, Seller: f.Listing.Seller, Title: f.Listing.Title,
		Key: f.Listing.Key, Verdict: f.Verdict, Reason: f.Reason, CommitmentID: f.CommitmentID,
		InspectionID: f.InspectionID, EnterpriseID: f.EnterpriseID, VerifyURL: f.VerifyURL,
		Code: f.Code, FindingID: f.ID(), Status: f.Status,
	}
	if c := f.Cause; c != nil {
		j.EventID, j.EventSeq, j.EventType = c.EventID, c.Seq, c.Type
		if !c.OccurredAt.IsZero() {
			j.EventAt = c.OccurredAt.UTC().Format(time.RFC3339Nano)
		}
	}
	if !f.DecidedAt.IsZero() {
		j.DecidedAt = f.DecidedAt.UTC().Format(time.RFC3339Nano)
	}
	return w.enc.Encode(j)
}

// Flush writes out what is buffered.
func (w *JSONLinesWriter) Flush() error { return w.bw.Flush() }

// Offset is the bytes written and flushed to the underlying writer.
func (w *JSONLinesWriter) Offset() int64 { return w.cw.n }

// Resume makes the writer continue an output of offset bytes.
func (w *JSONLinesWriter) Resume(offset int64) { w.cw.n = offset }
