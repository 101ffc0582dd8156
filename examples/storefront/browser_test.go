package main

import (
	"context"
	"fmt"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// The browser suite: the storefront in headless Chromium, as a shopper
// sees it. It needs a Chromium (Debian's chromium; QCSDK_CHROMIUM names
// another) and skips without one, except under CI (QCSDK_CI=1), where
// .ci/run installs it and a missing browser is a failure.

// browser starts a headless Chromium for one test, with extra options.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	heavy.Suite(t, "the browser suite")
	path := os.Getenv("QCSDK_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatal("no Chromium (QCSDK_CI=1): apt-get install chromium, or set QCSDK_CHROMIUM")
		}
		t.Skip("no Chromium: apt-get install chromium (or set QCSDK_CHROMIUM) to run the browser suite")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // Chromium's sandbox refuses to run as root, as CI does
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// A test's whole browsing: the overflow test alone navigates 180
	// pages, which under -race beside the other packages' tests can take
	// more than a minute and a half.
	ctx, cancelTimeout := context.WithTimeout(ctx, timescale.Scale(4*time.Minute))
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// shopServer serves the storefront over HTTP, on a sandbox.
func shopServer(t *testing.T, opts ...sandbox.Option) (*httptest.Server, *sandbox.Server) {
	t.Helper()
	// One browser opens every report's status page at every width: more
	// look-ups than a shopper makes, which the limits would refuse.
	opts = append([]sandbox.Option{sandbox.WithReportLookupLimit(1000, 1000)}, opts...)
	srv, _, qc := sdktest.Sandbox(t, opts, nil)
	badges, err := widget.New(qc, widget.WithRenderTimeout(timescale.Scale(2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newShop(qc, badges, products(srv.Sandbox), enquiry.WithStatusLookupLimit(60000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs, srv
}

// badgeBox is a badge as the browser laid it out.
type badgeBox struct {
	Class string `json:"class"`
	Text  string `json:"text"`
	Label string `json:"label"`
	// Detail is the detail line's words when the badge shows them, and
	// Icon its icon.
	Detail string  `json:"detail"`
	Icon   string  `json:"icon"`
	W      float64 `json:"w"`
	H      float64 `json:"h"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
}

const badgesJS = `Array.from(document.querySelectorAll('.qcb')).map(e => {
	const r = e.getBoundingClientRect();
	const s = getComputedStyle(e);
	const d = e.querySelector('.qcb-detail');
	return {class: e.className, text: e.querySelector('.qcb-title').innerText, label: e.getAttribute('aria-label'),
		detail: d && getComputedStyle(d).display !== 'none' ? d.innerText : '', icon: e.querySelector('.qcb-icon').innerText,
		w: s.visibility === 'hidden' ? 0 : r.width, h: r.height, x: r.x + scrollX, y: r.y + scrollY};
})`

func badges(t *testing.T, ctx context.Context, url string) []badgeBox {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]badgeBox](badgesJS))
	if err != nil {
		t.Fatalf("read the badges of %s: %v", url, err)
	}
	return got
}

// wantTitle is the badge's title for a demo product, per locale.
func wantTitle(d sandbox.DemoProduct, en bool) string {
	pick := func(zh, e string) string {
		if en {
			return e
		}
		return zh
	}
	switch d.Verdict {
	case client.VerdictCommitted:
		return pick("质量承诺", "Quality commitment")
	case client.VerdictInspectionFailed:
		return pick("抽检不合格", "Failed inspection")
	case client.VerdictWithdrawn:
		switch {
		case strings.Contains(d.About, "suspended"):
			return pick("质量承诺已暂停", "Commitment suspended")
		case strings.Contains(d.About, "revoked"):
			return pick("质量承诺已撤销", "Commitment revoked")
		}
		return pick("质量承诺已过期", "Commitment expired")
	}
	return ""
}

func TestBrowserShowsEveryVerdictInBothLocales(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t)
	shots := artifacts(t)
	for _, d := range srv.Demo() {
		for _, lang := range []string{"zh-CN", "en"} {
			url := hs.URL + "/p/" + string(d.GTIN) + "?lang=" + lang
			got := badges(t, ctx, url)
			want := wantTitle(d, lang == "en")
			if want == "" {
				if len(got) != 0 {
					t.Errorf("%s (%s, %s): a product not listed shows a badge: %+v", d.GTIN, d.About, lang, got)
				}
				continue
			}
			if len(got) != 1 {
				t.Errorf("%s (%s, %s): %d badges; want 1", d.GTIN, d.About, lang, len(got))
				continue
			}
			b := got[0]
			if !strings.HasPrefix(b.Text, want) || b.W != 260 || b.H != 56 || !strings.HasPrefix(b.Label, want) {
				t.Errorf("%s (%s, %s): badge %+v; want a visible 260×56 box saying %q", d.GTIN, d.About, lang, b, want)
			}
			shots.save(t, ctx, fmt.Sprintf("badge-%s-%s-%s.png", lang, d.Verdict, d.GTIN), ".qcb")
		}
	}
}

func TestBrowserListingShowsEveryBadge(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t)
	got := badges(t, ctx, hs.URL+"/?lang=en")
	// Every product but those no commitment in force covers.
	items := products(srv.Sandbox)
	keys := make([]client.ProductKey, len(items))
	for i, it := range items {
		keys[i] = client.ProductKey{GTIN: it.GTIN}
	}
	answers, _, err := clientFor(t, srv).Products.Batch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, a := range answers {
		if a.Err == nil && client.Decide(a.Status, time.Now(), 0).Verdict != client.VerdictNotListed {
			want++
		}
	}
	if len(got) != want || want < 50 {
		t.Errorf("%d badges on the listing; want %d", len(got), want)
	}
	for _, b := range got {
		if b.W != 200 || b.H != 28 || b.Text == "" {
			t.Errorf("a listing badge is not a visible 200×28 compact box: %+v", b)
		}
	}
	artifacts(t).save(t, ctx, "listing-en.png", "")
}

// Server-rendered badges need no script: with JavaScript off, the product
// page lays the badge out the same.
func TestBrowserWithoutJavaScript(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	url := hs.URL + "/p/" + string(srv.Demo()[0].GTIN) + "?lang=zh-CN"
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	box, err := chromedp.Run(ctx, chromedp.Dimensions(".qcb"))
	if err != nil {
		t.Fatalf("no badge laid out with JavaScript off: %v", err)
	}
	if box.Width != 260 || box.Height != 56 {
		t.Errorf("with JavaScript off the badge is %d×%d; want 260×56", box.Width, box.Height)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(".qcb"))
	if err != nil || !strings.Contains(html, "质量承诺") {
		t.Errorf("the badge with JavaScript off: %q, %v", html, err)
	}
}

// The badge's box never moves or resizes once the page has loaded: the
// page reports no layout shift at all, and the box after load is the box
// of first paint.
func TestBrowserNoLayoutShift(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t)
	for _, path := range []string{"/p/" + string(srv.Demo()[2].GTIN), "/?lang=en"} {
		before := badges(t, ctx, hs.URL+path)
		shift, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise(done => {
			let cls = 0;
			new PerformanceObserver(list => { for (const e of list.getEntries()) cls += e.value; })
				.observe({type: 'layout-shift', buffered: true});
			document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(cls))));
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if shift != 0 {
			t.Errorf("%s: cumulative layout shift %v; want 0", path, shift)
		}
		after, err := chromedp.Run(ctx, chromedp.Evaluate[[]badgeBox](badgesJS))
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("%s: %d badges, then %d", path, len(before), len(after))
		}
		for i := range after {
			if after[i] != before[i] {
				t.Errorf("%s: badge %d moved from %+v to %+v", path, i, before[i], after[i])
			}
		}
	}
}

// Hostile registry data — script tags, event handlers, javascript: URLs,
// broken UTF-8, bidi overrides, 10 KB names — runs nothing: no dialog
// opens, no injected call happens, and every page still shows its badges.
func TestBrowserHostileDataRunsNothing(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t, sandbox.WithHostileText())

	// Any script the data smuggles in would call one of these; count it.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__qcRan = 0; for (const f of ['alert', 'confirm', 'prompt']) { window[f] = () => { window.__qcRan++; }; }`,
	}); err != nil {
		t.Fatal(err)
	}
	// A real dialog would block the page: count it and dismiss it from
	// another goroutine (the listener must not run commands).
	var dialogs atomic.Int64
	dismiss := make(chan struct{}, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range dismiss {
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() { close(dismiss); wg.Wait() })
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			select {
			case dismiss <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	id := ""
	paths := []string{"/", "/?lang=en", "/quality/", "/quality/cases", "/quality/?category=toys", "/quality/report"}
	for _, d := range srv.Demo()[:6] {
		paths = append(paths, "/p/"+string(d.GTIN), "/p/"+string(d.GTIN)+"?lang=en")
	}
	st, _, err := clientFor(t, srv).Products.ByGTIN(context.Background(), srv.Demo()[2].GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	id = st.Enterprise.ID
	paths = append(paths, "/quality/enterprises/"+id, "/quality/enterprises/"+id+"?locale=en")
	for _, p := range paths {
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+p)); err != nil {
			t.Fatalf("navigate %s: %v", p, err)
		}
		ran, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__qcRan`))
		if err != nil {
			t.Fatal(err)
		}
		if ran != 0 {
			t.Errorf("%s: injected script ran %d times", p, ran)
		}
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
		if err != nil || title == "" {
			t.Errorf("%s: no title (%v): the page did not render", p, err)
		}
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened on hostile data", n)
	}
	// The counter works: a script that does run is counted.
	if ran, err := chromedp.Run(ctx, chromedp.Evaluate[int](`alert('control'), window.__qcRan`)); err != nil || ran != 1 {
		t.Errorf("the control call was counted %d times (%v); the check above proves nothing", ran, err)
	}
	if got := badges(t, ctx, hs.URL+"/"); len(got) == 0 {
		t.Error("the listing shows no badge on hostile data")
	}
	artifacts(t).save(t, ctx, "hostile-listing.png", "")
}

func clientFor(t *testing.T, srv *sandbox.Server) *client.Client {
	t.Helper()
	c, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// shotDir keeps screenshots: under QCSDK_ARTIFACTS when set (CI keeps
// them), else in the test's temporary directory.
type shotDir string

func artifacts(t *testing.T) shotDir {
	if d := os.Getenv("QCSDK_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, "browser")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return shotDir(dir)
	}
	return shotDir(t.TempDir())
}

// save writes a screenshot of the element sel, or of the page for "".
func (d shotDir) save(t *testing.T, ctx context.Context, name, sel string) {
	t.Helper()
	var png []byte
	var err error
	if sel == "" {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below it, JPEG
	} else {
		png, err = chromedp.Run(ctx, chromedp.Screenshot(sel))
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(string(d), name), png, 0o644); err != nil {
		t.Error(err)
	}
}

// axe-core (npm's axe-core; .ci/run installs it and sets QCSDK_AXE to its
// axe.min.js) finds no accessibility violation on the shop's pages and on
// every enquiry page.
func TestBrowserAccessibility(t *testing.T) {
	path := os.Getenv("QCSDK_AXE")
	if path == "" {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatal("QCSDK_AXE is not set (QCSDK_CI=1): .ci/run installs axe-core and sets it")
		}
		t.Skip("QCSDK_AXE is not set: npm install axe-core and point QCSDK_AXE at its axe.min.js to run the accessibility checks")
	}
	axe, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	hs, srv := shopServer(t)
	st, _, err := clientFor(t, srv).Products.ByGTIN(context.Background(), srv.Demo()[2].GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	ins := st.Inspections[0].ID
	pages := []string{
		"/", "/?lang=en", "/quality/", "/quality/?category=toys&locale=en", "/quality/cases",
		"/quality/enterprises/" + st.Enterprise.ID, "/quality/enterprises/" + st.Enterprise.ID + "?locale=en",
		"/quality/inspections/" + ins, "/quality/report", "/quality/report/sent?ref=rpt_00000001",
	}
	for _, d := range srv.Demo() {
		pages = append(pages, "/p/"+string(d.GTIN), "/p/"+string(d.GTIN)+"?lang=en")
	}
	type violation struct {
		ID      string   `json:"id"`
		Impact  string   `json:"impact"`
		Help    string   `json:"help"`
		Targets []string `json:"targets"`
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+p)); err != nil {
			t.Fatalf("navigate %s: %v", p, err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
			t.Fatalf("load axe-core on %s: %v", p, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]violation](`axe.run(document, {resultTypes: ['violations']}).then(r =>
			r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", p, err)
		}
		for _, v := range got {
			t.Errorf("%s: %s (%s): %s — %v", p, v.ID, v.Impact, v.Help, v.Targets)
		}
	}
}

// A shopper who clicks a badge reaches the record's page on the
// regulator's enquiry platform — here the sandbox's record pages, served
// over TLS, with the verify host mapped to them in the browser.
func TestBrowserVerifyLinkReachesTheRecord(t *testing.T) {
	hs, srv := shopServer(t)
	official := httptest.NewTLSServer(srv.Sandbox)
	t.Cleanup(official.Close)
	port := official.Listener.Addr().(*net.TCPAddr).Port
	ctx := browser(t, chromedp.IgnoreCertErrors,
		chromedp.Flag("host-resolver-rules", fmt.Sprintf("MAP %s:443 127.0.0.1:%d", widget.DefaultVerifyHost, port)))
	for _, d := range []sandbox.DemoProduct{srv.Demo()[0], srv.Demo()[2]} {
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/p/"+string(d.GTIN)+"?lang=en")); err != nil {
			t.Fatal(err)
		}
		href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('a.qcb').href`))
		if err != nil || !strings.HasPrefix(href, "https://"+widget.DefaultVerifyHost+"/") {
			t.Fatalf("%s: the badge links to %q (%v)", d.GTIN, href, err)
		}
		opened := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return i.URL == href })
		if err := chromedp.Do(ctx, chromedp.Click("a.qcb")); err != nil {
			t.Fatalf("%s: click the badge: %v", d.GTIN, err)
		}
		var id target.ID
		select {
		case id = <-opened:
		case <-ctx.Done():
			t.Fatalf("%s: clicking the badge opened no page", d.GTIN)
		}
		tab, closeTab := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		if err := chromedp.Do(tab, chromedp.WaitVisible("#record")); err != nil {
			t.Fatalf("%s: the record page did not load: %v", d.GTIN, err)
		}
		text, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		record := href[strings.LastIndexByte(href, '/')+1:]
		if !strings.Contains(text, record) {
			t.Errorf("%s: the page the badge opened does not show %s:\n%s", d.GTIN, record, text)
		}
		closeTab()
	}
}
