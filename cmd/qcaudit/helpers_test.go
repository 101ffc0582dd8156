package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const batchRoute = "POST /v1/products/batch"

// result is what a run of the command left.
type result struct {
	code           int
	stdout, stderr string
}

// envOf is an environment of the given name, value pairs.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// registryEnv is the environment of a run against srv.
func registryEnv(srv *sandbox.Server) func(string) string {
	return envOf("QC_API_URL", srv.URL, "QC_API_KEY", "test-key")
}

// runCmd runs the command in-process, as the binary would.
func runCmd(t *testing.T, ctx context.Context, env func(string) string, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	code := run(ctx, args, env, stdin, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// listing is a row of a test catalogue.
type listing struct {
	id, seller, title string
	key               client.ProductKey
}

// catalogue names n listings of srv's products: the demo ones (some by
// USCC, brand and model), a product whose maker is not listed, and
// generated ones, distinct of them, each sold several times.
func catalogue(srv *sandbox.Server, n, distinct int) []listing {
	var keys []client.ProductKey
	for i, d := range srv.Demo() {
		if i%2 == 1 {
			keys = append(keys, client.ProductKey{USCC: d.USCC, Brand: d.Brand, Model: d.Model})
		} else {
			keys = append(keys, client.ProductKey{GTIN: d.GTIN})
		}
	}
	keys = append(keys, client.ProductKey{GTIN: srv.NotListedGTIN()})
	ents, _ := srv.Size()
	for j, more := 0, true; more && len(keys) < distinct; j++ {
		more = false
		for e := 12; e < ents && len(keys) < distinct; e++ {
			if p, ok := srv.Product(e, j); ok && p.GTIN != "" {
				keys, more = append(keys, client.ProductKey{GTIN: p.GTIN}), true
			}
		}
	}
	ls := make([]listing, n)
	for i := range ls {
		ls[i] = listing{fmt.Sprintf("L%d", i+1), fmt.Sprintf("shop-%d", i%13), fmt.Sprintf("item %d", i+1), keys[(i*7919)%len(keys)]}
	}
	return ls
}

// csvOf writes listings as CSV, with extra raw lines inserted before the
// listings at the given indexes.
func csvOf(ls []listing, extra map[int]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"listing_id", "seller", "title", "gtin", "uscc", "brand", "model"})
	for i, l := range ls {
		if x, ok := extra[i]; ok {
			w.Flush()
			b.WriteString(x + "\n")
		}
		w.Write([]string{l.id, l.seller, l.title, string(l.key.GTIN), string(l.key.USCC), l.key.Brand, l.key.Model})
	}
	w.Flush()
	return b.Bytes()
}

// jsonlOf writes listings as JSON Lines.
func jsonlOf(ls []listing) []byte {
	var b bytes.Buffer
	for _, l := range ls {
		m := map[string]string{"listing_id": l.id, "seller": l.seller, "title": l.title}
		if l.key.GTIN != "" {
			m["gtin"] = string(l.key.GTIN)
		} else {
			m["uscc"], m["brand"], m["model"] = string(l.key.USCC), l.key.Brand, l.key.Model
		}
		line, _ := json.Marshal(m)
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

// libraryRun is what audit.Run itself writes for the catalogue: the
// command must write the same.
func libraryRun(t *testing.T, srv *sandbox.Server, in []byte, jsonl, all bool) []byte {
	t.Helper()
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	var out bytes.Buffer
	var w audit.FindingWriter = audit.NewCSVWriter(&out, false)
	listings := audit.ReadCSV(bytes.NewReader(in), nil)
	if jsonl {
		w, listings = audit.NewJSONLinesWriter(&out), audit.ReadJSONLines(bytes.NewReader(in), nil)
	}
	if _, err := audit.Run(context.Background(), api, listings, w, &audit.Options{All: all}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// csvHeader is the header of the command's CSV output: a column added,
// moved or renamed breaks the platforms that read it, so it is spelt out.
const csvHeader = "line,listing_id,seller,title,gtin,uscc,brand,model,verdict,reason," +
	"commitment_id,inspection_id,enterprise_id,verify_url,code,finding_id,status"

// readCSV parses the command's CSV output, header first.
func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(s, "\uFEFF")))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, s)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != csvHeader {
		t.Fatalf("output header %q", rows)
	}
	return rows
}

// write puts data in a file of dir and returns its path.
func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cancelAfter reads r and cancels once n bytes have been read: the
// process killed partway through its input.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.once.Do(c.cancel)
	}
	return k, err
}

// summaryValue is the number on the summary's line for label.
func summaryValue(t *testing.T, stderr, label string) int {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label+" "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if n, err := strconv.Atoi(strings.ReplaceAll(f[0], ",", "")); err == nil {
					return n
				}
			}
		}
	}
	t.Fatalf("no %q in the summary:\n%s", label, stderr)
	return 0
}
