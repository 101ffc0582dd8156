package enquiry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The reporter's private status link: the confirmation shows the number
// and the link, the status page the lifecycle in the page's locale, and
// neither page lets the link leak.

var statusLinkRE = regexp.MustCompile(`href="(/quality/report/(rpt_[A-Za-z0-9]+)\?t=([A-Za-z0-9_-]+)[^"]*)"`)

// fileThroughForm files a report through the entry's form and returns the
// confirmation page's status link, its report id and token.
func fileThroughForm(t *testing.T, e *env, s *shopper, query string) (link, id, token string) {
	t.Helper()
	g := string(e.srv.Demo()[0].GTIN)
	resp, b := s.post("/quality/report"+query, filled(s.form("/quality/report"+query), g))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST a valid report: %d\n%s", resp.StatusCode, b)
	}
	sent := s.do(httptest.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil))
	page := body(t, sent)
	if sent.StatusCode != 200 {
		t.Fatalf("the confirmation: %d\n%s", sent.StatusCode, page)
	}
	requirePrivate(t, "the confirmation", sent, page)
	m := statusLinkRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the confirmation has no status link:\n%s", page)
	}
	if !strings.Contains(page, `qce-report-id">`+m[2]+`<`) {
		t.Errorf("the confirmation does not show the report number %s", m[2])
	}
	return strings.ReplaceAll(m[1], "&amp;", "&"), m[2], m[3]
}

// requirePrivate checks a page that holds a status link lets it go
// nowhere: no cache, no search engine, no referrer.
func requirePrivate(t *testing.T, what string, resp *http.Response, page string) {
	t.Helper()
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %s %q, want %q", what, h, got, want)
		}
	}
	if !strings.Contains(page, `<meta name="referrer" content="no-referrer" />`) || !strings.Contains(page, `<meta name="robots" content="noindex, nofollow" />`) ||
		strings.Contains(page, `content="same-origin"`) {
		t.Errorf("%s: the page's own referrer and robots policy are not private", what)
	}
}

func statusPage(t *testing.T, s *shopper, link string) (*http.Response, string) {
	t.Helper()
	resp := s.do(httptest.NewRequest(http.MethodGet, link, nil))
	return resp, body(t, resp)
}

func TestStatusLinkShowsEachStepInThePagesLocale(t *testing.T) {
	var mu sync.Mutex
	var filed []client.Report
	e := setup(t, nil, enquiry.WithPlatformName(platformName), enquiry.WithReportFiled(func(_ context.Context, r client.Report) {
		mu.Lock()
		filed = append(filed, r)
		mu.Unlock()
	}))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	link, id, token := fileThroughForm(t, e, s, "")

	mu.Lock()
	if len(filed) != 1 || filed[0].ID != id || string(filed[0].AccessToken) != token {
		t.Errorf("the callback heard %d reports (%+v); want %s with its token", len(filed), filed, id)
	}
	mu.Unlock()

	step := func(link string, wants ...string) string {
		t.Helper()
		resp, page := statusPage(t, s, link)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, page)
		}
		requirePrivate(t, link, resp, page)
		checkPage(t, link, page)
		for _, w := range wants {
			if !strings.Contains(page, w) {
				t.Errorf("GET %s: the page does not say %q:\n%s", link, w, page)
			}
		}
		return page
	}
	page := step(link, "举报进展", id, "当前状态：<strong>已受理</strong>")
	// The language link keeps the token, or it would lead nowhere.
	if !strings.Contains(page, `href="?t=`+token+`&amp;locale=en"`) {
		t.Errorf("the English link drops the token:\n%s", page)
	}

	if _, err := e.srv.AdvanceReport(id, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	step(link, "当前状态：<strong>已转交执法机关</strong>", "转交：", "市场监督管理局")
	step(link+"&locale=en", "Now: <strong>Forwarded to an enforcement authority</strong>", "Forwarded to: ", "Administration for Market Regulation")

	if _, err := e.srv.AdvanceReport(id, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	step(link, "调查中")
	if _, err := e.srv.AdvanceReport(id, sandbox.ReportAdvance{Outcome: client.OutcomeCasePublished, CaseID: "case_000002"}); err != nil {
		t.Fatal(err)
	}
	page = step(link+"&locale=en", "Now: <strong>Closed</strong>", "Received", "Under investigation", "published as a typical case", "See the typical case")
	if !strings.Contains(page, `href="https://`) || !strings.Contains(page, `/cases/case_000002"`) {
		t.Errorf("the closed report does not link the case it led to:\n%s", page)
	}
	if n := strings.Count(page, `class="qce-step"`); n != 4 {
		t.Errorf("%d steps shown, want 4", n)
	}
}

func TestStatusLinkWrongTokenSaysNoMoreThanUnknown(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	_, id, _ := fileThroughForm(t, e, s, "")
	_, _, other := fileThroughForm(t, e, s, "")

	answers := map[string]string{}
	for what, target := range map[string]string{
		"another report's token": "/quality/report/" + id + "?t=" + other,
		"an unknown report":      "/quality/report/rpt_99999999?t=" + other,
	} {
		resp, page := statusPage(t, s, target)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "没有找到这份举报") {
			t.Errorf("%s: %d\n%s", what, resp.StatusCode, page)
		}
		requirePrivate(t, what, resp, page)
		answers[what] = page
	}
	if answers["another report's token"] != answers["an unknown report"] {
		t.Errorf("a wrong token and an unknown report answer differently:\n%s\n---\n%s", answers["another report's token"], answers["an unknown report"])
	}
	// A link cut short, or without its token, is not looked up.
	before := e.srv.Requests("GET /v1/reports/{id}")
	for _, target := range []string{"/quality/report/" + id, "/quality/report/" + id + "?t=short", "/quality/report/x<y?t=" + other} {
		if resp, page := statusPage(t, s, target); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "没有找到这份举报") {
			t.Errorf("%s: %d\n%s", target, resp.StatusCode, page)
		}
	}
	if n := e.srv.Requests("GET /v1/reports/{id}") - before; n != 0 {
		t.Errorf("%d lookups for malformed links, want none", n)
	}
}

