package enquiry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// platformName is how the tests' platform names itself to the regulator;
// without one the report form is not offered.
const platformName = "Qingxuan Market"

// shopper is a browser on the platform's site: it keeps cookies and sends
// forms.
type shopper struct {
	t       *testing.T
	h       http.Handler
	cookies []*http.Cookie
}

func (s *shopper) do(req *http.Request) *http.Response {
	s.t.Helper()
	for _, c := range s.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	resp := rec.Result()
	s.cookies = append(s.cookies, resp.Cookies()...)
	return resp
}

var hidden = regexp.MustCompile(`name="(nonce|token)" value="([^"]*)"`)

// form opens the report page and returns its hidden fields.
func (s *shopper) form(target string) url.Values {
	s.t.Helper()
	resp := s.do(httptest.NewRequest(http.MethodGet, target, nil))
	b := body(s.t, resp)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: %d\n%s", target, resp.StatusCode, b)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		s.t.Errorf("the report form is cacheable (%q): its token is this browser's", cc)
	}
	checkPage(s.t, target, b)
	v := url.Values{}
	for _, m := range hidden.FindAllStringSubmatch(b, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("nonce") == "" || v.Get("token") == "" {
		s.t.Fatalf("the form has no nonce or token:\n%s", b)
	}
	return v
}

// post sends a form as a current browser does from a page of
// http://example.com (httptest's host): with Origin and Sec-Fetch-Site.
// header overrides them in pairs; an empty value leaves the header out.
func (s *shopper) post(target string, v url.Values, header ...string) (*http.Response, string) {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://example.com")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp := s.do(req)
	return resp, body(s.t, resp)
}

func filled(v url.Values, gtin string) url.Values {
	v.Set("gtin", gtin)
	v.Set("listing_url", "https://shop.example/item/42")
	v.Set("kind", "counterfeit")
	v.Set("description", "The box has no serial number and the logo is misspelt.")
	return v
}

func clone(v url.Values) url.Values {
	w := url.Values{}
	for k, x := range v {
		w[k] = append([]string(nil), x...)
	}
	return w
}

func TestReportFormFilesOneReportPerForm(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	v := filled(s.form("/quality/report?gtin="+g+"&listing=https://shop.example/item/42"), g)
	if len(s.cookies) == 0 || !s.cookies[0].HttpOnly || s.cookies[0].SameSite != http.SameSiteStrictMode || s.cookies[0].Path != "/quality/" {
		t.Fatalf("the form's cookie: %+v", s.cookies)
	}
	resp, b := s.post("/quality/report", v)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST a valid report: %d\n%s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/quality/report/sent?ref=rpt_") {
		t.Fatalf("redirected to %q", loc)
	}
	// A double click sends the same form again: one report, same reference.
	again, _ := s.post("/quality/report", v)
	if again.StatusCode != http.StatusSeeOther || again.Header.Get("Location") != loc {
		t.Errorf("the same form sent twice: %d to %q; want the same reference %q", again.StatusCode, again.Header.Get("Location"), loc)
	}
	if n := e.srv.Reports(); n != 1 {
		t.Errorf("the registry holds %d reports; want 1", n)
	}
	ref, _ := url.ParseQuery(strings.TrimPrefix(loc, "/quality/report/sent?"))
	rep, _, err := e.api.Reports.Get(context.Background(), ref.Get("ref"), client.ReportToken(ref.Get("t")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Platform != platformName {
		t.Errorf("the report names the platform %q; want %q", rep.Platform, platformName)
	}
	sent := s.do(httptest.NewRequest(http.MethodGet, loc, nil))
	if b := body(t, sent); sent.StatusCode != 200 || !strings.Contains(b, "rpt_") || !strings.Contains(b, "已收到您的举报") {
		t.Errorf("the confirmation: %d\n%s", sent.StatusCode, b)
	}
	if r := s.do(httptest.NewRequest(http.MethodGet, "/quality/report/sent?ref=%3Cscript%3E", nil)); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a confirmation for a made-up reference: %d; want 400", r.StatusCode)
	}
}

