package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// CSV on stdin to CSV on stdout: the findings audit.Run writes, only the
// flagged listings, the demo products with the verdicts the sandbox
// promises, exit 1, and the summary on stderr.
func TestCSVToCSV(t *testing.T) {
	srv := sandbox.NewServer(t)
	ls := catalogue(srv, 600, 200)
	in := csvOf(ls, nil)
	res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", res.code, res.stderr)
	}
	if want := libraryRun(t, srv, in, false, false); res.stdout != string(want) {
		t.Fatalf("stdout differs from audit.Run's findings:\n%s\nwant:\n%s", res.stdout, want)
	}
	rows := readCSV(t, res.stdout)
	demo := map[string]client.Verdict{}
	for _, d := range srv.Demo() {
		demo[string(d.GTIN)] = d.Verdict
	}
	flaggedDemo := 0
	for _, r := range rows[1:] {
		if r[8] == string(client.VerdictCommitted) {
			t.Errorf("a committed listing written without -all: %q", r)
		}
		if v, ok := demo[r[4]]; ok {
			flaggedDemo++
			if string(v) != r[8] {
				t.Errorf("demo product %s: verdict %s, the sandbox says %s", r[4], r[8], v)
			}
		}
	}
	if flaggedDemo == 0 || len(rows) < 2 {
		t.Errorf("%d findings, %d of demo products: want some of each", len(rows)-1, flaggedDemo)
	}
	for _, s := range []string{"qcaudit summary:", "listings", "600", "API calls", "withdrawn", "malformed rows", "time"} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
		}
	}
	if strings.HasPrefix(res.stdout, "\uFEFF") {
		t.Error("a BOM on stdout")
	}
}

