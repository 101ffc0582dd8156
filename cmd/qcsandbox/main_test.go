package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// run must leave nothing behind once it returns. signal.NotifyContext
// starts the os/signal loop, which lives as long as the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("os/signal.loop"))
}

var hangGuard = timescale.Scale(10 * time.Second)

// started is a qcsandbox run in progress.
type started struct {
	base string             // http://host:port
	out  []string           // what it printed up to the "try:" line
	stop context.CancelFunc // cancels run's context
	done <-chan struct{}    // closed when run has returned
	err  error              // run's result, once done is closed
}

// wait waits for run to return and returns its result.
func (s *started) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(hangGuard):
		t.Fatal("run did not return after its context was cancelled")
		return nil
	}
}

// startRun runs the command with args and waits until it prints where it
// listens and the demo table.
func startRun(t *testing.T, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr)
	}()
	done := make(chan struct{})
	s := &started{stop: cancel, done: done}
	go func() {
		s.err = run(ctx, args, pw, io.Discard)
		pw.Close()
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Error("run did not return after its context was cancelled")
		}
	})

	timeout := time.After(hangGuard)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("run stopped before serving: %v\noutput:\n%s", s.wait(t), strings.Join(s.out, "\n"))
			}
			s.out = append(s.out, line)
			if _, addr, found := strings.Cut(line, "listening on "); found {
				s.base = strings.TrimSpace(addr)
			}
			if strings.HasPrefix(line, "try: ") {
				if !strings.HasPrefix(s.base, "http://127.0.0.1:") {
					t.Fatalf("no \"listening on http://127.0.0.1:PORT\" line before the hint:\n%s", strings.Join(s.out, "\n"))
				}
				return s
			}
		case <-timeout:
			t.Fatalf("run printed no \"try:\" line within %v:\n%s", hangGuard, strings.Join(s.out, "\n"))
		}
	}
}

// demoRows reads the demo table: GTIN and verdict per row.
func demoRows(out []string) map[client.GTIN]client.Verdict {
	rows := map[client.GTIN]client.Verdict{}
	in := false
	for _, line := range out {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "demo GTIN"):
			in = true
		case in && len(f) >= 2:
			rows[client.GTIN(f[0])] = client.Verdict(f[1])
		case in:
			in = false
		}
	}
	return rows
}

func get(t *testing.T, hc *http.Client, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: hangGuard}
}

// curlHint parses the "try: curl [-H 'Name: value'] URL" line: the URL and
// the headers as name, value pairs.
func curlHint(t *testing.T, out []string) (string, []string) {
	t.Helper()
	for _, line := range out {
		rest, ok := strings.CutPrefix(line, "try: curl ")
		if !ok {
			continue
		}
		var hdr []string
		for {
			h, ok := strings.CutPrefix(rest, "-H '")
			if !ok {
				break
			}
			var quoted string
			quoted, rest, ok = strings.Cut(h, "' ")
			if !ok {
				t.Fatalf("unterminated -H in %q", line)
			}
			name, value, _ := strings.Cut(quoted, ": ")
			hdr = append(hdr, name, value)
		}
		if strings.ContainsAny(rest, " '") {
			t.Fatalf("cannot parse the hint %q", line)
		}
		return rest, hdr
	}
	t.Fatalf("no \"try: curl\" line:\n%s", strings.Join(out, "\n"))
	return "", nil
}

