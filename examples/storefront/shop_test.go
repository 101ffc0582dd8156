package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// state is how the badge's class names a verdict.
func state(v client.Verdict) string {
	switch v {
	case client.VerdictInspectionFailed:
		return "failed"
	case client.VerdictNotListed:
		return "not-listed"
	}
	return string(v)
}

// newTestShop builds the shop on a sandbox, or on api when given. Its
// pages' budget is generous (a loaded test machine is slow), unless opts
// set another.
func newTestShop(t *testing.T, api string, opts ...widget.Option) (*shop, *sandbox.Server) {
	t.Helper()
	srv := sandbox.NewServer(t)
	if api == "" {
		api = srv.URL
	}
	_, qc := sdktest.Over(t, api, nil)
	badges, err := widget.New(qc, append([]widget.Option{widget.WithRenderTimeout(timescale.Scale(2 * time.Second))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newShop(qc, badges, products(srv.Sandbox))
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

// cardOf cuts the listing card of one product out of the page.
func cardOf(page string, gtin client.GTIN) string {
	i := strings.Index(page, `href="/p/`+string(gtin))
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</li>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

func TestListingShowsEveryVerdict(t *testing.T) {
	s, srv := newTestShop(t, "")
	code, page := get(t, s, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if n := strings.Count(page, `class="card"`); n != len(s.items) || n < 55 {
		t.Errorf("listing has %d cards, want %d (about 60)", n, len(s.items))
	}
	for _, d := range srv.Demo() {
		card := cardOf(page, d.GTIN)
		if card == "" {
			t.Errorf("%s (%s) is not on the listing", d.GTIN, d.About)
			continue
		}
		hasBadge := regexp.MustCompile(` qcb-` + state(d.Verdict) + `[ "]`).MatchString(card)
		if d.Verdict == client.VerdictNotListed {
			if strings.Contains(card, `class="qcb `) {
				t.Errorf("%s (%s): not listed, yet the card has a badge: %s", d.GTIN, d.About, card)
			}
		} else if !hasBadge {
			t.Errorf("%s (%s): card lacks the %s badge: %s", d.GTIN, d.About, d.Verdict, card)
		}
	}
}

func TestProductPage(t *testing.T) {
	s, srv := newTestShop(t, "")
	failed := srv.Demo()[2]
	if failed.Verdict != client.VerdictInspectionFailed {
		t.Fatalf("demo product 2 is %s, the test expects the failed one", failed.Verdict)
	}
	code, page := get(t, s, "/p/"+string(failed.GTIN)+"?lang=en")
	if code != http.StatusOK {
		t.Fatalf("product page = %d", code)
	}
	for _, want := range []string{"Failed inspection", "What the maker promised", "Official inspections", `lang="en"`,
		`<script type="application/ld+json">`, `href="/quality/badge.css"`, `href="/quality/report?gtin=` + string(failed.GTIN)} {
		if !strings.Contains(page, want) {
			t.Errorf("English product page lacks %q", want)
		}
	}
	_, zh := get(t, s, "/p/"+string(failed.GTIN))
	if !strings.Contains(zh, "抽检不合格") || !strings.Contains(zh, `lang="zh-CN"`) {
		t.Errorf("Chinese product page lacks the failed badge or its language")
	}
}

func TestProductPageBadInput(t *testing.T) {
	s, _ := newTestShop(t, "")
	if code, page := get(t, s, "/p/6901234"); code != http.StatusBadRequest || !strings.Contains(page, "商品条码格式不正确") || strings.Contains(page, "qcsdk") {
		t.Errorf("malformed GTIN: %d, want 400 saying why in Chinese, without the SDK's English error:\n%s", code, page)
	}
	if code, page := get(t, s, "/p/6901234?lang=en"); code != http.StatusBadRequest || !strings.Contains(page, "not a valid barcode") {
		t.Errorf("malformed GTIN, English: %d, want 400 saying why:\n%s", code, page)
	}
	g, _ := client.CompleteGTIN("400638133393")
	if code, _ := get(t, s, "/p/"+string(g)); code != http.StatusNotFound {
		t.Errorf("GTIN not in the catalogue: %d, want 404", code)
	}
}

// With the API down the pages still render, each badge the neutral one.
func TestPagesRenderWithTheAPIDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s, srv := newTestShop(t, dead.URL)
	code, page := get(t, s, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / with the API down = %d", code)
	}
	if n := strings.Count(page, "qcb-unknown"); n != len(s.items) {
		t.Errorf("%d unknown badges with the API down, want %d", n, len(s.items))
	}
	if strings.Contains(page, "qcb-committed") {
		t.Error("a committed badge was shown with no answer from the API")
	}
	code, page = get(t, s, "/p/"+string(srv.Demo()[0].GTIN))
	if code != http.StatusOK || !strings.Contains(page, "qcb-unknown") {
		t.Errorf("product page with the API down: %d, unknown badge shown: %v", code, strings.Contains(page, "qcb-unknown"))
	}
}

// The README's main command: run starts the sandbox and the shop, serves,
// and stops when its context ends — following the change feed too, with
// -follow.
func TestRun(t *testing.T) {
	for _, args := range [][]string{nil, {"-follow"}} {
		t.Run(strings.Join(append([]string{"args"}, args...), " "), func(t *testing.T) { testRun(t, args) })
	}
}

func testRun(t *testing.T, args []string) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	var addr string
	buf := make([]byte, 4096)
	var out string
	for addr == "" {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("storefront exited before listening: %v; output: %s", err, out)
		}
		out += string(buf[:n])
		if _, after, ok := strings.Cut(out, "storefront: open "); ok && strings.Contains(after, "\n") {
			addr = strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
		}
	}
	go io.Copy(io.Discard, pr)
	// A cold first view may show neutral badges where the page's budget
	// ran out; the lookups it started answer the next views.
	c := &http.Client{Timeout: timescale.Scale(10 * time.Second)}
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for view := 1; ; view++ {
		resp, err := c.Get(addr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", addr, resp.StatusCode)
		}
		if strings.Contains(string(body), "qcb-committed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no committed badge on %s after %d views in 10s", addr, view)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after its context ended", err)
		}
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("run did not stop within 10s of its context ending")
	}
}

// A registry that hangs costs a page one deadline, however many badges it
// shows: the listing used to wait its batch lookup's 800 ms and then 50 ms
// per badge, one after another (3.8 s for 60). Every badge then says
// "check on the official platform", at once.
func TestListingKeepsOneDeadlineWhenTheRegistryHangs(t *testing.T) {
	s, _ := newTestShop(t, sdktest.Hung(t), widget.WithRenderTimeout(widget.DefaultRenderTimeout))
	start := time.Now()
	code, page := get(t, s, "/")
	took := time.Since(start)
	if code != http.StatusOK {
		t.Fatalf("GET / with the registry hanging = %d", code)
	}
	if n := strings.Count(page, "qcb-unknown"); n != len(s.items) {
		t.Errorf("%d unknown badges of %d", n, len(s.items))
	}
	// A functional bound, far above the budget (widget.DefaultRenderTimeout,
	// 50 ms) and far below a wait per badge: not a performance figure.
	if took > time.Second {
		t.Errorf("the listing of %d products took %v with the registry hanging; want one budget", len(s.items), took)
	}
	t.Logf("the listing of %d products took %v with the registry hanging", len(s.items), took)
}

// A product page view waits for the registry once: its badge, its
// JSON-LD and the details below the badge share one page and its budget.
// The page used to look the product up for the badge and then again for
// the details, each with a budget of its own: two budgets in a row, 100 ms
// with the registry hanging. Counted as waits on the registry, one a
// product page view, rather than timed.
func TestAProductPageSpendsOneBudget(t *testing.T) {
	s, srv := newTestShop(t, sdktest.Hung(t), widget.WithRenderTimeout(widget.DefaultRenderTimeout))
	g := srv.Demo()[0].GTIN
	start := time.Now()
	code, page := get(t, s, "/p/"+string(g))
	t.Logf("a product page view took %v with the registry hanging", time.Since(start))
	if code != http.StatusOK || !strings.Contains(page, "qcb-unknown") {
		t.Errorf("product page with the registry hanging: %d, neutral badge shown: %v", code, strings.Contains(page, "qcb-unknown"))
	}
	if waits := s.qc.Stats().Misses; waits != 1 {
		t.Errorf("a product page view waited for the registry %d times; want 1 (one page, one budget)", waits)
	}
}

// The shop's own pages send the headers the enquiry pages send, and its
// server bounds slow and idle clients: integrators copy this example.
func TestShopIsSafeToCopy(t *testing.T) {
	s, srv := newTestShop(t, "")
	demo := srv.Demo()
	rpt := srv.DemoReports()[0]
	st, _, err := clientFor(t, srv).Products.ByGTIN(context.Background(), demo[2].GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of answer the shop gives, and the headers each must carry.
	const (
		page  = iota // an HTML page of the shop's or the enquiry entry's
		badge        // a badge: an image, a fragment, JSON
		css
		plain // a refusal in plain text
	)
	type kind struct {
		method, target string
		code, of       int
		outage         bool
	}
	kinds := []kind{
		{"GET", "/", 200, page, false},
		{"GET", "/p/" + string(demo[0].GTIN) + "?lang=en", 200, page, false},
		{"GET", "/p/6901234", 400, page, false},
		{"GET", "/p/" + string(srv.NotListedGTIN())[:13] + "0", 400, page, false},
		{"GET", "/nowhere", 404, page, false},
		{"GET", "/static/shop.css", 200, css, false},
		{"GET", "/quality/", 200, page, false},
		{"GET", "/quality/?category=toys", 200, page, false},
		{"GET", "/quality/enterprises/" + st.Enterprise.ID, 200, page, false},
		{"GET", "/quality/enterprises/nobody", 400, page, false},
		{"GET", "/quality/inspections/" + st.Inspections[0].ID, 200, page, false},
		{"GET", "/quality/cases", 200, page, false},
		{"GET", "/quality/report", 200, page, false},
		{"GET", "/quality/report/sent?ref=" + rpt.ID + "&t=" + string(rpt.Token), 200, page, false},
		{"GET", "/quality/report/" + rpt.ID + "?t=" + string(rpt.Token), 200, page, false},
		{"GET", "/quality/report/" + rpt.ID + "?t=wrong-token-of-the-right-shape", 404, page, false},
		{"GET", "/my/reports", 200, page, false},
		{"GET", "/quality/?q=nobody", 503, page, true},
		{"GET", "/quality/badge/" + string(demo[0].GTIN) + ".svg", 200, badge, false},
		{"GET", "/quality/badge/" + string(demo[0].GTIN) + ".html", 200, badge, false},
		{"GET", "/quality/badge/" + string(demo[0].GTIN) + ".json", 200, badge, false},
		{"GET", "/quality/badge/" + string(demo[1].GTIN) + ".svg", 200, badge, true}, // unknown
		{"GET", "/quality/badge.css", 200, css, false},
		{"GET", "/quality/enquiry.css", 200, css, false},
		{"GET", "/quality/badge/123.svg", 400, plain, false},
		{"GET", "/quality/nowhere", 404, plain, false},
		{"POST", "/quality/report", 403, plain, false}, // not from this site
	}
	for _, k := range kinds {
		name := k.method + " " + k.target
		if k.outage {
			srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 500})
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(k.method, k.target, strings.NewReader("description=x"))
		if k.method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://elsewhere.example")
		}
		s.ServeHTTP(rec, req)
		srv.SetFaults()
		h := rec.Header()
		if rec.Code != k.code {
			t.Errorf("%s: %d; want %d", name, rec.Code, k.code)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q; want nosniff", name, h.Get("X-Content-Type-Options"))
		}
		ct := h.Get("Content-Type")
		csp := h.Get("Content-Security-Policy")
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("%s: Content-Security-Policy %q lets a script run", name, csp)
		}
		switch k.of {
		case page:
			if ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'self'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: Content-Security-Policy %q lacks %q", name, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: Content-Security-Policy %q allows inline code", name, csp)
			}
			// A page with a report's private status link sends no referrer.
			want := "same-origin"
			if strings.Contains(k.target, "t=") || k.target == "/my/reports" {
				want = "no-referrer"
			}
			if h.Get("Referrer-Policy") != want {
				t.Errorf("%s: Referrer-Policy %q; want %s", name, h.Get("Referrer-Policy"), want)
			}
		case badge:
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
				t.Errorf("%s: Content-Security-Policy %q; want default-src 'none' and sandbox", name, csp)
			}
			if h.Get("ETag") == "" || !strings.Contains(h.Get("Cache-Control"), "max-age=") {
				t.Errorf("%s: ETag %q, Cache-Control %q", name, h.Get("ETag"), h.Get("Cache-Control"))
			}
		case css:
			if ct != "text/css; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
		case plain:
			if ct != "text/plain; charset=utf-8" || !strings.Contains(h.Get("Cache-Control"), "no-store") && k.target != "/nowhere" {
				t.Errorf("%s: Content-Type %q, Cache-Control %q; want plain text, not stored", name, ct, h.Get("Cache-Control"))
			}
			if strings.Contains(rec.Body.String(), "<") || h.Get("Set-Cookie") != "" {
				t.Errorf("%s: a refusal with markup or a cookie: %q", name, rec.Body.String())
			}
		}
	}
	hs := newServer(s)
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 || hs.IdleTimeout > 30*time.Second {
		t.Errorf("server timeouts: header %v, read %v, write %v, idle %v; want each set, idle at most 30 s",
			hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}

// A Chinese page shows no English code word of the registry's: a
// commitment's status and an inspection's result are in the page's
// language.
func TestProductPageSpeaksTheShoppersLanguage(t *testing.T) {
	s, srv := newTestShop(t, "")
	tags := regexp.MustCompile(`<[^>]*>`)
	codes := regexp.MustCompile(`\b(active|suspended|revoked|expired|pass|fail|pending)\b`)
	for _, d := range srv.Demo() {
		_, page := get(t, s, "/p/"+string(d.GTIN)+"?lang=zh-CN")
		body := page[strings.Index(page, "<body"):]
		text := tags.ReplaceAllString(body, " ")
		if m := codes.FindString(text); m != "" {
			t.Errorf("%s (%s): the Chinese page shows the code %q", d.GTIN, d.About, m)
		}
	}
	_, page := get(t, s, "/p/"+string(srv.Demo()[2].GTIN)+"?lang=zh-CN")
	if !strings.Contains(page, "<td>不合格") || !strings.Contains(page, " · 有效</p>") {
		t.Errorf("the failed product's page does not say 不合格 and 有效 in its details")
	}
}

// ?lang= is read as every tag of the SDK is: any English tag is English,
// any Chinese one Chinese, and a page of the listing says so in its lang.
func TestLangReadsAnyTag(t *testing.T) {
	s, _ := newTestShop(t, "")
	for tag, want := range map[string]string{"en-AU": "en", "en-GB": "en", "zh-Hans-CN": "zh-CN", "zh-TW": "zh-CN", "en": "en"} {
		if _, page := get(t, s, "/?lang="+tag); !strings.Contains(page, `<html lang="`+want+`"`) {
			t.Errorf("/?lang=%s: the listing is not in %s", tag, want)
		}
	}
}

// The shop hears back: a report the entry filed is kept with its status
// link, and the feed's report.status_changed moves it on.
func TestShopHearsBackAboutReports(t *testing.T) {
	s, srv := newTestShop(t, "")
	api := s.qc.API() // the shop's own key: the registry tells only it
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan shopperReport, 8)
	s.reports.started = make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.reports.follow(ctx, api, func(r shopperReport) { changes <- r })
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-s.reports.started // the report is filed after the follower's start

	rep, _, err := api.Reports.Create(ctx, client.ReportParams{
		Product: client.ProductKey{GTIN: srv.Demo()[0].GTIN}, Kind: client.ReportCounterfeit,
		ListingURL: "https://shop.example/p/1", Platform: platformName, Description: "疑似假冒",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The shopper's browser, named when it sent its first report.
	const who = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	from := &sender{id: who}
	mine := func(target string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.AddCookie(&http.Cookie{Name: shopperCookie, Value: who})
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	sent := context.WithValue(ctx, senderKey{}, from)
	s.reports.filed(sent, *rep)
	s.reports.filed(sent, *rep) // a resent form: kept once
	code, page := mine("/my/reports")
	link := "/quality/report/" + rep.ID + "?t=" + string(rep.AccessToken)
	if code != 200 || strings.Count(page, `class="report-id"`) != 1 || !strings.Contains(page, `href="`+link+`"`) || !strings.Contains(page, "已受理") {
		t.Fatalf("/my/reports: %d\n%s", code, page)
	}

	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-changes:
		if r.ID != rep.ID || r.Status != client.ReportForwarded {
			t.Errorf("heard %+v, want %s forwarded", r, rep.ID)
		}
	case <-time.After(timescale.Scale(30 * time.Second)):
		t.Fatal("the shop never heard the report move on")
	}
	if _, page := mine("/my/reports?lang=en"); !strings.Contains(page, "Forwarded to an authority") || !strings.Contains(page, link+"&amp;locale=en") {
		t.Errorf("/my/reports after the change:\n%s", page)
	}
	// Another platform's report changes are not the shop's to hear.
	if s.reports.apply(client.Event{Type: client.EventReportStatusChanged, Report: &client.ReportChange{ID: "rpt_elsewhere", Status: client.ReportClosed}}) {
		t.Error("a report the shop did not file was applied")
	}
}

// Every kind of shop page that shows verdicts — the listing, a product of
// each verdict, one the registry could not be asked about, and the bad
// barcode and unknown product pages in their place — is kept by no shared
// cache (a CDN would show a revoked tick long after) and varies with the
// Accept-Language its language follows.
func TestShopPagesThatShowVerdictsAreKeptByNoSharedCache(t *testing.T) {
	s, srv := newTestShop(t, "")
	type kind struct {
		target, acceptLanguage string
		code                   int
		lang                   string // the page's
		outage                 bool
	}
	kinds := []kind{
		{"/", "", 200, "zh-CN", false},
		{"/", "en-GB,en;q=0.8", 200, "en", false},
		{"/?lang=en", "zh-CN", 200, "en", false},
		{"/", "en", 200, "en", true},
		{"/p/6901234", "en", 400, "en", false},
		{"/p/6901234", "", 400, "zh-CN", false},
		{"/p/" + string(srv.NotListedGTIN())[:13] + "0", "zh-CN", 400, "zh-CN", false},
		{"/p/06901234567892", "en", 404, "en", false},
		{"/p/" + string(srv.Demo()[0].GTIN), "en", 200, "en", true},
	}
	for _, d := range srv.Demo() {
		kinds = append(kinds, kind{"/p/" + string(d.GTIN), "", 200, "zh-CN", false}, kind{"/p/" + string(d.GTIN), "en-US", 200, "en", false})
	}
	for _, k := range kinds {
		name := fmt.Sprintf("GET %s (Accept-Language %q, outage %v)", k.target, k.acceptLanguage, k.outage)
		if k.outage {
			srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 500})
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, k.target, nil)
		if k.acceptLanguage != "" {
			req.Header.Set("Accept-Language", k.acceptLanguage)
		}
		s.ServeHTTP(rec, req)
		srv.SetFaults()
		if rec.Code != k.code || !strings.Contains(rec.Body.String(), `<html lang="`+k.lang+`"`) {
			t.Errorf("%s: %d, in %s; want %d in %s", name, rec.Code, rec.Header().Get("Content-Language"), k.code, k.lang)
		}
		cc := rec.Header().Get("Cache-Control")
		if !strings.Contains(cc, "private") || strings.Contains(cc, "public") || !strings.Contains(cc, "no-cache") && !strings.Contains(cc, "must-revalidate") {
			t.Errorf("%s: Cache-Control %q; want private, revalidated", name, cc)
		}
		if vary := strings.Join(rec.Header().Values("Vary"), ","); !strings.Contains(vary, "Accept-Language") {
			t.Errorf("%s: Vary %q; want Accept-Language", name, vary)
		}
	}
}

