package enquiry_test

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qualitycommit/qcsdk/enquiry"
)

// shopUser and shopData are what a platform's layout reads of a request:
// who is signed in, and their cart.
type shopUser struct{ Name string }

type shopData struct {
	User *shopUser // nil: nobody is signed in
	Cart int
}

// shopDataOf is a platform's own reading of a request: here the user is
// named by a cookie, and the cart counts its items in another.
func shopDataOf(r *http.Request) any {
	d := shopData{}
	if c, err := r.Cookie("user"); err == nil {
		d.User = &shopUser{Name: c.Value}
	}
	if c, err := r.Cookie("cart"); err == nil {
		d.Cart = len(c.Value)
	}
	return d
}

type nonceKey struct{}

// withShopCSP is a platform's CSP middleware: a nonce per request, in its
// policy and in the request's context, where its templates find it.
func withShopCSP(nonce string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'")
		h.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

func shopNonce(r *http.Request) string {
	n, _ := r.Context().Value(nonceKey{}).(string)
	return n
}

const dataLayout = `<!doctype html>
<html lang="{{.Lang}}"><head><title>{{.Title}} · Shop</title>{{.Head}}<script nonce="{{.Nonce}}" src="/static/shop.js"></script></head>
<body><header>{{with .Data.User}}<span id="user">{{.Name}}</span>{{else}}<a id="signin" href="/signin">Sign in</a>{{end}} <span id="cart">{{.Data.Cart}}</span></header>
{{.Body}}</body></html>`

// The layout reads what the platform knows of the request — the user, the
// cart — through Layout.Data, and the nonce its CSP middleware set
// through Layout.Nonce; the entry's stylesheet link carries the nonce too,
// so that a nonce-only style-src admits it.
func TestTheLayoutReadsTheRequestAndItsNonce(t *testing.T) {
	var calls atomic.Int64
	data := func(r *http.Request) any { calls.Add(1); return shopDataOf(r) }
	e := setup(t, nil, enquiry.WithLayout(enquiry.Layout{Template: template.Must(template.New("shop").Parse(dataLayout)),
		Data: data, Nonce: shopNonce}))
	calls.Store(0) // New's own rendering of a sample page
	h := withShopCSP("n0nce-7Qx", e.q.Handler("/quality/"))

	resp := get(t, h, "/quality/cases", "Cookie", `user=<b>Li Lei</b>; cart=abc`)
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /quality/cases: %d\n%s", resp.StatusCode, b)
	}
	for _, want := range []string{
		`<span id="user">&lt;b&gt;Li Lei&lt;/b&gt;</span>`, `<span id="cart">3</span>`,
		`<script nonce="n0nce-7Qx" src="/static/shop.js">`,
		`<link rel="stylesheet" href="/quality/enquiry.css" nonce="n0nce-7Qx" />`,
		`class="qce-case"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s:\n%s", want, b)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the layout's data was read %d times for one page; want once", n)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'nonce-n0nce-7Qx'") {
		t.Errorf("the platform's policy became %q", csp)
	}

	// Nobody signed in, no nonce set: the layout's other branch, and a
	// link without a nonce.
	b = body(t, get(t, e.q.Handler("/quality/"), "/quality/?locale=en"))
	for _, want := range []string{`<a id="signin" href="/signin">Sign in</a>`, `<span id="cart">0</span>`,
		`<link rel="stylesheet" href="/quality/enquiry.css" />`} {
		if !strings.Contains(b, want) {
			t.Errorf("the anonymous page lacks %s:\n%s", want, b)
		}
	}

	// A nonce that is not one is not written into the page.
	b = body(t, get(t, withShopCSP(`x" onload="alert(1)`, e.q.Handler("/quality/")), "/quality/"))
	if strings.Contains(b, "onload") {
		t.Errorf("a hostile nonce reached the page:\n%s", b)
	}
}

// A layout that cannot render a page fails New, with a *LayoutError, so
// that the mistake shows at start-up rather than as a 500 on every page:
// a field the View lacks, a field of the platform's data the layout
// misnames, a nil it walks into for a shopper who is not signed in, a
// branch only a private page takes.
func TestNewRefusesALayoutThatCannotRenderAPage(t *testing.T) {
	e := setup(t, nil)
	for name, c := range map[string]struct {
		layout string
		data   func(*http.Request) any
	}{
		"a field the View lacks":   {layout: `<html>{{.Body}}{{.User.Name}}</html>`},
		"a misnamed field of data": {layout: `<html>{{.Body}}{{.Data.Usr}}</html>`, data: shopDataOf},
		"nobody signed in":         {layout: `<html>{{.Body}}{{.Data.User.Name}}</html>`, data: shopDataOf},
		"data without the hook":    {layout: `<html>{{.Body}}{{.Data.Cart}}</html>`},
		"a private page":           {layout: `<html>{{.Body}}{{if .Private}}{{.NoSuchField}}{{end}}</html>`},
	} {
		_, err := enquiry.New(e.qc, e.w, enquiry.WithLayout(enquiry.Layout{Template: template.Must(template.New("shop").Parse(c.layout)), Data: c.data}))
		var le *enquiry.LayoutError
		if !errors.As(err, &le) {
			t.Errorf("%s: New = %v; want a *LayoutError", name, err)
			continue
		}
		if le.Err == nil || !strings.Contains(err.Error(), "layout") || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: %q", name, err)
		}
	}
	for name, l := range map[string]enquiry.Layout{
		"layout data, no layout": {Data: shopDataOf},
		"a nonce, but no layout": {Nonce: shopNonce},
	} {
		if _, err := enquiry.New(e.qc, e.w, enquiry.WithLayout(l)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A layout that fails for some request only (here, a cart of ten items
// or more) answers a plain 500, never half a page, and says why in the log
// once, however often it fails the same way.
func TestALayoutThatFailsAtRequestTimeIsLoggedOnce(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	layout := template.Must(template.New("shop").Parse(`<html>{{.Body}}{{if gt .Data.Cart 9}}{{.Data.Cart.Nope}}{{end}}</html>`))
	e := setup(t, nil)
	q, err := enquiry.New(e.qc, e.w, enquiry.WithLayout(enquiry.Layout{Template: layout, Data: shopDataOf}), enquiry.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	h := q.Handler("/quality/")
	if resp := get(t, h, "/quality/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a cart of none: %d", resp.StatusCode)
	}
	for range 3 {
		resp := get(t, h, "/quality/", "Cookie", "cart=0123456789")
		if b := body(t, resp); resp.StatusCode != http.StatusInternalServerError || strings.Contains(b, "<") {
			t.Errorf("a layout failing: %d %q; want a plain 500", resp.StatusCode, b)
		}
	}
	out := logged.String()
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "Nope") {
		t.Errorf("three failures of one layout logged %d lines; want one ERROR naming the cause:\n%s", n, out)
	}
}
