package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A run that fails — a header with no key column, a malformed row under
// -strict, an interruption without -resume — exits 2 and leaves the
// previous findings file as it was, byte for byte: nothing half-written
// replaces it.
func TestFailedRunLeavesThePreviousFindings(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "findings.csv")
	good := csvOf(catalogue(srv, 2000, 300), nil)
	if res := runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(good), "-o", out, "-"); res.code != 1 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	previous := readFile(t, out)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cases := []struct {
		name string
		in   func() *bytes.Reader
		ctx  context.Context
		args []string
	}{
		{"bad header", func() *bytes.Reader { return bytes.NewReader([]byte("listing_id,price\nL1,9\n")) }, t.Context(), nil},
		{"strict", func() *bytes.Reader {
			return bytes.NewReader(csvOf(catalogue(srv, 2000, 300), map[int]string{1500: "bad,row"}))
		}, t.Context(), []string{"-strict"}},
	}
	for _, c := range cases {
		res := runCmd(t, c.ctx, registryEnv(srv), c.in(), append(c.args, "-o", out, "-")...)
		if res.code != exitFailed {
			t.Fatalf("%s: exit %d, want 2\n%s", c.name, res.code, res.stderr)
		}
		if got := readFile(t, out); !bytes.Equal(got, previous) {
			t.Fatalf("%s: the previous findings became %d bytes (were %d)", c.name, len(got), len(previous))
		}
	}
	res := runCmd(t, ctx, registryEnv(srv), &cancelAfter{r: bytes.NewReader(good), n: len(good) / 2, cancel: cancel}, "-o", out, "-")
	if res.code != exitFailed {
		t.Fatalf("interrupted: exit %d, want 2\n%s", res.code, res.stderr)
	}
	if got := readFile(t, out); !bytes.Equal(got, previous) {
		t.Fatalf("interrupted: the previous findings became %d bytes (were %d)", len(got), len(previous))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left beside the findings: %v", names)
	}
}

// A header line of 10 MB is described in the message, not echoed.
func TestLongHeaderIsNotEchoed(t *testing.T) {
	srv := sandbox.NewServer(t)
	huge := strings.Repeat("x", 10<<20)
	res := runCmd(t, t.Context(), registryEnv(srv), strings.NewReader("listing_id,"+huge+"\nL1,a\n"))
	if res.code != exitFailed {
		t.Fatalf("exit %d, want 2", res.code)
	}
	if len(res.stderr) > 4096 || !strings.Contains(res.stderr, "no product key column") || !strings.Contains(res.stderr, `"listing_id"`) {
		t.Fatalf("stderr is %d bytes: %.300q", len(res.stderr), res.stderr)
	}
}

// A journal remembers the input it was written for and the flags that
// shape the output: resuming with another catalogue, or another -all,
// exits 2 naming what differs, and leaves the work so far alone.
func TestResumeRefusesAnotherInput(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	ls := catalogue(srv, 4000, 700)
	in := csvOf(ls, nil)
	file := write(t, dir, "catalogue.csv", in)
	out, journal := filepath.Join(dir, "out.csv"), filepath.Join(dir, "audit.journal")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The kill: the command reads the file itself, so cancel from a
	// reader of the same bytes the sandbox answers for.
	res := runCmd(t, ctx, registryEnv(srv), &cancelAfter{r: bytes.NewReader(in), n: len(in) / 2, cancel: cancel},
		"-o", out, "-resume", journal, "-")
	if res.code != exitFailed {
		t.Fatalf("killed run: exit %d\n%s", res.code, res.stderr)
	}
	saved := readFile(t, journal)

	// Another catalogue on stdin: the same listings, one title among the
	// rows done changed.
	other := bytes.Replace(in, []byte(",item 5,"), []byte(",item 6,"), 1)
	if bytes.Equal(other, in) {
		t.Fatal("the other catalogue is the same")
	}
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(other), "-o", out, "-resume", journal, "-")
	if res.code != exitFailed || !strings.Contains(res.stderr, "SHA-256") {
		t.Fatalf("another input: exit %d, want 2 naming the SHA-256\n%s", res.code, res.stderr)
	}
	// The same bytes from a file rather than stdin.
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", out, "-resume", journal, file)
	if res.code != exitFailed || !strings.Contains(res.stderr, "input") {
		t.Fatalf("another path: exit %d, want 2 naming the input\n%s", res.code, res.stderr)
	}
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-all", "-o", out, "-resume", journal, "-")
	if res.code != exitFailed || !strings.Contains(res.stderr, "-all") {
		t.Fatalf("another -all: exit %d, want 2 naming -all\n%s", res.code, res.stderr)
	}
	if !bytes.Equal(readFile(t, journal), saved) {
		t.Fatal("a refused resume changed the journal")
	}
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-o", out, "-resume", journal, "-")
	if res.code != 1 || !strings.Contains(res.stderr, "resuming from") {
		t.Fatalf("the right input: exit %d\n%s", res.code, res.stderr)
	}
}