// A Chinese product page names the barcode in Chinese; an English one
// says GTIN.
func TestProductPageNamesTheBarcodeInItsLanguage(t *testing.T) {
	s, srv := newTestShop(t, "")
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, d := range srv.Demo()[:3] {
		_, zh := get(t, s, "/p/"+string(d.GTIN)+"?lang=zh-CN")
		text := tags.ReplaceAllString(zh[strings.Index(zh, "<body"):], " ")
		if strings.Contains(text, "GTIN") || !strings.Contains(text, "商品条码") {
			t.Errorf("%s: the Chinese page calls the barcode %q", d.GTIN, regexp.MustCompile(`\S*\s*\S*`+string(d.GTIN)).FindString(text))
		}
		if _, en := get(t, s, "/p/"+string(d.GTIN)+"?lang=en"); !strings.Contains(en, "GTIN <span") {
			t.Errorf("%s: the English page does not say GTIN", d.GTIN)
		}
	}
}

// Every answer of the shop's own a shopper can reach is in the page's
// language, a mistyped address and a bad barcode included: never
// net/http's "404 page not found" or the SDK's "qcsdk: invalid gtin".
func TestShopAnswersEveryPageInTheShoppersLanguage(t *testing.T) {
	s, _ := newTestShop(t, "")
	for _, c := range []struct {
		target, acceptLanguage string
		code                   int
		says                   string
	}{
		{"/nowhere", "zh-CN,zh;q=0.9", 404, "没有这个页面。"},
		{"/nowhere", "en", 404, "There is no such page."},
		{"/p/x/y", "", 404, "没有这个页面。"},
		{"/p/6901234567893", "zh-CN", 400, "商品条码格式不正确。"},
		{"/p/6901234567893?lang=en", "zh-CN", 400, "That is not a valid barcode."},
		{"/p/06901234567892", "zh-CN", 404, "本店没有这件商品。"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, c.target, nil)
		if c.acceptLanguage != "" {
			req.Header.Set("Accept-Language", c.acceptLanguage)
		}
		s.ServeHTTP(rec, req)
		b := rec.Body.String()
		if rec.Code != c.code || !strings.Contains(b, c.says) || strings.Contains(b, "qcsdk:") || strings.Contains(b, "page not found") {
			t.Errorf("GET %s (Accept-Language %q): %d %.200q; want %d saying %q", c.target, c.acceptLanguage, rec.Code, b, c.code, c.says)
		}
	}
}