// TestRunWithoutKeys: without -api-key the banner says any key is
// accepted, and the hint, with no header, works as printed.
func TestRunWithoutKeys(t *testing.T) {
	t.Setenv("QC_SANDBOX_API_KEYS", "")
	s := startRun(t, "-addr", "127.0.0.1:0", "-enterprises", "20", "-products", "40")
	if !slices.ContainsFunc(s.out, func(l string) bool { return strings.Contains(l, "accepts any API key") }) {
		t.Errorf("the banner does not say any key is accepted:\n%s", strings.Join(s.out, "\n"))
	}
	url, hdr := curlHint(t, s.out)
	if len(hdr) != 0 {
		t.Errorf("the hint sends headers %q, want none", hdr)
	}
	hc := httpClient(t)
	if resp, body := get(t, hc, url); resp.StatusCode != http.StatusOK {
		t.Errorf("the hint as printed: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, hc, url, "Authorization", "Bearer whatever"); resp.StatusCode != http.StatusOK {
		t.Errorf("the hint with any key: %d %s", resp.StatusCode, body)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"Authorization: Bearer k1": `'Authorization: Bearer k1'`,
		"it's":                     `'it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRunServesTheDemo(t *testing.T) {
	t.Parallel()
	s := startRun(t, "-addr", "127.0.0.1:0", "-reference", "2026-03-15", "-api-key", "k1")
	hc := httpClient(t)
	ref := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

	rows := demoRows(s.out)
	if len(rows) < 2 {
		t.Fatalf("the demo table has %d rows:\n%s", len(rows), strings.Join(s.out, "\n"))
	}
	for g, want := range rows {
		resp, body := get(t, hc, s.base+"/v1/products/"+string(g), "Authorization", "Bearer k1")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET demo product %s: %d %s", g, resp.StatusCode, body)
		}
		var st client.ProductStatus
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("GET demo product %s: %v", g, err)
		}
		if got := client.Decide(&st, ref, client.DefaultLookback).Verdict; got != want {
			t.Errorf("demo product %s: verdict %s, the table says %s", g, got, want)
		}
	}
	// The hint works as printed: with -api-key it carries the key.
	if !slices.ContainsFunc(s.out, func(l string) bool { return strings.Contains(l, "requires one of 1 API key") }) {
		t.Errorf("the banner does not say a key is required:\n%s", strings.Join(s.out, "\n"))
	}
	url, hdr := curlHint(t, s.out)
	if want := []string{"Authorization", "Bearer k1"}; !slices.Equal(hdr, want) {
		t.Errorf("the hint sends headers %q, want %q", hdr, want)
	}
	if resp, body := get(t, hc, url, hdr...); resp.StatusCode != http.StatusOK {
		t.Errorf("the hint as printed: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, hc, url); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s without the key: %d %s, want 401", url, resp.StatusCode, body)
	}

	s.stop()
	if err := s.wait(t); err != nil {
		t.Errorf("run returned %v after its context was cancelled, want nil", err)
	}
	// It no longer serves.
	if resp, err := hc.Get(s.base + "/v1/categories"); err == nil {
		resp.Body.Close()
		t.Errorf("still serving after run returned: %d", resp.StatusCode)
	}
}

func TestRunWithFaultsAndNoProducts(t *testing.T) {
	t.Parallel()
	s := startRun(t, "-addr", "127.0.0.1:0", "-products", "0", "-fault", "error=503 GET /v1/categories")
	hc := httpClient(t)
	if rows := demoRows(s.out); len(rows) != 1 {
		t.Errorf("a set without products lists %d demo rows, want only the not-listed GTIN", len(rows))
	}
	resp, body := get(t, hc, s.base+"/v1/categories")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /v1/categories with -fault error=503: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, hc, s.base+"/v1/enterprises")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/enterprises: %d %s", resp.StatusCode, body)
	}
	s.stop()
	if err := s.wait(t); err != nil {
		t.Errorf("run returned %v, want nil", err)
	}
}

func TestRunWithFeedRetention(t *testing.T) {
	t.Parallel()
	s := startRun(t, "-addr", "127.0.0.1:0", "-feed-retention", "1")
	hc := httpClient(t)
	changes := func(query string) (int, client.ChangePage) {
		t.Helper()
		resp, body := get(t, hc, s.base+"/v1/changes?"+query)
		var page client.ChangePage
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatalf("GET /v1/changes?%s: %v", query, err)
			}
		}
		return resp.StatusCode, page
	}
	_, head := changes("from=head")
	if head.NextCursor == "" {
		t.Fatal("from=head answered no cursor")
	}
	// The first demo product, the first row under the table's header.
	var g client.GTIN
	for i, line := range s.out {
		if strings.HasPrefix(line, "demo GTIN") && i+1 < len(s.out) {
			g = client.GTIN(strings.Fields(s.out[i+1])[0])
			break
		}
	}
	for range 2 {
		resp, err := hc.Post(s.base+"/_sandbox/inspections", "application/json", strings.NewReader(`{"gtin":"`+string(g)+`","result":"pass"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("publishing an inspection of %s: %d", g, resp.StatusCode)
		}
	}
	if status, _ := changes("after=" + head.NextCursor); status != http.StatusBadRequest {
		t.Errorf("a cursor two events behind a retention of one: %d, want 400", status)
	}
	if status, page := changes(""); status != http.StatusOK || len(page.Data) != 1 {
		t.Errorf("the feed retaining one event: %d, %d events, want 200 and 1", status, len(page.Data))
	}
}

// The log's checkpoints are signed with the key of -log-key-file, whose
// verifier key /v1/keys lists.
func TestRunWithLogKeyFile(t *testing.T) {
	t.Parallel()
	skey, vkey, err := note.GenerateKey(rand.Reader, "ci.sandbox.test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(file, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startRun(t, "-addr", "127.0.0.1:0", "-log-key-file", file)
	hc := httpClient(t)
	resp, body := get(t, hc, s.base+"/v1/keys")
	var keys struct {
		Data []client.LogKey `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &keys) != nil || len(keys.Data) != 1 || keys.Data[0].Key != vkey {
		t.Fatalf("GET /v1/keys: %d %s, want the file's key %s", resp.StatusCode, body, vkey)
	}
	_, cp := get(t, hc, s.base+"/v1/log/checkpoint")
	if _, err := client.VerifyCheckpoint(cp, "", keys.Data, time.Now()); err != nil {
		t.Errorf("the checkpoint does not verify with the file's key: %v\n%s", err, cp)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	t.Parallel()
	badKey := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(badKey, []byte("PRIVATE+KEY+not+a+key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-fault", "bogus"},
		{"-fault", "error@2"},
		{"-reference", "notadate"},
		{"-reference", "2026-13-01"},
		{"-addr", "127.0.0.1:0", "extra"},
		{"-no-such-flag"},
		{"-products", "-1"},
		{"-enterprises", "100000"},
		{"-seed", "minus one"},
		{"-addr", "127.0.0.1:not-a-port"},
		{"-feed-retention", "-1"},
		{"-log-key-file", "/nonexistent/qcsandbox-log.key"},
		{"-log-key-file", badKey},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		err := run(ctx, args, io.Discard, io.Discard)
		ended := ctx.Err() != nil
		cancel()
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
		if ended {
			t.Errorf("run(%q) only returned when its context ended", args)
		}
	}
}
