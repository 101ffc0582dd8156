package enquiry_test

import (
	"html/template"
	"net/http"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/widget"
)

// shopLayout is a platform's own page: its header and footer around the
// entry's body.
const shopLayout = `<!doctype html>
<html lang="{{.Lang}}"><head><title>{{.Title}} · Shop</title>{{.Head}}<link rel="stylesheet" href="/static/shop.css" /></head>
<body><header id="shop-header">Shop</header>
{{.Body}}
<footer id="shop-footer">© Shop</footer></body></html>
`

// Every page the entry serves renders inside the platform's layout: the
// platform's header and footer, the entry's content between them, the
// page's language and title where the layout puts them.
func TestPagesRenderInsideThePlatformsLayout(t *testing.T) {
	layout := template.Must(template.New("shop").Parse(shopLayout))
	e := setup(t, nil, enquiry.WithLayout(enquiry.Layout{Template: layout}), enquiry.WithPlatformName(platformName))
	id, _ := makerOf(t, e, 2)
	h := e.q.Handler("/quality/")
	for _, c := range []struct {
		target string
		code   int
		has    string
	}{
		{"/quality/", 200, `name="q"`},
		{"/quality/?category=toys&locale=en", 200, `href="/quality/enterprises/ent_`},
		{"/quality/enterprises/" + id, 200, "执法抽检结果"},
		{"/quality/cases?locale=en", 200, `class="qce-case"`},
		{"/quality/report", 200, `name="token"`},
		{"/quality/enterprises/ent_9999999", 404, "没有找到这条记录"},
	} {
		resp := get(t, h, c.target)
		b := body(t, resp)
		if resp.StatusCode != c.code {
			t.Errorf("GET %s: %d; want %d", c.target, resp.StatusCode, c.code)
		}
		lang := "zh-CN"
		if strings.Contains(c.target, "locale=en") {
			lang = "en"
		}
		for _, want := range []string{`<html lang="` + lang + `">`, `<header id="shop-header">Shop</header>`, `<footer id="shop-footer">`,
			` · Shop</title>`, `<link rel="stylesheet" href="/quality/enquiry.css" />`, `<div class="qce" lang="` + lang + `">`, c.has} {
			if !strings.Contains(b, want) {
				t.Errorf("GET %s lacks %q:\n%s", c.target, want, b)
			}
		}
		if strings.Contains(b, "qce-standalone") {
			t.Errorf("GET %s: the standalone layout's body inside the platform's", c.target)
		}
		testio.CheckXML(t, c.target, strings.TrimPrefix(b, "<!doctype html>\n"), widget.DefaultVerifyHost, true)
		// The layout's own scripts and fonts are the platform's policy's
		// to allow: the entry keeps out only framing by another site.
		if csp := resp.Header.Get("Content-Security-Policy"); csp != "frame-ancestors 'self'" {
			t.Errorf("GET %s in the platform's layout: CSP %q; want frame-ancestors 'self' alone", c.target, csp)
		}
	}

	// A policy the platform's middleware set is the page's.
	const platformCSP = "default-src 'self'; script-src 'self' https://cdn.shop.example"
	withCSP := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Security-Policy", platformCSP)
		h.ServeHTTP(rw, r)
	})
	if csp := get(t, withCSP, "/quality/").Header.Get("Content-Security-Policy"); csp != platformCSP {
		t.Errorf("the platform's CSP became %q", csp)
	}
}

// Without a layout, a page stands alone, with the entry's own strict
// policy.
func TestTheStandaloneLayout(t *testing.T) {
	e := setup(t, nil)
	resp := get(t, e.q.Handler("/quality/"), "/quality/")
	b := body(t, resp)
	for _, want := range []string{"<!doctype html>\n", `<html lang="zh-CN">`, `<body class="qce-standalone">`, "<main>", `href="/quality/enquiry.css"`} {
		if !strings.Contains(b, want) {
			t.Errorf("the standalone page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("standalone CSP %q", csp)
	}

	if _, err := enquiry.New(e.qc, nil); err == nil {
		t.Error("a nil widget was accepted")
	}
}

// The pages read ?locale= as every part of the SDK reads a tag.
func TestPagesReadAnyLocaleTag(t *testing.T) {
	e := setup(t, nil)
	h := e.q.Handler("/quality/")
	for tag, want := range map[string]string{"en": "en", "en-AU": "en", "EN-gb": "en", "zh-CN": "zh-CN", "zh-TW": "zh-CN", "zh-Hans-SG": "zh-CN", "fr": "zh-CN"} {
		resp := get(t, h, "/quality/?locale="+tag)
		if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `<html lang="`+want+`">`) {
			t.Errorf("locale=%s: %d; want a page in %s", tag, resp.StatusCode, want)
		}
	}
	resp := get(t, h, "/quality/", "Accept-Language", "en-AU,en;q=0.9")
	if b := body(t, resp); !strings.Contains(b, `<html lang="en">`) {
		t.Error("Accept-Language en-AU did not give an English page")
	}
}

// A page's title names the page, then the entry; the search page, which
// is the entry's home, names the entry once, not twice.
func TestATitleNamesTheEntryOnce(t *testing.T) {
	e := setup(t, nil)
	h := e.q.Handler("/quality/")
	for target, want := range map[string]string{
		"/quality/":                        "<title>产品质量承诺查询</title>",
		"/quality/?locale=en":              "<title>Quality commitment registry</title>",
		"/quality/enterprises/ent_9999999": "<title>产品质量承诺查询</title>",
		"/quality/cases?locale=en":         "<title>Typical cases · Quality commitment registry</title>",
	} {
		if b := body(t, get(t, h, target)); !strings.Contains(b, want) {
			t.Errorf("GET %s lacks %s:\n%s", target, want, b)
		}
	}
}
