package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// writeLayout writes a layout file and returns its path.
func writeLayout(t *testing.T, src string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "layout.html")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A Java or PHP platform's header and footer, as an html/template file
// with a content block where each enquiry page goes.
const javaShopLayout = `<!doctype html>
<html lang="{{.Lang}}"><head><title>{{.Title}} · Java Shop</title>{{.Head}}</head>
<body><header id="shop">Java Shop</header>
{{block "content" .}}{{end}}
<footer id="shop-foot">© Java Shop</footer></body></html>
`

// With -layout, qcbadge's enquiry pages are the platform's pages: its
// header and footer around each.
func TestTheEnquiryPagesTakeTheLayoutFile(t *testing.T) {
	_, hs := newTestService(t, "QC_LAYOUT", writeLayout(t, javaShopLayout))
	for _, target := range []string{"/quality/", "/quality/cases?locale=en", "/quality/enterprises/ent_9999999"} {
		_, _, body := fetch(t, hs.URL+target)
		for _, want := range []string{`<header id="shop">Java Shop</header>`, `<footer id="shop-foot">`, ` · Java Shop</title>`,
			`<link rel="stylesheet" href="/quality/enquiry.css" />`, `<div class="qce" lang=`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s:\n%s", target, want, body)
			}
		}
		if strings.Contains(body, "qce-standalone") {
			t.Errorf("GET %s: the standalone page inside the platform's", target)
		}
	}
}

// A layout that cannot work exits 2 with one line naming the file: one
// that cannot be read or parsed, one with no content block, one that
// cannot render a page.
func TestABadLayoutExits2NamingIt(t *testing.T) {
	for name, c := range map[string]struct {
		file string
		says string
	}{
		"missing":          {filepath.Join(t.TempDir(), "nope.html"), "nope.html"},
		"not a template":   {writeLayout(t, `<html>{{.Body</html>`), "layout.html"},
		"no content block": {writeLayout(t, `<html>{{.Body}}</html>`), `"content"`},
		"a field it lacks": {writeLayout(t, `<html>{{.User.Name}}{{block "content" .}}{{end}}</html>`), ".User.Name"},
	} {
		for _, how := range [][]string{{"-layout", c.file}, nil} {
			var env []string
			if how == nil {
				env = []string{"QC_LAYOUT", c.file}
			}
			// Stopped before it starts: a layout qcbadge took would serve
			// and drain at once, rather than run on.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var stderr bytes.Buffer
			code := run(ctx, how, envOf(append(env, "QC_FOLLOW", "false")...), &bytes.Buffer{}, &stderr)
			out := stderr.String()
			if code != 2 || !strings.Contains(out, "-layout (QC_LAYOUT)") || !strings.Contains(out, c.file) || !strings.Contains(out, c.says) {
				t.Errorf("%s (%v): exit %d, %q; want 2 naming -layout, the file and %s", name, how, code, out, c.says)
			}
			if strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("%s: more than one line: %q", name, out)
			}
		}
	}
}

// A prefix is a plain path: the routes' patterns and the OpenAPI
// document take it as written.
func TestAPrefixIsAPlainPath(t *testing.T) {
	for _, prefix := range []string{"/a b/", "/shop/{x}/", "/q#/", "/a: b/"} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-prefix", prefix}, envOf(), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "-prefix (QC_PREFIX)") {
			t.Errorf("-prefix %q: exit %d, %q; want 2 naming -prefix", prefix, code, stderr.String())
		}
	}
}

// The served OpenAPI document names the paths qcbadge serves, under the
// prefix it was started with.
func TestTheOpenAPIDocumentCarriesThePrefix(t *testing.T) {
	_, hs := newTestService(t, "QC_PREFIX", "/shop/qc/")
	code, _, body := fetch(t, hs.URL+"/shop/qc/openapi.yaml")
	if code != http.StatusOK {
		t.Fatalf("GET /shop/qc/openapi.yaml: %d", code)
	}
	if strings.Contains(body, "/quality/") {
		t.Errorf("the document served under /shop/qc/ still names /quality/")
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/shop/qc/badges", "/shop/qc/badge/{gtin}.{format}", "/shop/qc/log/checkpoint"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("the document has no path %s", p)
		}
	}
}
