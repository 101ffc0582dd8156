package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// findingsOf reads a findings file the command wrote.
func findingsOf(t *testing.T, path string) []audit.Finding {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Finding
	for x, err := range audit.ReadFindings(f, strings.HasSuffix(path, ".jsonl")) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// A trust-and-safety team's day: the first audit, with its rejects and
// per-seller summary; the next day's audit -since the first, after a
// revocation and a re-export that dropped some listings; and -only.
func TestATeamsDay(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	in := func(p string) string { return filepath.Join(dir, p) }
	ls := catalogue(srv, 1500, 200)
	day1 := write(t, dir, "day1.csv", csvOf(ls, map[int]string{10: "bad,row", 700: "L-x,s,t,123,,,"}))

	res := runCmd(t, t.Context(), registryEnv(srv), nil, "-o", in("findings1.csv"), "-rejects", in("rejects.csv"), "-by-seller", in("sellers.csv"), day1)
	if res.code != exitFlagged {
		t.Fatalf("day 1: exit %d\n%s", res.code, res.stderr)
	}
	first := findingsOf(t, in("findings1.csv"))
	codes := map[audit.ReasonCode]int{}
	for _, f := range first {
		codes[f.Code]++
		if f.ID() == "" || f.Code == "" {
			t.Fatalf("a finding without its id or code: %+v", f)
		}
	}
	if codes[audit.CodeMakerNotListed] == 0 || codes[audit.CodeRevoked]+codes[audit.CodeSuspended]+codes[audit.CodeExpired] == 0 {
		t.Errorf("reason codes of day 1: %v; want makers not listed told apart from withdrawn commitments", codes)
	}

	// The rejects: line and reason of both bad rows.
	rej, err := csv.NewReader(bytes.NewReader(readFile(t, in("rejects.csv")))).ReadAll()
	if err != nil || len(rej) != 3 || rej[0][0] != "line" || rej[1][0] != "12" || rej[2][0] != "703" || !strings.Contains(rej[2][1], "gtin") {
		t.Fatalf("rejects %q (%v); want the header and lines 12 and 703 with their reasons", rej, err)
	}

	// Per seller: the counts add up to the findings.
	sellers, err := csv.NewReader(bytes.NewReader(readFile(t, in("sellers.csv")))).ReadAll()
	if err != nil || len(sellers) < 2 || sellers[0][0] != "seller" || sellers[0][1] != "findings" {
		t.Fatalf("by seller %q (%v)", sellers, err)
	}
	total := 0
	for _, row := range sellers[1:] {
		n, _ := strconv.Atoi(row[1])
		sum := 0
		for _, c := range row[2:] {
			k, _ := strconv.Atoi(c)
			sum += k
		}
		if sum != n {
			t.Errorf("seller %s: %d findings, but its codes add up to %d", row[0], n, sum)
		}
		total += n
	}
	if total != len(first) {
		t.Errorf("per seller %d findings, the findings file %d", total, len(first))
	}

	// Overnight: a committed product's commitment is revoked, and the
	// re-export drops the listings of a flagged product.
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	committed := srv.Demo()[0]
	st, _, err := api.Products.ByGTIN(context.Background(), committed.GTIN, nil)
	if err != nil || st.Commitment == nil || st.Commitment.Status != client.CommitmentActive {
		t.Fatalf("the committed demo product: %+v %v", st, err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	dropKey := first[0].Listing.Key
	var today []listing
	for _, l := range ls {
		if k, _ := audit.CanonicalKey(l.key); k != dropKey {
			today = append(today, l)
		}
	}
	day2 := write(t, dir, "day2.csv", csvOf(today, nil))
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", in("findings2.csv"), "-since", in("findings1.csv"), day2)
	if res.code != exitFlagged || !strings.Contains(res.stderr, "new") {
		t.Fatalf("day 2: exit %d\n%s", res.code, res.stderr)
	}
	prevIDs := map[string]bool{}
	for _, f := range first {
		prevIDs[f.ID()] = true
	}
	var newRevoked, cleared int
	for _, f := range findingsOf(t, in("findings2.csv")) {
		switch f.Status {
		case audit.StatusNew:
			if prevIDs[f.ID()] {
				t.Errorf("listing %s is new, but day 1 had finding %s", f.Listing.ID, f.ID())
			}
			if f.Listing.Key.GTIN == committed.GTIN && f.Code == audit.CodeRevoked {
				newRevoked++
			}
		case audit.StatusUnchanged:
			if !prevIDs[f.ID()] {
				t.Errorf("listing %s is unchanged, but day 1 had no finding %s", f.Listing.ID, f.ID())
			}
		case audit.StatusCleared:
			if !prevIDs[f.ID()] || f.Listing.Key != dropKey {
				t.Errorf("finding %s of listing %s cleared, not one of the dropped product's", f.ID(), f.Listing.ID)
			}
			cleared++
		default:
			t.Errorf("listing %s: status %q", f.Listing.ID, f.Status)
		}
	}
	if newRevoked == 0 || cleared == 0 {
		t.Errorf("%d new revoked findings, %d cleared; want some of each", newRevoked, cleared)
	}

	// -only: the revocations alone; -only a reason nothing has: exit 0.
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", in("revoked.csv"), "-only", "revoked", day2)
	if res.code != exitFlagged {
		t.Fatalf("-only revoked: exit %d\n%s", res.code, res.stderr)
	}
	for _, f := range findingsOf(t, in("revoked.csv")) {
		if f.Code != audit.CodeRevoked {
			t.Fatalf("-only revoked wrote a finding of %s", f.Code)
		}
	}
	// -except: everything but the makers absent from the registry.
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", in("listed.csv"), "-except", "maker_not_listed,expired", day2)
	if res.code != exitFlagged {
		t.Fatalf("-except: exit %d\n%s", res.code, res.stderr)
	}
	kept := map[audit.ReasonCode]int{}
	for _, f := range findingsOf(t, in("listed.csv")) {
		kept[f.Code]++
	}
	if kept[audit.CodeMakerNotListed]+kept[audit.CodeExpired] > 0 || kept[audit.CodeRevoked] == 0 {
		t.Errorf("-except maker_not_listed,expired kept %v", kept)
	}
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", in("none.csv"), "-only", "unreadable", "-except", "revoked", day2)
	if res.code != exitClean || len(findingsOf(t, in("none.csv"))) != 0 {
		t.Fatalf("-only unreadable: exit %d, want 0 and no finding\n%s", res.code, res.stderr)
	}
	if res := runCmd(t, t.Context(), registryEnv(srv), nil, "-only", "withdrawn,bogus", day2); res.code != exitFailed || !strings.Contains(res.stderr, "maker_not_listed") {
		t.Errorf("-only bogus: exit %d, %q; want 2 listing the codes", res.code, res.stderr)
	}
}

// -h lists the reason codes, the exit statuses and examples.
func TestHelpListsExitCodesAndExamples(t *testing.T) {
	res := runCmd(t, context.Background(), envOf(), nil, "-h")
	for _, want := range []string{"Exit status:", "  0  ", "  1  ", "  2  ", "Examples:", "-since yesterday.csv", "maker_not_listed", "-watch catalogue.db -catalogue"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("-h does not say %q:\n%s", want, res.stderr)
		}
	}
	if res.code != exitClean {
		t.Errorf("-h exit %d", res.code)
	}
}

// A kill and a resume leave the rejects file whole: every bad row, once.
func TestRejectsWholeAfterResume(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	in := csvOf(catalogue(srv, 4000, 700), map[int]string{100: "bad,row", 3500: "late,row"})
	out, journal, rejects := filepath.Join(dir, "out.csv"), filepath.Join(dir, "j"), filepath.Join(dir, "rejects.csv")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := runCmd(t, ctx, registryEnv(srv), &cancelAfter{r: bytes.NewReader(in), n: len(in) / 2, cancel: cancel},
		"-o", out, "-resume", journal, "-rejects", rejects, "-")
	if res.code != exitFailed {
		t.Fatalf("killed run: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(rejects); !os.IsNotExist(err) {
		t.Fatalf("the killed run left a rejects file: %v", err)
	}
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-o", out, "-resume", journal, "-rejects", rejects, "-")
	if res.code != exitFlagged {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stderr)
	}
	rows, err := csv.NewReader(bytes.NewReader(readFile(t, rejects))).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][0] != "102" || rows[2][0] != "3503" {
		t.Fatalf("rejects after the resume: %q (%v)", rows, err)
	}
}

// -since may name -o itself: the previous findings are read before the
// new ones take their place. With nothing changed, every finding is
// unchanged and none cleared.
func TestSinceTheOutputItself(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	cat := write(t, dir, "catalogue.csv", csvOf(catalogue(srv, 800, 150), nil))
	out := filepath.Join(dir, "findings.csv")
	if res := runCmd(t, t.Context(), registryEnv(srv), nil, "-o", out, cat); res.code != exitFlagged {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	before := findingsOf(t, out)
	if res := runCmd(t, t.Context(), registryEnv(srv), nil, "-o", out, "-since", out, "-resume", filepath.Join(dir, "j"), cat); res.code != exitFlagged {
		t.Fatalf("second run: exit %d\n%s", res.code, res.stderr)
	}
	after := findingsOf(t, out)
	if len(after) != len(before) || len(after) == 0 {
		t.Fatalf("%d findings, then %d", len(before), len(after))
	}
	for i, f := range after {
		if f.Status != audit.StatusUnchanged || f.ID() != before[i].ID() {
			t.Fatalf("finding %d: %s %s, want unchanged %s", i, f.Status, f.ID(), before[i].ID())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files left, want the catalogue and the findings", len(entries))
	}
}