// A product page whose answer is past the widget's stale limit claims no
// status for the commitment below its badge: the badge says the answer
// could not be verified, and the details do not say "active" beside it.
func TestProductPagePastTheStaleLimitClaimsNoStatus(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv, _, qc := sdktest.Sandbox(t, nil, nil, cache.WithClock(clock))
	badges, err := widget.New(qc, widget.WithRenderTimeout(timescale.Scale(2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newShop(qc, badges, products(srv.Sandbox))
	if err != nil {
		t.Fatal(err)
	}
	g := srv.Demo()[0].GTIN
	if _, page := get(t, s, "/p/"+string(g)+"?lang=zh-CN"); !strings.Contains(page, " · 有效</p>") || !strings.Contains(page, "qcb-committed") {
		t.Fatalf("the fresh page does not say the commitment is active")
	}
	srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusServiceUnavailable, RetryAfter: time.Hour})
	mu.Lock()
	now = now.Add(widget.DefaultStaleLimit + time.Hour)
	mu.Unlock()
	_, page := get(t, s, "/p/"+string(g)+"?lang=zh-CN")
	if !strings.Contains(page, "qcb-unknown") || strings.Contains(page, "有效") || strings.Contains(page, "✓") {
		t.Errorf("past the stale limit, the page claims a status:\n%s", page[strings.Index(page, `<article`):])
	}
}
