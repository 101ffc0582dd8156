package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"

	"github.com/qualitycommit/qcsdk/client"
)

// FindingStatus is how a finding stands against a previous audit's.
type FindingStatus string

// Finding statuses, set by Since.
const (
	StatusNew       FindingStatus = "new"       // not in the previous audit
	StatusUnchanged FindingStatus = "unchanged" // in the previous audit too
	StatusCleared   FindingStatus = "cleared"   // in the previous audit, not in this one: the listing was fixed, removed or re-decided
)

// ID is the finding's stable id: the same listing, with the same product
// key, flagged for the same reason code, has the same id in every audit,
// so that a team's tracker can follow it from one day to the next. It is
// FindingID when set (a finding read back), else 16 hex digits of a
// SHA-256 of those fields.
func (f Finding) ID() string {
	if f.FindingID != "" {
		return f.FindingID
	}
	h := sha256.New()
	k := f.Listing.Key
	for _, s := range []string{f.Listing.ID, string(k.GTIN), string(k.USCC), k.Brand, k.Model, string(f.Code)} {
		io.WriteString(h, strconv.Itoa(len(s)))
		io.WriteString(h, ":")
		io.WriteString(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// SinceSummary counts the findings Since wrote, by status.
type SinceSummary struct {
	New, Unchanged, Cleared int
}

// Since writes the current audit's findings to w, each marked new or
// unchanged against the previous audit's, and then the previous audit's
// findings that the current one no longer has, marked cleared. It reads
// previous twice (call it for each pass), current once; it holds the
// previous audit's finding ids in memory, some 80 bytes each.
func Since(previous func() iter.Seq2[Finding, error], current iter.Seq2[Finding, error], w FindingWriter) (SinceSummary, error) {
	var sum SinceSummary
	seen := make(map[string]bool)
	for f, err := range previous() {
		if err != nil {
			return sum, fmt.Errorf("audit: reading the previous findings: %w", err)
		}
		seen[f.ID()] = false
	}
	for f, err := range current {
		if err != nil {
			return sum, fmt.Errorf("audit: reading the findings: %w", err)
		}
		id := f.ID()
		if _, ok := seen[id]; ok {
			f.Status = StatusUnchanged
			seen[id] = true
			sum.Unchanged++
		} else {
			f.Status = StatusNew
			sum.New++
		}
		if err := w.Write(f); err != nil {
			return sum, err
		}
	}
	for f, err := range previous() {
		if err != nil {
			return sum, fmt.Errorf("audit: reading the previous findings: %w", err)
		}
		id := f.ID()
		if seen[id] {
			continue
		}
		seen[id] = true
		f.Status, f.Cause = StatusCleared, nil
		if err := w.Write(f); err != nil {
			return sum, err
		}
		sum.Cleared++
	}
	return sum, w.Flush()
}

// ReadFindings reads back findings this package wrote, as CSV
// (NewCSVWriter, with or without a byte order mark) or, with jsonl, as
// JSON Lines: the input of Since. The CSV is read by its header's names,
// so that columns added later do not break it. Cells are read as
// written: text a spreadsheet would have run as a formula keeps its
// neutralising quote.
func ReadFindings(r io.Reader, jsonl bool) iter.Seq2[Finding, error] {
	if jsonl {
		return readFindingsJSONL(r)
	}
	return func(yield func(Finding, error) bool) {
		br := bufio.NewReader(r)
		if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
			br.Discard(3)
		}
		cr := csv.NewReader(br)
		cr.FieldsPerRecord = -1
		header, err := cr.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			yield(Finding{}, err)
			return
		}
		col := make(map[string]int, len(header))
		for i, h := range header {
			col[h] = i
		}
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Finding{}, err)
				return
			}
			get := func(name string) string {
				if i, ok := col[name]; ok && i < len(rec) {
					return rec[i]
				}
				return ""
			}
			line, _ := strconv.Atoi(get("line"))
			f := Finding{
				Listing: Listing{ID: get("listing_id"), Seller: get("seller"), Title: get("title"), Line: line,
					Key: client.ProductKey{GTIN: client.GTIN(get("gtin")), USCC: client.USCC(get("uscc")), Brand: get("brand"), Model: get("model")}},
				Verdict: client.Verdict(get("verdict")), Reason: get("reason"), CommitmentID: get("commitment_id"),
				InspectionID: get("inspection_id"), EnterpriseID: get("enterprise_id"), VerifyURL: get("verify_url"),
				Code: ReasonCode(get("code")), FindingID: get("finding_id"), Status: FindingStatus(get("status")),
			}
			if !yield(f, nil) {
				return
			}
		}
	}
}

func readFindingsJSONL(r io.Reader) iter.Seq2[Finding, error] {
	return func(yield func(Finding, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		for n := 1; sc.Scan(); n++ {
			b := sc.Bytes()
			if len(strings.TrimSpace(string(b))) == 0 {
				continue
			}
			var j jsonFinding
			if err := json.Unmarshal(b, &j); err != nil {
				yield(Finding{}, fmt.Errorf("line %d: %w", n, err))
				return
			}
			f := Finding{
				Listing: Listing{ID: j.ListingID, Seller: j.Seller, Title: j.Title, Line: j.Line, Key: j.Key},
				Verdict: j.Verdict, Reason: j.Reason, CommitmentID: j.CommitmentID, InspectionID: j.InspectionID,
				EnterpriseID: j.EnterpriseID, VerifyURL: j.VerifyURL, Code: j.Code, FindingID: j.FindingID, Status: j.Status,
			}
			if !yield(f, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Finding{}, err)
		}
	}
}
