package audit

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/client"
)

// Listing is one listing of a platform's catalogue: the platform's own id
// for it, the seller, the title and the product it claims to be.
type Listing struct {
	ID     string
	Seller string
	Title  string
	Key    client.ProductKey
	// Line is where the listing starts in its input, counted from 1; zero
	// for listings that did not come from a file.
	Line int
}

// Sentinel causes of a RowError, besides the *client.IDError of a
// malformed GTIN or USCC and the *csv.ParseError of broken quoting.
var (
	// ErrColumns: a CSV row has another number of cells than the header.
	ErrColumns = errors.New("wrong number of columns")
	// ErrEncoding: a row is not valid UTF-8.
	ErrEncoding = errors.New("not valid UTF-8")
	// ErrNoKey: a row names no product: no GTIN, and no USCC with a brand.
	ErrNoKey = errors.New("no product key: needs a GTIN, or a USCC with a brand")
	// ErrBadText: a brand or model out of the registry's bounds (a brand
	// of 1 to 100 characters, a model of at most 100).
	ErrBadText = errors.New("brand or model out of bounds")
)

// RowError is a row of the input that could not be read as a listing. The
// readers yield it and read on; Run counts it and skips the row (or stops,
// with Options.Strict).
type RowError struct {
	Line int   // where the row starts, counted from 1
	Err  error // what is wrong with it
}

func (e *RowError) Error() string { return fmt.Sprintf("audit: line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause, so that errors.Is(err, client.ErrInvalidID)
// and errors.As with a *client.IDError see through the row.
func (e *RowError) Unwrap() error { return e.Err }

// HeaderError is a CSV header that names no product key column: neither a
// GTIN column nor USCC and brand columns. Found lists the columns it has,
// as written, so that the message can say what the file holds instead.
type HeaderError struct {
	Found []string
}

// Error names the columns found, the first 20 of them, each quoted and
// cut to 80 bytes: a header line may be megabytes long, and the message
// ends up on a terminal or in a log.
func (e *HeaderError) Error() string {
	const maxNames, maxName = 20, 80
	var b strings.Builder
	fmt.Fprintf(&b, "audit: the header names no product key column (want gtin, or uscc and brand); found %d columns", len(e.Found))
	for i, name := range e.Found[:min(len(e.Found), maxNames)] {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		if len(name) > maxName {
			cut := maxName
			for cut > 0 && !utf8.RuneStart(name[cut]) {
				cut--
			}
			fmt.Fprintf(&b, "%q… (%d bytes)", name[:cut], len(name))
		} else {
			fmt.Fprintf(&b, "%q", name)
		}
	}
	if more := len(e.Found) - maxNames; more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	return b.String()
}

// ReadOptions tunes the readers. A nil *ReadOptions means the defaults.
type ReadOptions struct {
	// Comma is the CSV field separator; zero means ','. Tab-separated
	// exports set '\t'.
	Comma rune
}

// field names a column of a listing.
type field int

const (
	fieldNone field = iota
	fieldID
	fieldSeller
	fieldTitle
	fieldGTIN
	fieldUSCC
	fieldBrand
	fieldModel
)

// aliases maps normalised column names to fields: the names the issue
// asks for, and the ones platform exports commonly use instead.
var aliases = map[string]field{
	"listing_id": fieldID, "listing": fieldID, "id": fieldID, "item_id": fieldID, "offer_id": fieldID, "sku": fieldID,
	"seller": fieldSeller, "seller_id": fieldSeller, "shop": fieldSeller, "store": fieldSeller, "merchant": fieldSeller,
	"title": fieldTitle, "name": fieldTitle, "product_name": fieldTitle, "listing_title": fieldTitle,
	"gtin": fieldGTIN, "ean": fieldGTIN, "ean13": fieldGTIN, "gtin13": fieldGTIN, "gtin14": fieldGTIN, "upc": fieldGTIN, "barcode": fieldGTIN,
	"uscc": fieldUSCC, "credit_code": fieldUSCC, "unified_social_credit_code": fieldUSCC,
	"brand": fieldBrand,
	"model": fieldModel, "model_number": fieldModel,
}

// normName folds a column name to its alias form: surrounding spaces and
// a byte order mark dropped, lower case, spaces and hyphens as underscores.
func normName(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// rowValues holds one row's cells by field.
type rowValues [fieldModel + 1]string

// listing validates a row and builds its listing. The key is canonical:
// a 14-digit GTIN, or an upper-case USCC with brand and model trimmed, so
// that two spellings of one product are looked up once.
func (v *rowValues) listing(line int) (Listing, error) {
	for _, s := range v {
		if !utf8.ValidString(s) {
			return Listing{}, &RowError{Line: line, Err: ErrEncoding}
		}
	}
	l := Listing{ID: v[fieldID], Seller: v[fieldSeller], Title: v[fieldTitle], Line: line}
	k, err := CanonicalKey(client.ProductKey{
		GTIN:  client.GTIN(strings.TrimSpace(v[fieldGTIN])),
		USCC:  client.USCC(strings.TrimSpace(v[fieldUSCC])),
		Brand: strings.TrimSpace(v[fieldBrand]),
		Model: strings.TrimSpace(v[fieldModel]),
	})
	if err != nil {
		return Listing{}, &RowError{Line: line, Err: err}
	}
	l.Key = k
	return l, nil
}

// CanonicalKey validates a key and returns its canonical form: a 14-digit
// GTIN alone, or an upper-case USCC with its brand and model. A key with
// both forms is named by its GTIN, the more precise of the two: exports
// often carry the maker's columns beside the barcode. The audit names
// every listing's product by it, and so does the change-driven audit's
// index (package audit/watch), so that the two agree on what a product is.
func CanonicalKey(k client.ProductKey) (client.ProductKey, error) {
	if k.GTIN != "" {
		g, err := client.ParseGTIN(string(k.GTIN))
		if err != nil {
			return client.ProductKey{}, err
		}
		return client.ProductKey{GTIN: g}, nil
	}
	if k.USCC == "" || k.Brand == "" {
		if k.USCC != "" {
			// Check the code anyway: a typo in it is the more useful report.
			if _, err := client.ParseUSCC(string(k.USCC)); err != nil {
				return client.ProductKey{}, err
			}
		}
		return client.ProductKey{}, ErrNoKey
	}
	u, err := client.ParseUSCC(string(k.USCC))
	if err != nil {
		return client.ProductKey{}, err
	}
	if n := utf8.RuneCountInString(k.Brand); n > 100 {
		return client.ProductKey{}, ErrBadText
	}
	if utf8.RuneCountInString(k.Model) > 100 {
		return client.ProductKey{}, ErrBadText
	}
	return client.ProductKey{USCC: u, Brand: k.Brand, Model: k.Model}, nil
}

// ReadCSV reads listings from CSV with a header row, streaming: one row in
// memory at a time. Columns are found by name (listing_id, seller, title,
// gtin, uscc, brand, model, and common aliases such as sku, shop, ean or
// barcode), in any order, case and spacing; unknown columns are ignored. A
// leading UTF-8 byte order mark is dropped.
//
// A header without a GTIN column, or without USCC and brand columns, is a
// *HeaderError, yielded once before the sequence ends. A row that cannot
// be a listing — a malformed GTIN or USCC, no key, another number of cells
// than the header, broken quoting, invalid UTF-8 — is yielded as a
// *RowError with its line, and reading goes on; to stop at the first,
// stop ranging. An error reading r ends the sequence after it is yielded.
func ReadCSV(r io.Reader, opts *ReadOptions) iter.Seq2[Listing, error] {
	return func(yield func(Listing, error) bool) {
		cr := csv.NewReader(r)
		if opts != nil && opts.Comma != 0 {
			cr.Comma = opts.Comma
		}
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err != nil {
			if err == io.EOF {
				err = &HeaderError{}
			}
			yield(Listing{}, err)
			return
		}
		cols := make([]field, len(header))
		found := make([]string, len(header))
		var has [fieldModel + 1]bool
		for i, h := range header {
			found[i] = strings.ToValidUTF8(strings.TrimPrefix(h, "\ufeff"), "\ufffd")
			if f := aliases[normName(h)]; f != fieldNone && !has[f] {
				cols[i], has[f] = f, true
			}
		}
		if !has[fieldGTIN] && !(has[fieldUSCC] && has[fieldBrand]) {
			yield(Listing{}, &HeaderError{Found: found})
			return
		}
		cr.FieldsPerRecord = len(header)
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return
			}
			var line int
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					yield(Listing{}, err)
					return
				}
				cause := pe.Err
				if cause == csv.ErrFieldCount {
					cause = fmt.Errorf("%w: %d, the header has %d", ErrColumns, len(rec), len(header))
				} else {
					cause = pe // quoting: its column is worth keeping
				}
				if !yield(Listing{}, &RowError{Line: pe.StartLine, Err: cause}) {
					return
				}
				continue
			}
			line, _ = cr.FieldPos(0)
			var v rowValues
			for i, c := range rec {
				if cols[i] != fieldNone {
					v[cols[i]] = c
				}
			}
			if l, err := v.listing(line); !yield(l, err) {
				return
			}
		}
	}
}