// The change-driven audit reads the same catalogues: a header line of 10
// MB given to -watch -catalogue is described, not echoed, either.
func TestWatchLongHeaderIsNotEchoed(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	file := write(t, dir, "catalogue.csv", []byte("listing_id,"+strings.Repeat("x", 10<<20)+"\nL1,a\n"))
	res := runCmd(t, t.Context(), registryEnv(srv), nil, "-watch", filepath.Join(dir, "catalogue.db"), "-catalogue", file)
	if res.code != exitFailed {
		t.Fatalf("exit %d, want 2", res.code)
	}
	if len(res.stderr) > 4096 || !strings.Contains(res.stderr, "no product key column") || !strings.Contains(res.stderr, `"listing_id"`) {
		t.Fatalf("stderr is %d bytes: %.300q", len(res.stderr), res.stderr)
	}
}

// -only and -except shape the findings file as much as -all does: a
// resume under other codes would write the rest of the file by other
// rules. It exits 2 naming the flag, and leaves the journal alone.
func TestResumeRefusesOtherReasonCodes(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	in := csvOf(catalogue(srv, 4000, 700), nil)
	out, journal := filepath.Join(dir, "out.csv"), filepath.Join(dir, "audit.journal")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := runCmd(t, ctx, registryEnv(srv), &cancelAfter{r: bytes.NewReader(in), n: len(in) / 2, cancel: cancel},
		"-o", out, "-resume", journal, "-only", "revoked", "-")
	if res.code != exitFailed {
		t.Fatalf("killed run: exit %d\n%s", res.code, res.stderr)
	}
	saved := readFile(t, journal)
	for _, c := range []struct{ flag, args []string }{
		{[]string{"-only"}, nil},
		{[]string{"-only"}, []string{"-only", "revoked,suspended"}},
		{[]string{"-except"}, []string{"-only", "revoked", "-except", "suspended"}},
	} {
		res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), append(c.args, "-o", out, "-resume", journal, "-")...)
		if res.code != exitFailed || !strings.Contains(res.stderr, c.flag[0]) {
			t.Errorf("resumed with %q: exit %d, want 2 naming %s\n%s", c.args, res.code, c.flag[0], res.stderr)
		}
	}
	if !bytes.Equal(readFile(t, journal), saved) {
		t.Fatal("a refused resume changed the journal")
	}
	// The same codes, written in another order: the same selection.
	res = runCmd(t, t.Context(), registryEnv(srv), bytes.NewReader(in), "-only", " Revoked ", "-o", out, "-resume", journal, "-")
	if res.code != exitFlagged || !strings.Contains(res.stderr, "resuming from") {
		t.Fatalf("the same -only: exit %d\n%s", res.code, res.stderr)
	}
	for _, f := range findingsOf(t, out) {
		if f.Code != audit.CodeRevoked {
			t.Fatalf("a finding of %s in a -only revoked audit", f.Code)
		}
	}
}

// cancelOnBatch is srv behind a proxy that cancels once n batch lookups
// have been answered: a kill of a run that reads its input file itself.
func cancelOnBatch(t *testing.T, srv *sandbox.Server, n int64, cancel context.CancelFunc) func(string) string {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var calls atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		if r.Method+" "+r.URL.Path == batchRoute && calls.Add(1) == n {
			cancel()
		}
	}))
	t.Cleanup(front.Close)
	return envOf("QC_API_URL", front.URL, "QC_API_KEY", "test-key")
}

// The journal knows the file it was written for by its size and SHA-256
// as well as its path: the same path holding another export (edited in
// place, or one of another size) is exit 2 naming the difference.
func TestResumeRefusesTheSameFileChanged(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	in := csvOf(catalogue(srv, 4000, 700), nil)
	file := write(t, dir, "catalogue.csv", in)
	out, journal := filepath.Join(dir, "out.csv"), filepath.Join(dir, "audit.journal")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := runCmd(t, ctx, cancelOnBatch(t, srv, 3, cancel), nil, "-o", out, "-resume", journal, file)
	if res.code != exitFailed {
		t.Fatalf("killed run: exit %d\n%s", res.code, res.stderr)
	}
	saved := readFile(t, journal)

	// A title among the last rows edited, the size kept: the rows the
	// journal counts as done are the same, the file is not.
	edited := bytes.Replace(in, []byte(",item 3999,"), []byte(",item 3998,"), 1)
	if bytes.Equal(edited, in) || len(edited) != len(in) {
		t.Fatal("the edit changed nothing, or the size")
	}
	for _, c := range []struct {
		what string
		data []byte
	}{{"SHA-256", edited}, {"size", append(slices.Clone(in), "L9999,shop-1,late,,,,\n"...)}} {
		write(t, dir, "catalogue.csv", c.data)
		res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", out, "-resume", journal, file)
		if res.code != exitFailed || !strings.Contains(res.stderr, "another "+c.what) {
			t.Errorf("the file's %s changed: exit %d, want 2 naming it\n%s", c.what, res.code, res.stderr)
		}
		if !bytes.Equal(readFile(t, journal), saved) {
			t.Fatalf("the file's %s changed: a refused resume changed the journal", c.what)
		}
	}
	write(t, dir, "catalogue.csv", in)
	res = runCmd(t, t.Context(), registryEnv(srv), nil, "-o", out, "-resume", journal, file)
	if res.code != exitFlagged || !strings.Contains(res.stderr, "resuming from") {
		t.Fatalf("the same file: exit %d\n%s", res.code, res.stderr)
	}
	if want := libraryRun(t, srv, in, false, false); !bytes.Equal(bytes.TrimPrefix(readFile(t, out), []byte("\ufeff")), want) {
		t.Error("the resumed findings differ from an uninterrupted run's")
	}
}
