package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// fixture is a registry, a platform rendering its badges, and a file of
// the registry's keys.
type fixture struct {
	srv     *sandbox.Server
	p       *platform
	at      time.Time
	dir     string
	keyFile string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := sandbox.NewServer(t)
	at := srv.ReferenceTime().Add(12 * time.Hour)
	p, err := newPlatform(srv.URL, at)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.qc.Close() })
	f := &fixture{srv: srv, p: p, at: at, dir: t.TempDir()}
	var keys strings.Builder
	keys.WriteString("# the sandbox's log keys\n\n")
	for _, k := range srv.LogKeys() {
		keys.WriteString(k.Key + "\n")
	}
	f.keyFile = f.file(t, "registry.keys", []byte(keys.String()))
	return f
}

func (f *fixture) file(t *testing.T, name string, body []byte) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// badge is the .json badge of the first demo product with verdict v.
func (f *fixture) badge(t *testing.T, v client.Verdict) []byte {
	t.Helper()
	g := demoGTIN(f.srv.Sandbox, v)
	if g == "" {
		t.Fatalf("no demo product is %s", v)
	}
	b, err := f.p.badge(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonLD is the JSON-LD badge of the first demo product with verdict v,
// without its script element.
func (f *fixture) jsonLD(t *testing.T, v client.Verdict) []byte {
	t.Helper()
	g := demoGTIN(f.srv.Sandbox, v)
	page := f.p.w.Page(context.Background(), g)
	defer page.Close()
	h, _ := page.JSONLD(g)
	ld := string(h)
	ld = strings.TrimSuffix(strings.TrimPrefix(ld, `<script type="application/ld+json">`), `</script>`)
	if ld == "" {
		t.Fatalf("no JSON-LD for the %s product", v)
	}
	return []byte(ld)
}

func runQC(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return code, out.String() + errOut.String()
}

// edit changes a copy of a badge.
func edit(t *testing.T, badge []byte, change func(b map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(badge, &b); err != nil {
		t.Fatal(err)
	}
	change(b)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// records are the records of a .json badge's proof, or of a JSON-LD's.
func records(b map[string]any) []any {
	p, ok := b["proof"].(map[string]any)
	if !ok {
		p = b["qcsdk:proof"].(map[string]any)
	}
	return p["records"].([]any)
}

func record(b map[string]any, kind string) map[string]any {
	for _, r := range records(b) {
		if r := r.(map[string]any); r["kind"] == kind {
			return r
		}
	}
	panic("no " + kind + " record")
}

func TestGenuineBadgesVerify(t *testing.T) {
	f := newFixture(t)
	for _, v := range []client.Verdict{client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn} {
		path := f.file(t, string(v)+".json", f.badge(t, v))
		code, out := runQC(t, "-key", f.keyFile, path)
		if code != exitOK || !strings.HasPrefix(out, "ok    ") || !strings.Contains(out, string(v)) {
			t.Errorf("the genuine %s badge: exit %d\n%s", v, code, out)
		}
		code, out = runQC(t, "-registry", f.srv.URL, path)
		if code != exitOK {
			t.Errorf("the genuine %s badge against the registry: exit %d\n%s", v, code, out)
		}
	}
}

// Each way a .json badge can fail is named on its line, and exits 1.
func TestEachCauseOfFailure(t *testing.T) {
	f := newFixture(t)
	committed := f.badge(t, client.VerdictCommitted)
	withdrawn := f.badge(t, client.VerdictWithdrawn)
	failed := f.badge(t, client.VerdictInspectionFailed)
	otherKey := func() string {
		_, vkey, err := note.GenerateKey(rand.Reader, "sandbox.qualitycommit.example")
		if err != nil {
			t.Fatal(err)
		}
		return f.file(t, "other.keys", []byte(vkey+"\n"))
	}()
	someHash := func() string { h := sha256.Sum256([]byte("x")); return base64.StdEncoding.EncodeToString(h[:]) }()
	notListed, err := f.p.badge(f.srv.NotListedGTIN())
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, cause string
		badge       []byte
		keys        string
	}{
		{"proof removed", causeNoProof, edit(t, committed, func(b map[string]any) { delete(b, "proof") }), ""},
		{"a not_listed badge", causeNoProof, notListed, ""},
		{"another key", causeSignature, committed, otherKey},
		{"checkpoint rewritten", causeSignature, edit(t, committed, func(b map[string]any) {
			p := b["proof"].(map[string]any)
			p["checkpoint"] = strings.Replace(p["checkpoint"].(string), "\n", "\n1", 1)
		}), ""},
		{"commitment record edited", causeDigest, edit(t, withdrawn, func(b map[string]any) {
			record(b, "commitment")["record"].(map[string]any)["status"] = "active"
		}), ""},
		{"inspection record edited with its digest", causeInclusion, edit(t, failed, func(b map[string]any) {
			r := record(b, "inspection")
			r["record"].(map[string]any)["result"] = "pass"
			r["sha256"] = digestOf(t, r)
		}), ""},
		{"inclusion hash replaced", causeInclusion, edit(t, committed, func(b map[string]any) {
			record(b, "commitment")["inclusion"].([]any)[0] = someHash
		}), ""},
		{"another maker's commitment", causeRecords, edit(t, committed, func(b map[string]any) {
			var other map[string]any
			json.Unmarshal(withdrawn, &other)
			rs := records(b)
			for i, r := range rs {
				if r.(map[string]any)["kind"] == "commitment" {
					rs[i] = record(other, "commitment")
				}
			}
		}), ""},
		{"leaf index edited", causeRecords, edit(t, committed, func(b map[string]any) {
			record(b, "commitment")["leaf_index"] = 0
		}), ""},
		{"record renamed", causeRecords, edit(t, committed, func(b map[string]any) {
			record(b, "commitment")["id"] = "cmt_0000009_1"
		}), ""},
		{"a record of no kind it knows", causeRecords, edit(t, committed, func(b map[string]any) {
			record(b, "commitment")["kind"] = "case"
		}), ""},
		{"the maker after its commitment", causeRecords, edit(t, committed, func(b map[string]any) {
			rs := records(b)
			rs[0], rs[1] = rs[1], rs[0]
		}), ""},
		{"the commitment after an inspection", causeRecords, edit(t, committed, func(b map[string]any) {
			rs := records(b)
			rs[1], rs[2] = rs[2], rs[1]
		}), ""},
		{"look-back shortened", causeVerdict, edit(t, failed, func(b map[string]any) {
			b["proof"].(map[string]any)["lookback_seconds"] = 1
		}), ""},
		{"another maker's inspection", causeRecords, edit(t, committed, func(b map[string]any) {
			var other map[string]any
			json.Unmarshal(failed, &other)
			rs := records(b)
			rs[2] = record(other, "inspection")
		}), ""},
		{"verdict flipped", causeVerdict, edit(t, withdrawn, func(b map[string]any) { b["verdict"], b["status"] = "committed", "active" }), ""},
		{"status changed", causeVerdict, edit(t, withdrawn, func(b map[string]any) { b["status"] = "expired" }), ""},
		{"date changed", causeVerdict, edit(t, committed, func(b map[string]any) { b["since"] = "2026-03-14" }), ""},
		{"decided later", causeVerdict, edit(t, committed, func(b map[string]any) {
			b["proof"].(map[string]any)["decided_at"] = "2031-01-01T00:00:00Z"
		}), ""},
		{"link elsewhere", causeVerdict, edit(t, committed, func(b map[string]any) {
			b["verify_url"] = "https://verify.qualitycommit.example.evil/commitments/x"
		}), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys := c.keys
			if keys == "" {
				keys = f.keyFile
			}
			code, out := runQC(t, "-key", keys, f.file(t, "badge.json", c.badge))
			if code != exitRefused || !strings.Contains(out, "FAIL  ") || !strings.Contains(out, ": "+c.cause+": ") {
				t.Errorf("exit %d, want 1 for %s:\n%s", code, c.cause, out)
			}
		})
	}
}

// Genuine records put together into a status the registry never gave:
// each is the registry's, and together they are not one product's.
func TestRecordsTogether(t *testing.T) {
	ent := &client.Enterprise{ID: "ent_1"}
	for _, c := range []struct {
		name string
		st   client.ProductStatus
	}{
		{"another maker's commitment", client.ProductStatus{Enterprise: ent, Commitment: &client.Commitment{ID: "cmt_2", EnterpriseID: "ent_2"}}},
		{"another maker's inspection", client.ProductStatus{Enterprise: ent,
			Inspections: []client.Inspection{{ID: "ins_2", EnterpriseID: "ent_2"}}}},
		{"an inspection of another product", client.ProductStatus{Key: client.ProductKey{GTIN: "06910000100003"}, Enterprise: ent,
			Inspections: []client.Inspection{{ID: "ins_1", EnterpriseID: "ent_1", Product: client.SampledProduct{GTIN: "06910000100010"}}}}},
	} {
		if err := checkTogether(&c.st); causeOf(err) != causeRecords {
			t.Errorf("%s: %v, want a records failure", c.name, err)
		}
	}
	ok := client.ProductStatus{Key: client.ProductKey{GTIN: "06910000100003"}, Enterprise: ent,
		Commitment:  &client.Commitment{ID: "cmt_1", EnterpriseID: "ent_1"},
		Inspections: []client.Inspection{{ID: "ins_1", EnterpriseID: "ent_1", Product: client.SampledProduct{GTIN: "06910000100003"}}}}
	if err := checkTogether(&ok); err != nil {
		t.Errorf("one maker's records of one product: %v", err)
	}
}

// A registry (or whoever answers for it) that serves a leaf other than
// the one its tree holds does not make a JSON-LD badge's digests true.
func TestJSONLDLeafNotInTheTree(t *testing.T) {
	f := newFixture(t)
	forged := "Q0yEIOvnyzqY3eHimLwGml74KFSKCI21z4mFjg35arg="
	lying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/log/leaf" {
			f.srv.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, r)
		leaf := rec.Body.String()
		if i := strings.Index(leaf, "sha256 "); i >= 0 {
			leaf = leaf[:i] + "sha256 " + forged + "\n"
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, leaf)
	}))
	defer lying.Close()
	ld := edit(t, f.jsonLD(t, client.VerdictCommitted), func(b map[string]any) { record(b, "commitment")["sha256"] = forged })
	code, out := runQC(t, "-registry", lying.URL, f.file(t, "ld.json", ld))
	if code != exitRefused || !strings.Contains(out, ": "+causeInclusion+": ") {
		t.Errorf("exit %d, want 1 for inclusion:\n%s", code, out)
	}
}

