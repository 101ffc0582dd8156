package audit_test

import (
	"bytes"
	"iter"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// Yesterday's findings and today's, written by the audit's own writers,
// read back and compared: each of today's is new or unchanged, each of
// yesterday's that today lacks is cleared, ids do not move between runs,
// and a formula in a title stays neutralised through the round trip.
func TestSinceMarksNewUnchangedCleared(t *testing.T) {
	mk := func(id, title string, code audit.ReasonCode) audit.Finding {
		return audit.Finding{Listing: audit.Listing{ID: id, Seller: "s", Title: title, Key: client.ProductKey{GTIN: "06910003100000"}},
			Verdict: client.VerdictWithdrawn, Code: code, Reason: "r"}
	}
	yesterday := []audit.Finding{mk("A", "kettle", audit.CodeSuspended), mk("B", "=cmd|' /C calc'!A0", audit.CodeRevoked), mk("C", "cup", audit.CodeRevoked)}
	// Today: A is unchanged (its reason's words may differ), B now
	// revoked for another reason, C gone, D new.
	today := []audit.Finding{mk("A", "kettle", audit.CodeSuspended), mk("B", "=cmd|' /C calc'!A0", audit.CodeExpired), mk("D", "pan", audit.CodeRevoked)}
	today[0].Reason = "other words"
	want := map[string]audit.FindingStatus{
		yesterday[0].ID(): audit.StatusUnchanged, today[1].ID(): audit.StatusNew, today[2].ID(): audit.StatusNew,
		yesterday[1].ID(): audit.StatusCleared, yesterday[2].ID(): audit.StatusCleared,
	}
	if yesterday[0].ID() != today[0].ID() || yesterday[1].ID() == today[1].ID() {
		t.Fatal("a finding's id moved with its reason's words, or stayed with its reason code changed")
	}

	for _, jsonl := range []bool{false, true} {
		write := func(fs []audit.Finding) []byte {
			var b bytes.Buffer
			var w audit.FindingWriter = audit.NewCSVWriter(&b, true)
			if jsonl {
				w = audit.NewJSONLinesWriter(&b)
			}
			for _, f := range fs {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		prev, cur := write(yesterday), write(today)
		var out bytes.Buffer
		var w audit.FindingWriter = audit.NewCSVWriter(&out, false)
		if jsonl {
			w = audit.NewJSONLinesWriter(&out)
		}
		previous := func() iter.Seq2[audit.Finding, error] { return audit.ReadFindings(bytes.NewReader(prev), jsonl) }
		sum, err := audit.Since(previous, audit.ReadFindings(bytes.NewReader(cur), jsonl), w)
		if err != nil {
			t.Fatal(err)
		}
		if sum != (audit.SinceSummary{New: 2, Unchanged: 1, Cleared: 2}) {
			t.Errorf("jsonl %v: %+v", jsonl, sum)
		}
		got := map[string]audit.FindingStatus{}
		for f, err := range audit.ReadFindings(bytes.NewReader(out.Bytes()), jsonl) {
			if err != nil {
				t.Fatal(err)
			}
			got[f.ID()] = f.Status
			if f.Listing.ID == "B" && !jsonl && f.Listing.Title != "'=cmd|' /C calc'!A0" {
				t.Errorf("the title came back as %q", f.Listing.Title)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("jsonl %v: %d findings, want %d: %v", jsonl, len(got), len(want), got)
		}
		for id, st := range want {
			if got[id] != st {
				t.Errorf("jsonl %v: finding %s is %q, want %q", jsonl, id, got[id], st)
			}
		}
		if !jsonl {
			checkSafeCSV(t, out.Bytes(), false)
		}
	}
}