// maxLine bounds one line of JSON Lines input, so that a file without
// newlines cannot take all memory.
const maxLine = 1 << 20

// ReadJSONLines reads listings from JSON Lines: one object per line, with
// the same names as ReadCSV's columns (values are strings; numbers are
// accepted for ids and GTINs). Blank lines are skipped. A line that is not
// an object, or not a listing, is yielded as a *RowError with its line
// number, and reading goes on. A line longer than 1 MiB, or an error
// reading r, ends the sequence after it is yielded.
func ReadJSONLines(r io.Reader, opts *ReadOptions) iter.Seq2[Listing, error] {
	_ = opts // no option applies to JSON Lines yet; taken for symmetry with ReadCSV
	return func(yield func(Listing, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		line := 0
		for sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if line == 1 {
				b = bytes.TrimPrefix(b, []byte("\ufeff"))
			}
			if len(b) == 0 {
				continue
			}
			if l, err := jsonListing(b, line); !yield(l, err) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Listing{}, fmt.Errorf("audit: line %d: %w", line+1, err))
		}
	}
}

func jsonListing(b []byte, line int) (Listing, error) {
	if !utf8.Valid(b) {
		return Listing{}, &RowError{Line: line, Err: ErrEncoding}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return Listing{}, &RowError{Line: line, Err: err}
	}
	var v rowValues
	for name, raw := range obj {
		f := aliases[normName(name)]
		if f == fieldNone {
			continue
		}
		s, err := jsonString(raw)
		if err != nil {
			return Listing{}, &RowError{Line: line, Err: fmt.Errorf("%s: %w", name, err)}
		}
		v[f] = s
	}
	return v.listing(line)
}

// jsonString reads a string, a number as written, or null as "".
func jsonString(raw json.RawMessage) (string, error) {
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		var n json.Number
		err := json.Unmarshal(raw, &n)
		return n.String(), err
	}
	return "", errors.New("not a string")
}