// digestOf is the digest a badge's record entry's record has.
func digestOf(t *testing.T, r map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(r)
	var jr jsonRecord
	if err := json.Unmarshal(raw, &jr); err != nil {
		t.Fatal(err)
	}
	ev, err := decodeRecord(jr)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := client.LogLeaf(ev)
	if err != nil {
		t.Fatal(err)
	}
	return leafDigest(leaf)
}

// A badge from a view of the log shown to one platform verifies with the
// keys alone, and fails against the registry's own checkpoint.
func TestForkedViewFailsAgainstTheRegistry(t *testing.T) {
	f := newFixture(t)
	if _, err := f.srv.ForkLog("forked"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.PublishInspection(demoGTIN(f.srv.Sandbox, client.VerdictInspectionFailed), client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	forked, err := newPlatform(f.srv.URL, f.at, client.WithAPIKey("forked"))
	if err != nil {
		t.Fatal(err)
	}
	defer forked.qc.Close()
	b, err := forked.badge(demoGTIN(f.srv.Sandbox, client.VerdictCommitted))
	if err != nil {
		t.Fatal(err)
	}
	path := f.file(t, "forked.json", b)
	if code, out := runQC(t, "-key", f.keyFile, path); code != exitOK {
		t.Fatalf("with the keys alone: exit %d\n%s", code, out)
	}
	code, out := runQC(t, "-registry", f.srv.URL, path)
	if code != exitRefused || !strings.Contains(out, ": "+causeFork+": ") {
		t.Errorf("against the registry: exit %d, want 1 for a fork:\n%s", code, out)
	}
}

func TestJSONLDBadge(t *testing.T) {
	f := newFixture(t)
	ld := f.jsonLD(t, client.VerdictCommitted)
	path := f.file(t, "ld.json", ld)
	if code, out := runQC(t, "-registry", f.srv.URL, path); code != exitOK || !strings.HasPrefix(out, "ok    ") {
		t.Errorf("the genuine JSON-LD against the registry: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		name, cause string
		ld          []byte
		keys        bool
	}{
		{"offline, without inclusion proofs", causeNoProof, ld, true},
		{"proof removed", causeNoProof, edit(t, ld, func(b map[string]any) { delete(b, "qcsdk:proof") }), false},
		{"digest changed", causeDigest, edit(t, ld, func(b map[string]any) {
			h := sha256.Sum256([]byte("x"))
			record(b, "commitment")["sha256"] = base64.StdEncoding.EncodeToString(h[:])
		}), false},
		{"leaf moved", causeInclusion, edit(t, ld, func(b map[string]any) {
			r := record(b, "commitment")
			r["seq"], r["leafIndex"] = r["seq"].(float64)+1, r["leafIndex"].(float64)+1
		}), false},
		{"leaf past the log", causeInclusion, edit(t, ld, func(b map[string]any) {
			r := record(b, "commitment")
			r["seq"], r["leafIndex"] = 1_000_001, 1_000_000
		}), false},
		{"another certification", causeRecords, edit(t, ld, func(b map[string]any) {
			b["hasCertification"].(map[string]any)["certificationIdentification"] = "cmt_0000009_1"
		}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"-registry", f.srv.URL}
			if c.keys {
				args = []string{"-key", f.keyFile}
			}
			code, out := runQC(t, append(args, f.file(t, "ld.json", c.ld))...)
			if code != exitRefused || !strings.Contains(out, ": "+c.cause+": ") {
				t.Errorf("exit %d, want 1 for %s:\n%s", code, c.cause, out)
			}
		})
	}
}

// A product page: its JSON-LD badge and the .json badge it links to are
// each checked, as a regulator's crawler would.
func TestProductPage(t *testing.T) {
	f := newFixture(t)
	g := demoGTIN(f.srv.Sandbox, client.VerdictCommitted)
	page := f.p.w.Page(context.Background(), g)
	ld, _ := page.JSONLD(g)
	page.Close()
	mux := http.NewServeMux()
	mux.Handle("/quality/", f.p.h)
	mux.HandleFunc("/item/1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><head><script type="application/ld+json">{"@context":"https://schema.org","@type":"BreadcrumbList"}</script>%s</head>`+
			`<body><a href="/quality/badge/%s.json?locale=en">badge</a></body></html>`, ld, g)
	})
	mux.HandleFunc("/item/2", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body>no badge here</body></html>`)
	})
	shop := httptest.NewServer(mux)
	defer shop.Close()

	code, out := runQC(t, "-registry", f.srv.URL, shop.URL+"/item/1")
	if code != exitOK || strings.Count(out, "ok    ") != 2 || !strings.Contains(out, "(JSON-LD 2)") || !strings.Contains(out, "→ "+shop.URL+"/quality/badge/") {
		t.Errorf("the product page: exit %d, want both badges ok:\n%s", code, out)
	}
	code, out = runQC(t, "-registry", f.srv.URL, shop.URL+"/quality/badge/"+string(g)+".json")
	if code != exitOK {
		t.Errorf("the badge's URL: exit %d\n%s", code, out)
	}
	code, out = runQC(t, "-registry", f.srv.URL, shop.URL+"/item/2")
	if code != exitBadInput || !strings.Contains(out, "not a badge") {
		t.Errorf("a page without a badge: exit %d, want 2:\n%s", code, out)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	badge := f.file(t, "badge.json", f.badge(t, client.VerdictCommitted))
	notBadge := f.file(t, "other.json", []byte(`{"name":"a JSON file, not a badge"}`))
	ldOther := f.file(t, "ld-other.json", []byte(`{"@context":"https://schema.org","@type":"Organization"}`))
	text := f.file(t, "notes.txt", []byte("hello"))
	badKeys := f.file(t, "bad.keys", []byte("not a key\n"))
	noKeys := f.file(t, "empty.keys", []byte("# nothing\n"))
	missing := filepath.Join(f.dir, "missing.json")
	for _, c := range []struct {
		name string
		args []string
		say  string
	}{
		{"a flag it does not know", []string{"-keys", f.keyFile, badge}, "flag provided but not defined"},
		{"both -key and -registry", []string{"-key", f.keyFile, "-registry", f.srv.URL, badge}, "both"},
		{"neither -key nor -registry", []string{badge}, "-key FILE or -registry URL"},
		{"no target", []string{"-key", f.keyFile}, "no badge to check"},
		{"a key file that is missing", []string{"-key", missing, badge}, "cannot read"},
		{"a key that is not one", []string{"-key", badKeys, badge}, "not a note verifier key"},
		{"a key file without a key", []string{"-key", noKeys, badge}, "no key"},
		{"a registry that is not one", []string{"-registry", "ftp://registry.example", badge}, "-registry"},
		{"an unreadable badge file", []string{"-key", f.keyFile, missing}, "ERROR " + missing + ": cannot read"},
		{"JSON that is no badge", []string{"-key", f.keyFile, notBadge}, "not a badge"},
		{"JSON-LD that is no badge", []string{"-key", f.keyFile, ldOther}, "not a badge"},
		{"text that is no badge", []string{"-key", f.keyFile, text}, "not a badge"},
		{"a good badge and a bad file", []string{"-key", f.keyFile, badge, missing}, "ok    "},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := runQC(t, c.args...)
			if code != exitBadInput || !strings.Contains(out, c.say) {
				t.Errorf("exit %d, want 2 saying %q:\n%s", code, c.say, out)
			}
		})
	}
}

// With no argument the demo runs: the genuine badge verifies, the
// tampered ones and the forked one do not, and it exits 0.
func TestDemo(t *testing.T) {
	code, out := runQC(t)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"verifies:     the genuine", "(verdict mismatch:", "(digest:", "(fork:", "every badge did as expected"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo says no %q:\n%s", want, out)
		}
	}
}