func TestStatusLinkLookupsFlooded(t *testing.T) {
	e := setup(t, []sandbox.Option{sandbox.WithReportLookupLimit(0.001, 2)}, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	link, _, _ := fileThroughForm(t, e, s, "?locale=en")
	var last *http.Response
	var page string
	for range 3 {
		last, page = statusPage(t, s, link)
	}
	if last.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many look-ups") {
		t.Errorf("the third look-up: %d\n%s", last.StatusCode, page)
	}
	if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("the registry's refusal: Retry-After %q, want whole seconds, at least 1", last.Header.Get("Retry-After"))
	}
	requirePrivate(t, "429", last, page)
}

func TestCasesPageShowsTheirClues(t *testing.T) {
	e := setup(t, nil)
	h := e.q.Handler("/quality/")
	res, err := e.qc.Cases(context.Background(), &client.CaseListOptions{})
	if err != nil || len(res.Data) == 0 {
		t.Fatalf("cases: %v", err)
	}
	c := res.Data[0]
	if c.Clues.Consumer == 0 && c.Clues.RightsHolder == 0 {
		t.Fatalf("the newest case %s counts no clues; the demo data closes reports into it", c.ID)
	}
	for _, tc := range []struct{ locale, want string }{
		{"", "案件线索：消费者举报 "},
		{"?locale=en", " reports from shoppers and "},
	} {
		resp := get(t, h, "/quality/cases"+tc.locale)
		page := body(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(page, tc.want) {
			t.Errorf("cases%s: %d, want %q:\n%.2000s", tc.locale, resp.StatusCode, tc.want, page)
		}
	}
}

func TestStatusPagesLimitedPerAddress(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName), enquiry.WithStatusLookupLimit(0.001, 2))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	link, _, _ := fileThroughForm(t, e, s, "")
	for i := range 2 {
		if resp, page := statusPage(t, s, link); resp.StatusCode != 200 {
			t.Fatalf("look-up %d: %d\n%s", i+1, resp.StatusCode, page)
		}
	}
	before := e.srv.Requests("GET /v1/reports/{id}")
	resp, page := statusPage(t, s, link)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "查询过于频繁") {
		t.Errorf("the third look-up from one address: %d, Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
	requirePrivate(t, "the refused look-up", resp, page)
	if n := e.srv.Requests("GET /v1/reports/{id}") - before; n != 0 {
		t.Errorf("a refused look-up reached the registry %d times", n)
	}
	// Other shoppers' addresses are not held back by this one's. Addresses
	// share limiters by a hash under a seed of each entry's, so another
	// address shares this one's about once in 1024 entries: of eight,
	// three do so about once in 20 million, and all eight do if the limit
	// is not per address.
	held := 0
	for i := range 8 {
		req := httptest.NewRequest(http.MethodGet, link, nil)
		req.RemoteAddr = fmt.Sprintf("198.51.100.%d:40000", 7+i)
		if other := s.do(req); other.StatusCode != 200 {
			held++
		}
	}
	if held > 2 {
		t.Errorf("%d of 8 other addresses were held back by this one's look-ups", held)
	}
}

func TestStatusLookupLimitOption(t *testing.T) {
	e := setup(t, nil)
	for _, bad := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		if _, err := enquiry.New(e.qc, e.w, enquiry.WithStatusLookupLimit(bad.rate, bad.burst)); err == nil {
			t.Errorf("WithStatusLookupLimit(%v, %d) accepted", bad.rate, bad.burst)
		}
	}
}

// An authority's name is registry text: escaped, and isolated so that a
// bidirectional control in it reorders nothing after it.
func TestStatusPageEscapesRegistryText(t *testing.T) {
	e := setup(t, nil, enquiry.WithPlatformName(platformName))
	s := &shopper{t: t, h: e.q.Handler("/quality/")}
	link, id, _ := fileThroughForm(t, e, s, "")
	hostile := client.Text{ZH: "<script>alert(1)</script>\u202e局", EN: `"><img src=x onerror=alert(1)>`}
	if _, err := e.srv.AdvanceReport(id, sandbox.ReportAdvance{Authority: &hostile}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{link, link + "&locale=en"} {
		resp, page := statusPage(t, s, l)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", l, resp.StatusCode)
		}
		checkPage(t, l, page)
		if strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
			t.Errorf("%s: the authority's name is not escaped:\n%s", l, page)
		}
	}
}