// The shopper sends, the answer is lost, they edit and send the same
// rendering of the form again.
func TestReportFormChangedResendIsANewReport(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	first := filled(s.form("/quality/report"), g)
	resp, b := s.post("/quality/report", first)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the first send: %d\n%s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")

	edited := clone(first)
	edited.Set("description", first.Get("description")+" The seller would not give an invoice.")
	resp, b = s.post("/quality/report", edited)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the edited form sent again: %d; want 303\n%s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Location"); got == loc {
		t.Errorf("the edited report got the first one's reference %q", got)
	}
	for field, value := range map[string]string{"contact": "13800000000", "kind": "substandard", "listing_url": "https://shop.example/item/43"} {
		v := clone(first)
		v.Set(field, value)
		if resp, b := s.post("/quality/report", v); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the form sent again with another %s: %d; want 303\n%s", field, resp.StatusCode, b)
		}
	}
	// The first content again, the GTIN spelt another way (GTIN-13 for
	// GTIN-14): the same report.
	same := clone(first)
	same.Set("gtin", strings.TrimPrefix(g, "0"))
	resp, _ = s.post("/quality/report", same)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != loc {
		t.Errorf("the first content sent again: %d to %q; want the first reference %q", resp.StatusCode, resp.Header.Get("Location"), loc)
	}
	if n := e.srv.Reports(); n != 5 {
		t.Errorf("the registry holds %d reports; want 5 (the first and its four edits)", n)
	}
}

// A fleet whose servers share the report key but name the platform
// differently: the second server's send of a form the first filed is the
// same key with another body, a 409 the shopper cannot cure by waiting.
func TestReportFormConflictSaysAlreadySent(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	e := setup(t, nil, enquiry.WithPlatformName(platformName), enquiry.WithReportKey(key))
	other, err := enquiry.New(e.qc, e.w, enquiry.WithPlatformName("Qingxuan Market (cn-east)"), enquiry.WithReportKey(key))
	if err != nil {
		t.Fatal(err)
	}
	g := string(e.srv.Demo()[0].GTIN)
	for _, c := range []struct{ locale, says, not string }{
		{"", "已经提交", "稍后再试"},
		{"?locale=en", "already sent", "try again shortly"},
	} {
		s := &shopper{t: t, h: e.q.Handler("/quality/")}
		v := filled(s.form("/quality/report"+c.locale), g)
		if resp, b := s.post("/quality/report"+c.locale, v); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the first send: %d\n%s", resp.StatusCode, b)
		}
		s.h = other.Handler("/quality/")
		resp, b := s.post("/quality/report"+c.locale, v)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(b, c.says) || strings.Contains(b, c.not) {
			t.Errorf("locale %q: the form sent again through another server: %d; want 409 saying %q, not %q\n%s", c.locale, resp.StatusCode, c.says, c.not, b)
		}
		checkPage(t, "already sent", b)
		if strings.Contains(b, `name="token"`) {
			t.Errorf("locale %q: the already-sent page offers the same form to send again", c.locale)
		}
	}
	if n := e.srv.Reports(); n != 2 {
		t.Errorf("the registry holds %d reports; want 2", n)
	}
}

func TestReportFormNeedsAPlatformName(t *testing.T) {
	e := setup(t, nil)
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	for _, c := range []struct {
		method, target string
		body           url.Values
	}{
		{http.MethodGet, "/quality/report", nil},
		{http.MethodGet, "/quality/report?locale=en", nil},
		{http.MethodPost, "/quality/report", filled(url.Values{"nonce": {"n"}, "token": {"t"}}, g)},
		{http.MethodGet, "/quality/report/sent?ref=rpt_00000001", nil},
	} {
		var resp *http.Response
		var b string
		if c.method == http.MethodPost {
			resp, b = s.post(c.target, c.body)
		} else {
			resp = s.do(httptest.NewRequest(c.method, c.target, nil))
			b = body(t, resp)
		}
		if resp.StatusCode != http.StatusNotFound || !(strings.Contains(b, "没有找到这条记录") || strings.Contains(b, "No such record")) {
			t.Errorf("%s %s without a platform name: %d; want the 404 page\n%s", c.method, c.target, resp.StatusCode, b)
			continue
		}
		checkPage(t, c.target, b)
		if strings.Contains(b, `name="token"`) {
			t.Errorf("%s %s without a platform name offers the form", c.method, c.target)
		}
	}
	if len(s.cookies) != 0 {
		t.Errorf("the unserved form set cookies: %+v", s.cookies)
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("%d reports filed without a platform name", n)
	}
}

