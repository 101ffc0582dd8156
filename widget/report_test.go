package widget_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

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

func (s *shopper) post(target string, v url.Values, header ...string) (*http.Response, string) {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
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

func TestReportFormFilesOneReportPerForm(t *testing.T) {
	e := setup(t, nil, widget.WithPlatformName("Qingxuan Market"))
	s := &shopper{t: t, h: e.w.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	v := filled(s.form("/quality/report?gtin="+g+"&listing=https://shop.example/item/42"), g)
	if len(s.cookies) == 0 || !s.cookies[0].HttpOnly || s.cookies[0].SameSite != http.SameSiteStrictMode || s.cookies[0].Path != "/quality/" {
		t.Fatalf("the form's cookie: %+v", s.cookies)
	}
	resp, b := s.post("/quality/report", v, "Origin", "http://example.com")
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
	sent := s.do(httptest.NewRequest(http.MethodGet, loc, nil))
	if b := body(t, sent); sent.StatusCode != 200 || !strings.Contains(b, "rpt_") || !strings.Contains(b, "已收到您的举报") {
		t.Errorf("the confirmation: %d\n%s", sent.StatusCode, b)
	}
	if r := s.do(httptest.NewRequest(http.MethodGet, "/quality/report/sent?ref=%3Cscript%3E", nil)); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a confirmation for a made-up reference: %d; want 400", r.StatusCode)
	}
}

func TestReportFormRefusesForgeries(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	g := string(e.srv.Demo()[0].GTIN)
	victim := &shopper{t: t, h: h}
	v := filled(victim.form("/quality/report"), g)

	for name, c := range map[string]struct {
		s      *shopper
		v      url.Values
		header []string
	}{
		"no cookie (another site's form)": {&shopper{t: t, h: h}, v, nil},
		"another site's origin":           {victim, v, []string{"Origin", "https://evil.example"}},
		"a token for another nonce": {victim, func() url.Values {
			w := url.Values{}
			for k, x := range v {
				w[k] = x
			}
			w.Set("nonce", "other-nonce-123456")
			return w
		}(), nil},
		"no token": {victim, func() url.Values {
			w := url.Values{}
			for k, x := range v {
				w[k] = x
			}
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
		}
	}
	if n := e.srv.Reports(); n != 0 {
		t.Errorf("forged forms filed %d reports", n)
	}
}

func TestReportFormValidatesAndKeepsWhatWasTyped(t *testing.T) {
	e := setup(t, nil)
	s := &shopper{t: t, h: e.w.Handler("/quality/")}
	g := string(e.srv.Demo()[0].GTIN)
	for name, c := range map[string]struct {
		field, value, says string
	}{
		"bad GTIN":         {"gtin", "6901234567893", "check digit"},
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

func TestReportFormWhenTheRegistryIsDown(t *testing.T) {
	e := setup(t, nil)
	s := &shopper{t: t, h: e.w.Handler("/quality/")}
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
