package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
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
	c, err := client.New(client.WithBaseURL(api), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	qc, err := cache.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close() })
	badges, err := widget.New(qc, append(append(widgetOptions(), widget.WithRenderTimeout(2*time.Second)), opts...)...)
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
		hasBadge := strings.Contains(card, ` qcb-`+state(d.Verdict)+`"`)
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
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
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
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop within 10s of its context ending")
	}
}

// A registry that hangs costs a page one deadline, however many badges it
// shows: the listing used to wait its batch lookup's 800 ms and then 50 ms
// per badge, one after another (3.8 s for 60). Every badge then says
// "check on the official platform", at once.
func TestListingKeepsOneDeadlineWhenTheRegistryHangs(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // before the server closes: cleanups run last-first
	s, _ := newTestShop(t, hung.URL, widget.WithRenderTimeout(widget.DefaultRenderTimeout))
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

// The shop's own pages send the headers the enquiry pages send, and its
// server bounds slow and idle clients: integrators copy this example.
func TestShopIsSafeToCopy(t *testing.T) {
	s, srv := newTestShop(t, "")
	for _, target := range []string{"/", "/p/" + string(srv.Demo()[0].GTIN), "/static/shop.css", "/nowhere"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", target, csp, want)
			}
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q lets a script run", target, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("GET %s: nosniff %q, Referrer-Policy %q", target, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
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