// A POST that does not provably come from this site is refused plainly:
// no form, no token, no echo, no cookie.
func TestReportFormRefusesCrossSitePostsPlainly(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	h := e.q.Handler("/quality/")
	g := string(e.srv.Demo()[0].GTIN)
	victim := &shopper{t: t, h: h}
	v := filled(victim.form("/quality/report"), g)
	v.Set("description", "<b>attacker's words</b>")

	for name, header := range map[string][]string{
		"another site's origin":                {"Origin", "https://evil.example", "Sec-Fetch-Site", ""},
		"origin null":                          {"Origin", "null", "Sec-Fetch-Site", ""},
		"another port":                         {"Origin", "http://example.com:8080", "Sec-Fetch-Site", ""},
		"cross-site":                           {"Origin", "", "Sec-Fetch-Site", "cross-site"},
		"same-site (a sibling subdomain)":      {"Origin", "", "Sec-Fetch-Site", "same-site"},
		"same-site with a matching origin":     {"Sec-Fetch-Site", "same-site"},
		"cross-site with a matching origin":    {"Sec-Fetch-Site", "cross-site"},
		"no Origin, Sec-Fetch-Site unexpected": {"Origin", "", "Sec-Fetch-Site", "same-origin, cross-site"},
	} {
		for _, s := range []*shopper{victim, {t: t, h: h}} {
			before := len(s.cookies)
			resp, b := s.post("/quality/report", v, header...)
			if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
				resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %d %q %q; want a plain 403, not stored\n%s", name, resp.StatusCode,
					resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), b)
				continue
			}
			if strings.Contains(b, "attacker") || strings.Contains(b, "token") || strings.Contains(b, "<") {
				t.Errorf("%s: the refusal echoes the form or offers a token:\n%s", name, b)
			}
			if len(s.cookies) != before {
				t.Errorf("%s: the refusal set a cookie: %+v", name, s.cookies[before:])
			}
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("cross-site posts filed %d reports", n)
	}
}

