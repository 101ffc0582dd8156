package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func collect(t *testing.T, seq func(func(audit.Listing, error) bool)) (ls []audit.Listing, errs []error) {
	t.Helper()
	for l, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ls = append(ls, l)
	}
	return ls, errs
}

// Columns are found by name and alias, in any order and case, after a
// BOM; keys come out canonical; bad rows are RowErrors with their lines.
func TestReadCSVColumnsAndBadRows(t *testing.T) {
	in := "\ufeffBarcode;Brand;Shop;SKU;Credit Code;Model;Name\n" +
		"6901234567892;;s1;A1;;;kettle\n" + // line 2
		";Qingyuan;s2;A2;91350100m000100y43; QY-1 ;cup\n" + // line 3: USCC form, lower case
		"6901234567893;;s3;A3;;;typo\n" + // line 4: check digit
		"6901234567892;;s4;A4\n" + // line 5: too few cells
		"6901234567892;;s\"5;A5;;;q\n" + // line 6: bare quote
		"6901234567892;;s6;A6;;;\xff\n" + // line 7: invalid UTF-8
		";;s7;A7;;;nothing\n" // line 8: no key
	ls, errs := collect(t, audit.ReadCSV(strings.NewReader(in), &audit.ReadOptions{Comma: ';'}))
	want := []audit.Listing{
		{ID: "A1", Seller: "s1", Title: "kettle", Key: client.ProductKey{GTIN: "06901234567892"}, Line: 2},
		{ID: "A2", Seller: "s2", Title: "cup", Key: client.ProductKey{USCC: "91350100M000100Y43", Brand: "Qingyuan", Model: "QY-1"}, Line: 3},
	}
	if len(ls) != 2 || ls[0] != want[0] || ls[1] != want[1] {
		t.Fatalf("listings %+v, want %+v", ls, want)
	}
	wantLines := []int{4, 5, 6, 7, 8}
	if len(errs) != len(wantLines) {
		t.Fatalf("errors %v, want rows %v", errs, wantLines)
	}
	for i, err := range errs {
		var re *audit.RowError
		if !errors.As(err, &re) || re.Line != wantLines[i] {
			t.Errorf("error %d: %v, want a RowError at line %d", i, err, wantLines[i])
		}
	}
	var idErr *client.IDError
	if !errors.As(errs[0], &idErr) || idErr.Reason != client.ReasonCheckDigit {
		t.Errorf("bad GTIN: %v, want its IDError", errs[0])
	}
	if !errors.Is(errs[1], audit.ErrColumns) || !errors.Is(errs[3], audit.ErrEncoding) || !errors.Is(errs[4], audit.ErrNoKey) {
		t.Errorf("causes: %v", errs)
	}
	var pe *csv.ParseError
	if !errors.As(errs[2], &pe) {
		t.Errorf("bare quote: %v, want the csv.ParseError", errs[2])
	}
}

// A header naming no key column is a HeaderError listing what it has.
func TestReadCSVHeaderWithoutKeyColumn(t *testing.T) {
	for _, in := range []string{"id,title,uscc\n1,t,x\n", "id,title,brand\n", ""} {
		_, errs := collect(t, audit.ReadCSV(strings.NewReader(in), nil))
		var he *audit.HeaderError
		if len(errs) != 1 || !errors.As(errs[0], &he) {
			t.Fatalf("%q: errors %v, want one HeaderError", in, errs)
		}
		if in != "" && len(he.Found) != 3 {
			t.Errorf("%q: found %q", in, he.Found)
		}
	}
}

// A header line of megabytes keeps its columns in Found, but its message
// names them cut short: whoever prints the error does not echo the line.
func TestHeaderErrorMessageIsShort(t *testing.T) {
	huge := strings.Repeat("x", 10<<20)
	header := "listing_id," + huge + "," + strings.Repeat("c,", 500) + "title"
	_, errs := collect(t, audit.ReadCSV(strings.NewReader(header+"\nL1,a\n"), nil))
	var he *audit.HeaderError
	if len(errs) != 1 || !errors.As(errs[0], &he) {
		t.Fatalf("errors %.200v, want one HeaderError", errs)
	}
	if len(he.Found) != 503 || he.Found[1] != huge {
		t.Errorf("Found has %d columns, want the header's 503 as written", len(he.Found))
	}
	if msg := he.Error(); len(msg) > 2048 || !strings.Contains(msg, `"listing_id"`) || !strings.Contains(msg, "503") {
		t.Errorf("the message is %d bytes: %.300q", len(msg), msg)
	}
}

func TestReadJSONLines(t *testing.T) {
	in := `{"listing_id":"A1","seller":"s","title":"t","gtin":6901234567892}` + "\n\n" +
		`{"id":"A2","uscc":"91350100M000100Y43","brand":"Qingyuan"}` + "\n" +
		`{"id":"A3","gtin":"123"}` + "\n" +
		`not json` + "\n" +
		`{"id":"A5","gtin":["x"]}` + "\n"
	ls, errs := collect(t, audit.ReadJSONLines(strings.NewReader(in), nil))
	if len(ls) != 2 || ls[0].Key.GTIN != "06901234567892" || ls[0].Line != 1 || ls[1].Key.USCC == "" || ls[1].Line != 3 {
		t.Fatalf("listings %+v", ls)
	}
	for i, line := range []int{4, 5, 6} {
		var re *audit.RowError
		if i >= len(errs) || !errors.As(errs[i], &re) || re.Line != line {
			t.Fatalf("errors %v, want RowErrors at lines 4, 5, 6", errs)
		}
	}
}