// JSON Lines in a file to JSON Lines in a file, formats told by the
// extensions.
func TestJSONLToJSONL(t *testing.T) {
	srv := sandbox.NewServer(t)
	ls := catalogue(srv, 500, 150)
	dir := t.TempDir()
	in := jsonlOf(ls)
	inPath := write(t, dir, "catalogue.ndjson", in)
	outPath := filepath.Join(dir, "findings.jsonl")
	res := runCmd(t, t.Context(), registryEnv(srv), nil, inPath, "-o", outPath)
	if res.code != 1 || res.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing; stderr:\n%s", res.code, res.stdout, res.stderr)
	}
	got := readFile(t, outPath)
	if want := libraryRun(t, srv, in, true, false); !bytes.Equal(got, want) {
		t.Fatalf("output differs from audit.Run's findings:\n%s\nwant:\n%s", got, want)
	}
	ids := make(map[string]bool, len(ls)) // true once a finding names it
	for _, l := range ls {
		ids[l.id] = false
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	for _, line := range lines {
		var f struct {
			Verdict   string
			ListingID string `json:"listing_id"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil || f.Verdict == "" || f.Verdict == "committed" {
			t.Fatalf("line %q: %v", line, err)
		}
		seen, ok := ids[f.ListingID]
		if !ok || seen {
			t.Fatalf("line %q: listing_id %q is not one of the catalogue's, or has a finding already", line, f.ListingID)
		}
		ids[f.ListingID] = true
	}
}

// -all writes every listing, committed ones too; a catalogue with
// nothing flagged exits 0; a .csv file named by -o gets a BOM unless
// -bom=false.
func TestAllAndExitZero(t *testing.T) {
	srv := sandbox.NewServer(t)
	var committed []listing
	for i, d := range srv.Demo() {
		if d.Verdict == client.VerdictCommitted {
			committed = append(committed, listing{strconv.Itoa(i), "s", "t", client.ProductKey{GTIN: d.GTIN}})
		}
	}
	if len(committed) == 0 {
		t.Fatal("no committed demo product")
	}
	in := csvOf(committed, nil)
	res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in))
	if res.code != 0 || len(readCSV(t, res.stdout)) != 1 {
		t.Fatalf("exit %d, output %q; want 0 and a header alone; stderr:\n%s", res.code, res.stdout, res.stderr)
	}

	dir := t.TempDir()
	outPath := filepath.Join(dir, "all.csv")
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-all", "-o", outPath)
	got := string(readFile(t, outPath))
	if res.code != 0 || !strings.HasPrefix(got, "\uFEFF") || len(readCSV(t, got)) != len(committed)+1 {
		t.Fatalf("-all: exit %d, %d rows, want 0 and %d rows after a BOM; stderr:\n%s", res.code, len(readCSV(t, got))-1, len(committed), res.stderr)
	}

	ls := catalogue(srv, 300, 100)
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(csvOf(ls, nil)), "-all", "-bom=false", "-o", outPath)
	got = string(readFile(t, outPath))
	if res.code != 1 || strings.HasPrefix(got, "\uFEFF") || len(readCSV(t, got)) != len(ls)+1 {
		t.Fatalf("-all -bom=false: exit %d, %d rows; want 1 and %d rows, no BOM", res.code, len(readCSV(t, got))-1, len(ls))
	}
}

// A header with no product key column exits 2, listing the columns
// found, before any call.
func TestBadHeaderListsColumns(t *testing.T) {
	srv := sandbox.NewServer(t)
	in := "listing_id,seller,title,price\nL1,s,t,9.99\n"
	res := runCmd(t, t.Context(), registryEnv(srv), strings.NewReader(in))
	if res.code != 2 || res.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 2 and nothing", res.code, res.stdout)
	}
	for _, col := range []string{`"listing_id"`, `"seller"`, `"title"`, `"price"`, "no product key column"} {
		if !strings.Contains(res.stderr, col) {
			t.Errorf("stderr does not name %s:\n%s", col, res.stderr)
		}
	}
	if n := srv.Requests(batchRoute); n != 0 {
		t.Errorf("%d calls", n)
	}
}

// A bad command line exits 2 with one line on stderr.
func TestUsageErrors(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  func(string) string
		args []string
		want string
	}{
		{"unknown flag", registryEnv(srv), []string{"-frobnicate"}, "-frobnicate"},
		{"resume to stdout", registryEnv(srv), []string{"-resume", filepath.Join(dir, "j")}, "-resume needs -o"},
		{"unreadable file", registryEnv(srv), []string{filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{"unknown extension", registryEnv(srv), []string{filepath.Join(dir, "c.xlsx")}, "-in-format"},
		{"bad format", registryEnv(srv), []string{"-out-format", "xml"}, "-out-format"},
		{"two inputs", registryEnv(srv), []string{"a.csv", "b.csv"}, "more than one input"},
		{"no key", envOf("QC_API_URL", srv.URL), nil, "QC_API_KEY"},
		{"missing key file", envOf("QC_API_URL", srv.URL), []string{"-api-key-file", filepath.Join(dir, "nokey")}, "-api-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(t, t.Context(), tc.env, nil, tc.args...)
			if res.code != 2 || res.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", res.code, res.stdout)
			}
			if strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("stderr %q: want one line naming %s", res.stderr, tc.want)
			}
		})
	}
}

// The key is read from the file -api-key-file names and sent.
func TestAPIKeyFile(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithAPIKeys("s3cret"))
	keyFile := write(t, t.TempDir(), "key", []byte("s3cret\n"))
	in := csvOf(catalogue(srv, 50, 20), nil)
	res := runCmd(t, t.Context(), envOf("QC_API_URL", srv.URL), bytes.NewReader(in), "-api-key-file", keyFile)
	if res.code != 1 || summaryValue(t, res.stderr, "unknown") != 0 || summaryValue(t, res.stderr, "listings") != 50 {
		t.Fatalf("exit %d; want 1 and no unknown verdict; stderr:\n%s", res.code, res.stderr)
	}
}

// Malformed rows are reported with their line numbers and skipped;
// -strict stops at the first with exit 2.
func TestMalformedRows(t *testing.T) {
	srv := sandbox.NewServer(t)
	ls := catalogue(srv, 100, 40)
	// The header is line 1 and listing i is on line i+2, pushed down by
	// the rows inserted before it.
	in := csvOf(ls, map[int]string{10: "X1,s,t,6901234567893,,,", 50: "X2,s,short"})
	res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in))
	if res.code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"line 12: ", "invalid gtin", "line 53: ", "wrong number of columns"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if summaryValue(t, res.stderr, "malformed rows") != 2 || summaryValue(t, res.stderr, "listings") != len(ls) {
		t.Errorf("summary does not count the malformed rows:\n%s", res.stderr)
	}
	if want := libraryRun(t, srv, in, false, false); res.stdout != string(want) {
		t.Errorf("the findings differ from audit.Run's")
	}

	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-strict")
	if res.code != 2 || !strings.Contains(res.stderr, "-strict") || !strings.Contains(res.stderr, "line 12: ") || strings.Contains(res.stderr, "line 53") {
		t.Fatalf("-strict: exit %d; want 2, stopped at line 12; stderr:\n%s", res.code, res.stderr)
	}
}

// A run killed partway, then run again with the same -resume and -o,
// leaves the output an uninterrupted run writes, byte for byte; the
// journal is gone once the audit is complete.
func TestKillAndResume(t *testing.T) {
	srv := sandbox.NewServer(t)
	ls := catalogue(srv, 4000, 700)
	in := csvOf(ls, map[int]string{700: "bad,row"})
	dir := t.TempDir()
	fullPath := filepath.Join(dir, "full.csv")
	if res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-o", fullPath); res.code != 1 {
		t.Fatalf("uninterrupted run: exit %d\n%s", res.code, res.stderr)
	}
	want := readFile(t, fullPath)
	fullCalls := srv.Requests(batchRoute)

	outPath, journal := filepath.Join(dir, "out.csv"), filepath.Join(dir, "audit.journal")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := runCmd(t, ctx, registryEnv(srv), &cancelAfter{r: bytes.NewReader(in), n: len(in) / 2, cancel: cancel},
		"-o", outPath, "-resume", journal, "-")
	if res.code != 2 || !strings.Contains(res.stderr, "interrupted") {
		t.Fatalf("killed run: exit %d; want 2, interrupted; stderr:\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(outPath); !os.IsNotExist(err) {
		t.Fatalf("the killed run left %s (%v): the findings of an audit not complete", outPath, err)
	}
	part := readFile(t, partialPath(outPath))
	if st, err := os.Stat(journal); err != nil || st.Size() == 0 || len(part) == 0 || len(part) >= len(want) {
		t.Fatalf("after the kill: journal %v, output %d bytes of %d; want a checkpoint partway", err, len(part), len(want))
	}
	if !bytes.HasPrefix(want, part[:min(len(part), 1000)]) {
		t.Fatal("the killed run's output does not start as the full one's")
	}

	before := srv.Requests(batchRoute)
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-o", outPath, "-resume", journal, "-")
	if res.code != 1 || !strings.Contains(res.stderr, "resuming from") {
		t.Fatalf("resumed run: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if got := readFile(t, outPath); !bytes.Equal(got, want) {
		t.Fatalf("resumed output (%d bytes) differs from an uninterrupted run's (%d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("the journal is still there after the audit completed: %v", err)
	}
	if _, err := os.Stat(partialPath(outPath)); !os.IsNotExist(err) {
		t.Errorf("the partial output is still there after the audit completed: %v", err)
	}
	if calls := srv.Requests(batchRoute) - before; calls >= fullCalls {
		t.Errorf("the resumed run made %d calls, an uninterrupted one %d: it did not resume", calls, fullCalls)
	}
	if summaryValue(t, res.stderr, "listings") != len(ls) || summaryValue(t, res.stderr, "malformed rows") != 1 {
		t.Errorf("the summary does not count the whole audit:\n%s", res.stderr)
	}
}

// Registry text and listing titles built to run as formulas come out as
// text: no CSV cell starts with =, +, -, @, a tab or a carriage return
// unless prefixed with '. Control characters in a malformed row do not
// reach the terminal.
func TestHostileTextNeutralised(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithHostileText())
	ls := catalogue(srv, 200, 60)
	hostile := []string{`=HYPERLINK("http://evil.example","x")`, "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcr"}
	for i := range ls {
		ls[i].title = hostile[i%len(hostile)]
		ls[i].seller = hostile[(i+1)%len(hostile)]
	}
	in := csvOf(ls, map[int]string{3: "X,s,t,\x1b[31m\u202e123,,,"})
	res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-all")
	if res.code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readCSV(t, res.stdout)
	// The hostile registry's brands fail the bounds of a USCC key: those
	// listings are malformed rows.
	if n := summaryValue(t, res.stderr, "listings"); len(rows) != n+1 || n+summaryValue(t, res.stderr, "malformed rows") != len(ls)+1 || n < len(ls)/2 {
		t.Fatalf("%d rows, want %d; stderr:\n%s", len(rows)-1, n, res.stderr)
	}
	for _, r := range rows {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q can run as a formula", cell)
			}
		}
	}
	if strings.ContainsAny(res.stderr, "\x1b\u202e") {
		t.Errorf("stderr carries control characters: %q", res.stderr)
	}
	if !strings.Contains(res.stderr, `\x1b`) {
		t.Errorf("stderr does not show the escaped bad row: %q", res.stderr)
	}
}

// The registry down: every listing is unknown, never a guess, the summary
// says how many lookups failed, and the exit is 1.
func TestRegistryDown(t *testing.T) {
	srv := sandbox.NewServer(t)
	if err := srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503}); err != nil {
		t.Fatal(err)
	}
	ls := catalogue(srv, 250, 150)
	res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(csvOf(ls, nil)), "-retries", "0", "-max-wait", "0")
	if res.code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readCSV(t, res.stdout)
	if len(rows) != len(ls)+1 {
		t.Fatalf("%d findings, want %d", len(rows)-1, len(ls))
	}
	for _, r := range rows[1:] {
		if r[8] != "unknown" || r[10] != "" || r[13] != "" {
			t.Fatalf("finding %q is a guess", r)
		}
	}
	if summaryValue(t, res.stderr, "lookups failed") != len(ls) || summaryValue(t, res.stderr, "unknown") != len(ls) {
		t.Errorf("summary does not say the lookups failed:\n%s", res.stderr)
	}
}

// With no arguments and no registry, a sample catalogue is audited
// against an embedded sandbox: it says so, reports its two malformed
// rows, prints the summary and exits 1.
func TestSampleMode(t *testing.T) {
	res := runCmd(t, t.Context(), envOf(), nil)
	if res.code != 1 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if rows := readCSV(t, res.stdout); len(rows) < 5 {
		t.Errorf("%d findings from the sample", len(rows)-1)
	}
	for _, want := range []string{"sample catalogue", "embedded sandbox", "skipped: line ", "invalid gtin", "wrong number of columns", "qcaudit summary:", "withdrawn"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if n := strings.Count(res.stderr, "skipped: line "); n != 2 {
		t.Errorf("%d malformed rows reported, want 2", n)
	}
}

// Tab-separated input, told by -in-format or by a .tsv extension.
func TestTSVInput(t *testing.T) {
	srv := sandbox.NewServer(t)
	ls := catalogue(srv, 120, 50)
	tsv := strings.ReplaceAll(string(csvOf(ls, nil)), ",", "\t")
	res := runCmd(t, t.Context(), registryEnv(srv), strings.NewReader(tsv), "-in-format", "tsv", "-all")
	if res.code != 1 || len(readCSV(t, res.stdout)) != len(ls)+1 {
		t.Fatalf("-in-format tsv: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	path := write(t, t.TempDir(), "catalogue.tsv", []byte(tsv))
	res2 := runCmd(t, t.Context(), registryEnv(srv), nil, path, "-all")
	if res2.code != 1 || res2.stdout != res.stdout {
		t.Fatalf(".tsv: exit %d, output differs from -in-format tsv's; stderr:\n%s", res2.code, res2.stderr)
	}
}