// What net/http's check takes as not cross-origin — no Origin and no
// Sec-Fetch-Site (a program, not a browser), Sec-Fetch-Site none or
// same-origin whatever Origin says (no browser sends another with them),
// Origin's host equal to Host whatever its scheme or path — is judged by
// the token: without the form's cookie, nothing is filed.
func TestReportFormLeavesWhatIsNotCrossOriginToTheToken(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	h := e.q.Handler("/quality/")
	v := filled((&shopper{t: t, h: h}).form("/quality/report"), string(e.srv.Demo()[0].GTIN))
	for name, header := range map[string][]string{
		"neither Origin nor Sec-Fetch-Site":  {"Origin", "", "Sec-Fetch-Site", ""},
		"no Origin, Sec-Fetch-Site none":     {"Origin", "", "Sec-Fetch-Site", "none"},
		"another site's origin, same-origin": {"Origin", "https://evil.example"},
		"another scheme":                     {"Origin", "https://example.com", "Sec-Fetch-Site", ""},
		"an origin with a path":              {"Origin", "http://example.com/quality/", "Sec-Fetch-Site", ""},
	} {
		resp, b := (&shopper{t: t, h: h}).post("/quality/report", v, header...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(b, `name="token"`) {
			t.Errorf("%s, without the form's cookie: %d; want 403 and the form again\n%s", name, resp.StatusCode, b)
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("posts without the form's cookie filed %d reports", n)
	}
}

// The cross-origin check stands on its own: a post carrying the victim's
// own cookie and a valid token (what a forger cannot have, so the token
// check alone would take it) is still refused when it comes from another
// origin, and the same form from this origin is filed.
func TestReportFormRefusesCrossOriginTakesSameOrigin(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	v := filled(s.form("/quality/report"), string(e.srv.Demo()[0].GTIN))
	for name, header := range map[string][]string{
		"a current browser, cross-site":                    {"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
		"a current browser, same-site":                     {"Origin", "http://evil.example.com", "Sec-Fetch-Site", "same-site"},
		"a browser without Sec-Fetch-Site, another origin": {"Origin", "https://evil.example", "Sec-Fetch-Site", ""},
	} {
		resp, b := s.post("/quality/report", v, header...)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(b, "logo is misspelt") {
			t.Errorf("%s: %d; want a plain 403\n%s", name, resp.StatusCode, b)
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Fatalf("cross-origin posts filed %d reports", n)
	}
	for name, header := range map[string][]string{
		"a current browser":                {"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"},
		"a browser without Sec-Fetch-Site": {"Origin", "http://example.com", "Sec-Fetch-Site", ""},
	} {
		if resp, b := s.post("/quality/report", v, header...); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s, same origin: %d; want 303\n%s", name, resp.StatusCode, b)
		}
	}
	if n := e.srv.Reports(); n != 1 {
		t.Errorf("the same form from this origin, twice, filed %d reports; want 1", n)
	}
}

// A form from this site whose token no longer holds (an expired cookie, a
// second tab) comes back with what was typed and a fresh token.
func TestReportFormRefillsAStaleFormFromThisSite(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	h := e.q.Handler("/quality/")
	g := string(e.srv.Demo()[0].GTIN)
	victim := &shopper{t: t, h: h}
	v := filled(victim.form("/quality/report"), g)

	for name, c := range map[string]struct {
		s      *shopper
		v      url.Values
		header []string
	}{
		"no cookie (it expired)": {&shopper{t: t, h: h}, v, nil},
		"no cookie, no Origin":   {&shopper{t: t, h: h}, v, []string{"Origin", ""}},
		"a token for another nonce": {victim, func() url.Values {
			w := clone(v)
			w.Set("nonce", "other-nonce-123456")
			return w
		}(), nil},
		"no token": {victim, func() url.Values {
			w := clone(v)
			w.Del("token")
			return w
		}(), nil},
	} {
		resp, b := c.s.post("/quality/report", c.v, c.header...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d; want 403", name, resp.StatusCode)
			continue
		}
		// The shopper's words come back, in a form they can send.
		if !strings.Contains(b, "logo is misspelt") || !strings.Contains(b, `name="token"`) {
			t.Errorf("%s: the refused form lost what was typed:\n%s", name, b)
			continue
		}
		// And sending it again works.
		again := clone(c.v)
		for _, m := range hidden.FindAllStringSubmatch(b, -1) {
			again.Set(m[1], m[2])
		}
		if resp, b := c.s.post("/quality/report", again); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: the refilled form sent: %d; want 303\n%s", name, resp.StatusCode, b)
		}
	}
}

// Which origins the report form takes. A browser without Sec-Fetch-Site
// (older than 2023) is judged by net/http's rule: Origin's host against
// the request's Host, scheme not compared (the library's stated trade-off
// for such browsers; HSTS covers it), or the origin WithSiteOrigin names.
func TestReportFormTakesTheSitesOrigin(t *testing.T) {
	g := ""
	for _, c := range []struct {
		name, origin  string // origin: WithSiteOrigin's, or "" for none
		target        string // the form's address, so its scheme and host
		header        string // the Origin header sent
		sameSiteFetch bool   // Sec-Fetch-Site: same-origin, else none sent
		ok            bool
	}{
		{"http, same", "", "http://example.com/quality/report", "http://example.com", false, true},
		{"http, the request's port", "", "http://example.com:8080/quality/report", "http://example.com:8080", false, true},
		{"http, another port", "", "http://example.com:8080/quality/report", "http://example.com", false, false},
		{"http, another host", "", "http://example.com/quality/report", "http://evil.example", false, false},
		{"http, a sibling subdomain", "", "http://example.com/quality/report", "http://evil.example.com", false, false},
		{"https, same", "", "https://example.com/quality/report", "https://example.com", false, true},
		{"https, http origin on 443", "", "https://example.com/quality/report", "http://example.com:443", false, false},
		{"https, no origin, same-origin fetch", "", "https://example.com/quality/report", "", true, true},
		// Host compared as sent, scheme not at all: net/http's rule.
		// Browsers send neither a default port nor capitals in Origin.
		{"http, https origin", "", "http://example.com/quality/report", "https://example.com", false, true},
		{"https, http origin", "", "https://example.com/quality/report", "http://example.com", false, true},
		{"http, default port", "", "http://example.com/quality/report", "http://example.com:80", false, false},
		{"http, host in capitals", "", "http://example.com/quality/report", "http://EXAMPLE.com", false, false},
		{"https, default port in Host", "", "https://example.com:443/quality/report", "https://example.com", false, false},
		{"https, default port in Host, WithSiteOrigin", "https://example.com", "https://example.com:443/quality/report", "https://example.com", false, true},
		// Behind a proxy that rewrites Host, WithSiteOrigin names the site.
		{"behind a proxy", "https://Shop.Example.com", "http://shop.example.com/quality/report", "https://shop.example.com", false, true},
		{"behind a proxy, internal host", "https://shop.example.com:443", "http://10.0.0.7:8080/quality/report", "https://shop.example.com", false, true},
		{"behind a proxy, internal host, no WithSiteOrigin", "", "http://10.0.0.7:8080/quality/report", "https://shop.example.com", false, false},
		{"behind a proxy, another subdomain", "https://shop.example.com", "http://shop.example.com/quality/report", "https://evil.example.com", false, false},
		{"behind a proxy, another port", "https://shop.example.com", "http://10.0.0.7:8080/quality/report", "https://shop.example.com:8443", false, false},
		{"behind a proxy, http origin", "https://shop.example.com", "http://10.0.0.7:8080/quality/report", "http://shop.example.com", false, false},
		// WithSiteOrigin adds an origin to net/http's rule; Origin's host
		// matching Host is still taken.
		{"behind a proxy, http origin, Host kept", "https://shop.example.com", "http://shop.example.com/quality/report", "http://shop.example.com", false, true},
		{"behind a proxy, the request's own origin", "https://shop.example.com", "http://10.0.0.7:8080/quality/report", "http://10.0.0.7:8080", false, true},
		// A current browser's Sec-Fetch-Site was judged against the page's
		// real origin: behind any proxy it needs nothing configured.
		{"behind a TLS-terminating proxy, a current browser", "", "http://example.com/quality/report", "https://example.com", true, true},
		{"behind a proxy that rewrites Host, a current browser", "", "http://10.0.0.7:8080/quality/report", "https://shop.example.com", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := []enquiry.Option{enquiry.WithPlatformName(platformName)}
			if c.origin != "" {
				opts = append(opts, enquiry.WithSiteOrigin(c.origin))
			}
			e := setup(t, nil, opts...)
			if g == "" {
				g = string(e.srv.Demo()[0].GTIN)
			}
			s := &shopper{t: t, h: e.q.Handler("/quality/")}
			v := filled(s.form(c.target), g)
			fetch := ""
			if c.sameSiteFetch {
				fetch = "same-origin"
			}
			resp, b := s.post(c.target, v, "Origin", c.header, "Sec-Fetch-Site", fetch)
			switch {
			case c.ok && resp.StatusCode != http.StatusSeeOther:
				t.Errorf("Origin %q: %d; want 303\n%s", c.header, resp.StatusCode, b)
			case !c.ok && (resp.StatusCode != http.StatusForbidden || strings.Contains(b, "logo is misspelt")):
				t.Errorf("Origin %q: %d; want a plain 403\n%s", c.header, resp.StatusCode, b)
			}
		})
	}
}

func TestWithSiteOriginIsValidated(t *testing.T) {
	e := setup(t, nil)
	for _, o := range []string{"https://shop.example.com", "http://shop.example.com:8080", "HTTPS://Shop.Example.com", "https://[2001:db8::1]:8443", "https://shop.example.com/"} {
		if _, err := enquiry.New(e.qc, e.w, enquiry.WithSiteOrigin(o)); err != nil {
			t.Errorf("WithSiteOrigin(%q): %v", o, err)
		}
	}
	for _, o := range []string{"", "shop.example.com", "ftp://shop.example.com", "https://", "https://shop.example.com/quality/",
		"https://shop.example.com?x=1", "https://user@shop.example.com", "https://shop.example.com#top", "https:shop.example.com",
		"https://shop.example.com:http", "null", "//shop.example.com"} {
		if _, err := enquiry.New(e.qc, e.w, enquiry.WithSiteOrigin(o)); err == nil {
			t.Errorf("WithSiteOrigin(%q) was accepted", o)
		}
	}
}

func TestReportFormValidatesAndKeepsWhatWasTyped(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	for name, c := range map[string]struct {
		field, value, says string
	}{
		"bad GTIN":         {"gtin", "6901234567893", "校验位"},
		"not a link":       {"listing_url", "javascript:alert(1)", "http://"},
		"no kind":          {"kind", "", "请选择问题类型"},
		"empty":            {"description", "  ", "请描述您看到的情况"},
		"too long":         {"description", strings.Repeat("假", 4001), "内容过长"},
		"overlong contact": {"contact", strings.Repeat("x", 201), "内容过长"},
	} {
		v := filled(s.form("/quality/report"), g)
		v.Set(c.field, c.value)
		resp, b := s.post("/quality/report", v)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, c.says) {
			t.Errorf("%s: %d; want 400 saying %q\n%s", name, resp.StatusCode, c.says, b)
			continue
		}
		checkPage(t, name, b)
		if c.field != "description" && !strings.Contains(b, "logo is misspelt") {
			t.Errorf("%s: the description was lost", name)
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("invalid forms filed %d reports", n)
	}
}

var (
	fieldError = regexp.MustCompile(`<strong class="qce-error">([^<]*)</strong>`)
	message    = regexp.MustCompile(`<p class="qce-message" role="alert">([^<]*)</p>`)
	asciiWord  = regexp.MustCompile(`[A-Za-z]`)
)

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Every word the shopper reads is in the page's locale: none of the SDK's
// English error text reaches a form.
func TestReportFormSpeaksTheShoppersLanguage(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	for _, c := range []struct {
		gtin, zh, en string // what each locale's sentence names
	}{
		{"6901234567893", "校验位", "check digit"},
		{"12345", "位数字", "8, 12, 13 or 14 digits"},
		{"690123456789a2", "数字", "0 to 9"},
		{"６９０１２３４５６７８９２", "数字", "0 to 9"},
		{"   ", "请填写商品条码", "Please give the barcode"},
	} {
		for _, locale := range []string{"", "?locale=en"} {
			v := filled(s.form("/quality/report"+locale), g)
			v.Set("gtin", c.gtin)
			resp, b := s.post("/quality/report"+locale, v)
			m := fieldError.FindAllStringSubmatch(b, -1)
			if resp.StatusCode != http.StatusBadRequest || len(m) != 1 {
				t.Errorf("GTIN %q%s: %d with %d field errors; want 400 with one\n%s", c.gtin, locale, resp.StatusCode, len(m), b)
				continue
			}
			said := m[0][1]
			if strings.Contains(b, "qcsdk") || strings.Contains(b, "invalid") {
				t.Errorf("GTIN %q%s: the page shows the SDK's error: %q", c.gtin, locale, said)
			}
			if locale == "" && (!hasHan(said) || asciiWord.MatchString(said) || !strings.Contains(said, c.zh)) {
				t.Errorf("GTIN %q: the Chinese page says %q; want Chinese only, naming %q", c.gtin, said, c.zh)
			}
			if locale != "" && (hasHan(said) || !strings.Contains(said, c.en)) {
				t.Errorf("GTIN %q: the English page says %q; want English naming %q", c.gtin, said, c.en)
			}
		}
	}

	// The API refuses the report: its words are not the shopper's either.
	e.srv.SetFaults(sandbox.Fault{Route: "POST /v1/reports", Kind: sandbox.FaultError, Status: http.StatusBadRequest})
	for _, locale := range []string{"", "?locale=en"} {
		v := filled(s.form("/quality/report"+locale), g)
		resp, b := s.post("/quality/report"+locale, v)
		m := message.FindStringSubmatch(b)
		if resp.StatusCode != http.StatusBadRequest || m == nil {
			t.Errorf("an API 400%s: %d; want 400 with a message\n%s", locale, resp.StatusCode, b)
			continue
		}
		if strings.Contains(b, "qcsdk") || strings.Contains(b, "/v1/") || strings.Contains(b, client.CodeInvalidParameter) {
			t.Errorf("an API 400%s: the page shows the API's error: %q", locale, m[1])
		}
		if locale == "" && (!hasHan(m[1]) || asciiWord.MatchString(m[1])) {
			t.Errorf("an API 400: the Chinese page says %q", m[1])
		}
		if locale != "" && hasHan(m[1]) {
			t.Errorf("an API 400: the English page says %q", m[1])
		}
		if !strings.Contains(b, "logo is misspelt") {
			t.Errorf("an API 400%s: the description was lost", locale)
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("%d reports filed", n)
	}
}

func TestReportFormWhenTheRegistryIsDown(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	v := filled(s.form("/quality/report?locale=en"), g)
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
	resp, b := s.post("/quality/report?locale=en", v)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "could not be sent") || !strings.Contains(b, "logo is misspelt") {
		t.Fatalf("with the registry down: %d\n%s", resp.StatusCode, b)
	}
	// Sent again once it is back: filed once.
	e.srv.SetFaults()
	resp, _ = s.post("/quality/report?locale=en", v)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("resent after the outage: %d; want 303", resp.StatusCode)
	}
	if n := e.srv.Reports(); n != 1 {
		t.Errorf("%d reports; want 1", n)
	}
}