// Every cell that a spreadsheet would read as a formula is quoted, in the
// listing's fields and in registry text alike, and the output is UTF-8.
func TestCSVWriterNeutralisesFormulas(t *testing.T) {
	var b bytes.Buffer
	w := audit.NewCSVWriter(&b, true)
	for _, s := range append(hostileTitles, "\xff=bad utf-8", "\nnewline", "two\n=lines") {
		f := audit.Finding{
			Listing: audit.Listing{ID: s, Seller: s, Title: s, Key: client.ProductKey{USCC: "91350100M000100Y43", Brand: s, Model: s}},
			Verdict: client.VerdictWithdrawn, Reason: s, CommitmentID: s, InspectionID: s, EnterpriseID: s, VerifyURL: s,
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	checkSafeCSV(t, b.Bytes(), true)
	if !bytes.Contains(b.Bytes(), []byte(`"'=HYPERLINK(""http://evil.example"",""click"")"`)) ||
		!bytes.Contains(b.Bytes(), []byte(`"x;'=cmd|' /C calc'!A0"`)) {
		t.Errorf("formula not kept as quoted text:\n%s", b.Bytes())
	}
}

// checkSafeCSV checks out is UTF-8, quotes every field, and that no cell
// starts like a formula however a spreadsheet splits it: on commas as
// written, or on semicolons or tabs as Excel in many locales and other
// programs do. It returns the rows as a comma-splitting reader sees them.
func checkSafeCSV(t *testing.T, out []byte, bom bool) [][]string {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatal("output is not valid UTF-8")
	}
	if got := bytes.HasPrefix(out, []byte("\ufeff")); got != bom {
		t.Fatalf("BOM %v, want %v", got, bom)
	}
	body := string(bytes.TrimPrefix(out, []byte("\ufeff")))
	checkAllQuoted(t, body)
	for _, sep := range []rune{',', ';', '\t'} {
		for _, row := range spreadsheetSplit(body, sep) {
			for _, c := range row {
				if formulaStart(c) {
					t.Fatalf("splitting on %q, cell %q starts like a formula", sep, c)
				}
			}
		}
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// formulaStart reports whether a spreadsheet cell would be read as a
// formula: its first character after spaces is one that starts one.
func formulaStart(c string) bool {
	c = strings.TrimLeft(c, " ")
	r, _ := utf8.DecodeRuneInString(c)
	return c != "" && strings.ContainsRune("=+-@\t\r\n\x00\uFF1D\uFF0B\uFF0D\uFF20", r)
}

// checkAllQuoted checks that every field of every record is quoted.
func checkAllQuoted(t *testing.T, body string) {
	t.Helper()
	i := 0
	for i < len(body) {
		if body[i] != '"' {
			t.Fatalf("an unquoted field at byte %d: %q", i, body[i:min(len(body), i+40)])
		}
		j := i + 1
		for {
			k := strings.IndexByte(body[j:], '"')
			if k < 0 {
				t.Fatalf("an unterminated field at byte %d", i)
			}
			j += k + 1
			if j < len(body) && body[j] == '"' {
				j++
				continue
			}
			break
		}
		if j < len(body) && body[j] != ',' && body[j] != '\n' {
			t.Fatalf("a field closed by %q at byte %d", body[j], j)
		}
		i = j + 1
	}
}

// spreadsheetSplit splits CSV text into cells as a spreadsheet's import
// does with separator sep and '"' as the text delimiter: a cell that
// starts with a quote runs to the closing quote, with "" for a quote, and
// whatever follows up to the next separator is added as it stands; a
// quote inside a cell that did not start with one is a character.
func spreadsheetSplit(body string, sep rune) [][]string {
	var rows [][]string
	var row []string
	var cell strings.Builder
	rs := []rune(body)
	end := func() { row = append(row, cell.String()); cell.Reset() }
	for i := 0; i < len(rs); {
		if rs[i] == '"' { // a quoted start
			i++
			for i < len(rs) {
				if rs[i] == '"' {
					if i+1 < len(rs) && rs[i+1] == '"' {
						cell.WriteRune('"')
						i += 2
						continue
					}
					i++
					break
				}
				cell.WriteRune(rs[i])
				i++
			}
		}
		for i < len(rs) && rs[i] != sep && rs[i] != '\n' {
			cell.WriteRune(rs[i])
			i++
		}
		end()
		if i < len(rs) && rs[i] == '\n' {
			rows, row = append(rows, row), nil
		}
		i++
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	return rows
}

// Registry text full of markup, bidi overrides and broken UTF-8, and
// hostile listing titles, come out of a real run as safe CSV.
func TestRunHostileTextGivesSafeCSV(t *testing.T) {
	e := newEnv(t, sandbox.WithHostileText())
	c := makeCatalogue(t, e.keys(t, 60), 600, 0)
	var out bytes.Buffer
	sum, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil),
		audit.NewCSVWriter(&out, false), &audit.Options{Clock: now, All: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := checkSafeCSV(t, out.Bytes(), false)
	if int64(len(rows)) != sum.Findings+1 || sum.Listings+sum.Malformed != 600 || sum.Listings < 500 {
		t.Fatalf("%d rows, summary %+v", len(rows), sum)
	}
	quoted := 0
	for _, r := range rows[1:] {
		if strings.HasPrefix(r[3], "'") {
			quoted++
		}
	}
	if quoted == 0 {
		t.Error("no hostile title was neutralised")
	}
}
