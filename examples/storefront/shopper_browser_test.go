package main

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/sdktest"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// What a shopper sees, in the browser: every badge state in every look
// reads as what it is and fits its box; no page overflows sideways at a
// phone's width or a desktop's, with ordinary or hostile registry data;
// and bidirectional controls in the data reorder nothing around them.

// manualClock is a cache clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// titles are the words each state's badge must say, per locale; the
// unknown badge's are never an answer's.
var titles = map[string][2]string{
	"committed":  {"质量承诺", "Quality commitment"},
	"failed":     {"抽检不合格", "Failed inspection"},
	"suspended":  {"质量承诺已暂停", "Commitment suspended"},
	"revoked":    {"质量承诺已撤销", "Commitment revoked"},
	"expired":    {"质量承诺已过期", "Commitment expired"},
	"not-listed": {"暂无有效质量承诺", "No commitment in force"},
	"unknown":    {"暂无法核实", "Not verified right now"},
}

// stateOfDemo names a demo product's badge state.
func stateOfDemo(d sandbox.DemoProduct) string {
	switch d.Verdict {
	case client.VerdictCommitted:
		return "committed"
	case client.VerdictInspectionFailed:
		return "failed"
	case client.VerdictWithdrawn:
		for _, s := range []string{"suspended", "revoked"} {
			if strings.Contains(d.About, s) {
				return s
			}
		}
		return "expired"
	}
	return "not-listed"
}

// looks are every locale × theme × size.
func looks() []widget.Look {
	var out []widget.Look
	for _, l := range []widget.Locale{widget.LocaleZH, widget.LocaleEN} {
		for _, th := range []widget.Theme{widget.ThemeLight, widget.ThemeDark} {
			for _, sz := range []widget.Size{widget.SizeFull, widget.SizeCompact} {
				out = append(out, widget.Look{Locale: l, Theme: th, Size: sz})
			}
		}
	}
	return out
}

// specimen is one badge on the test page, with what it must show.
type specimen struct {
	State, Locale, Size string
	Stale               bool
	HTML, SVG           template.HTML
}

const specimenPage = `<!doctype html><html><head><meta charset="utf-8"><title>badges</title>{{.Style}}
<style>body{margin:8px;font:16px sans-serif} .s{margin:4px 0}
.docs{display:grid;grid-template-columns:auto auto;gap:4px 16px;align-items:center;justify-content:start}</style></head><body{{if .Docs}} class="docs"{{end}}>
{{range .Items}}<div class="s" data-state="{{.State}}" data-locale="{{.Locale}}" data-size="{{.Size}}" data-stale="{{.Stale}}">{{.HTML}} {{.SVG}}</div>
{{end}}</body></html>`

// The badge's read-out: its words, whether they fit, its box; and for the
// SVG, how far each text runs past the image's right edge.
const specimenJS = `Array.from(document.querySelectorAll('.s')).map(s => {
	const b = s.querySelector('.qcb'), title = b.querySelector('.qcb-title'), detail = b.querySelector('.qcb-detail');
	const r = b.getBoundingClientRect(), svg = s.querySelector('svg');
	const svgW = svg.width.baseVal.value;
	let svgOver = -1e9;
	for (const t of svg.querySelectorAll('text')) {
		svgOver = Math.max(svgOver, t.x.baseVal[0].value + t.getComputedTextLength() - (svgW - 2));
	}
	return {state: s.dataset.state, locale: s.dataset.locale, size: s.dataset.size, stale: s.dataset.stale === 'true',
		cls: b.className, title: title.innerText, detail: detail && getComputedStyle(detail).display !== 'none' ? detail.innerText : '',
		titleFits: title.scrollWidth <= title.clientWidth, detailFits: !detail || detail.scrollWidth <= detail.clientWidth,
		boxFits: b.scrollWidth <= b.clientWidth, w: r.width, h: r.height,
		svgTitle: svg.querySelector('title').textContent, svgOver: svgOver};
})`

type specimenBox struct {
	State      string  `json:"state"`
	Locale     string  `json:"locale"`
	Size       string  `json:"size"`
	Stale      bool    `json:"stale"`
	Cls        string  `json:"cls"`
	Title      string  `json:"title"`
	Detail     string  `json:"detail"`
	SVGTitle   string  `json:"svgTitle"`
	TitleFits  bool    `json:"titleFits"`
	DetailFits bool    `json:"detailFits"`
	BoxFits    bool    `json:"boxFits"`
	W          float64 `json:"w"`
	H          float64 `json:"h"`
	SVGOver    float64 `json:"svgOver"`
}

func TestBrowserEveryBadgeStateReadsAndFits(t *testing.T) {
	ctx := browser(t)
	clk := &manualClock{t: time.Now()}
	srv, _, qc := sdktest.Sandbox(t, nil, nil, cache.WithClock(clk.Now))
	w, err := widget.New(qc, widget.WithNotListed(true), widget.WithRenderTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// One product per state (the demo set's), the maker not listed, and
	// a GTIN nobody can answer for (its check digit is wrong).
	products := map[string]string{"unknown": "6901234567893"}
	for _, d := range srv.Demo() {
		if s := stateOfDemo(d); products[s] == "" {
			products[s] = string(d.GTIN)
		}
	}
	products["not-listed"] = string(srv.NotListedGTIN())
	if len(products) != len(titles) {
		t.Fatalf("found products for %d states of %d: %v", len(products), len(titles), products)
	}
	add := func(items []specimen, stale bool) []specimen {
		for _, state := range []string{"committed", "failed", "suspended", "revoked", "expired", "not-listed", "unknown"} {
			g := products[state]
			if stale && (state == "unknown" || state == "not-listed") {
				continue
			}
			for _, l := range looks() {
				html, _ := w.Render(context.Background(), g, l)
				items = append(items, specimen{State: state, Locale: l.Locale.String(), Size: l.Size.String(), Stale: stale,
					HTML: html, SVG: template.HTML(w.SVG(context.Background(), g, l))})
			}
		}
		return items
	}
	items := add(nil, false)
	// The registry goes down and the answers age past their TTL: the
	// badges are served stale, and must say since when.
	srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusServiceUnavailable, RetryAfter: time.Hour})
	clk.advance(cache.DefaultTTL + cache.DefaultStaleWhileRevalidate + time.Minute)
	items = add(items, true)

	tmpl := template.Must(template.New("").Parse(specimenPage))
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		show := items
		if r.URL.Query().Has("docs") {
			// README's picture: every state, fresh and stale, in the
			// default look and in English, dark and compact.
			show = nil
			for _, it := range items {
				if (it.Locale == "zh-CN") == (it.Size == "full") && it.HTML != "" &&
					strings.Contains(string(it.HTML), "qcb-light") == (it.Locale == "zh-CN") {
					it.SVG = ""
					show = append(show, it)
				}
			}
		}
		_ = tmpl.Execute(rw, map[string]any{"Style": widget.StyleTag(""), "Items": show, "Docs": len(show) != len(items)})
	}))
	t.Cleanup(hs.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]specimenBox](specimenJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(items) || len(got) < 60 {
		t.Fatalf("%d badges on the page; want %d", len(got), len(items))
	}
	for _, b := range got {
		name := fmt.Sprintf("%s/%s/%s stale=%v", b.State, b.Locale, b.Size, b.Stale)
		en := 0
		if b.Locale == "en" {
			en = 1
		}
		want := titles[b.State][en]
		if b.Title != want || !strings.HasPrefix(b.SVGTitle, want) {
			t.Errorf("%s: the badge says %q (its image %q); want %q", name, b.Title, b.SVGTitle, want)
		}
		if b.State == "unknown" && (b.Title == titles["committed"][en] || strings.Contains(b.Title, titles["committed"][en])) {
			t.Errorf("%s: the unknown badge shares the committed title: %q", name, b.Title)
		}
		confirmed := [2]string{"最后核实于 ", "Last confirmed "}[en]
		if b.Stale && b.Size == "full" && !strings.HasPrefix(b.Detail, confirmed) {
			t.Errorf("%s: a stale badge's detail is %q; want it to say when it was last confirmed", name, b.Detail)
		}
		if b.Stale && !strings.Contains(b.SVGTitle, confirmed) {
			t.Errorf("%s: a stale badge's image is named %q; want it to say when it was last confirmed", name, b.SVGTitle)
		}
		if !b.Stale && strings.Contains(b.Detail, confirmed) {
			t.Errorf("%s: a fresh badge says %q", name, b.Detail)
		}
		if !b.TitleFits || !b.DetailFits || !b.BoxFits {
			t.Errorf("%s: words cut off (title %q fits %v, detail %q fits %v, box %v)", name, b.Title, b.TitleFits, b.Detail, b.DetailFits, b.BoxFits)
		}
		if b.SVGOver > 0 {
			t.Errorf("%s: the image's words run %.1f px past its edge", name, b.SVGOver)
		}
		wantW, wantH := 260.0, 56.0
		if b.Size == "compact" {
			wantW, wantH = 200, 28
		}
		if b.W != wantW || b.H != wantH {
			t.Errorf("%s: a %v×%v box; want %v×%v", name, b.W, b.H, wantW, wantH)
		}
	}
	shots := artifacts(t)
	shots.save(t, ctx, "badges-every-state.png", "")
	if os.Getenv("QCSDK_UPDATE_DOCS") == "1" {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(500, 400)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"?docs")); err != nil {
			t.Fatal(err)
		}
		saveDocsShot(t, ctx, "badges.png", "")
	}
}

// overflowJS reports how far the page reaches past the viewport's right
// edge, and the elements that do.
const overflowJS = `(() => {
	const vw = document.documentElement.clientWidth;
	const over = document.documentElement.scrollWidth - vw;
	const culprits = [];
	if (over > 0) {
		for (const e of document.body.querySelectorAll('*')) {
			const r = e.getBoundingClientRect();
			if (r.right > vw + 0.5 && culprits.length < 4) culprits.push(e.tagName.toLowerCase() + '.' + e.className + ' → ' + Math.round(r.right));
		}
	}
	return {over: over, culprits: culprits};
})()`

type overflow struct {
	Over     float64  `json:"over"`
	Culprits []string `json:"culprits"`
}

// shopperPages are the pages of the shop and the enquiry entry a shopper
// reaches: the listing, every demo product, and every kind of enquiry page,
// a page that finds nothing included.
func shopperPages(t *testing.T, srv *sandbox.Server) []string {
	t.Helper()
	c := clientFor(t, srv)
	pages := []string{"/", "/?lang=en", "/quality/", "/quality/?category=toys", "/quality/?category=toys&locale=en",
		"/quality/cases", "/quality/cases?locale=en", "/quality/report", "/quality/report?locale=en",
		"/quality/enterprises/ent_0000002", "/quality/enterprises/nobody?locale=en"}
	// A report's confirmation and its status page at every stage.
	for _, r := range srv.DemoReports() {
		pages = append(pages, "/quality/report/"+r.ID+"?t="+string(r.Token), "/quality/report/"+r.ID+"?t="+string(r.Token)+"&locale=en")
	}
	r := srv.DemoReports()[0]
	pages = append(pages, "/quality/report/sent?ref="+r.ID+"&t="+string(r.Token), "/quality/report/sent?ref="+r.ID+"&t="+string(r.Token)+"&locale=en")
	for _, d := range srv.Demo() {
		pages = append(pages, "/p/"+string(d.GTIN), "/p/"+string(d.GTIN)+"?lang=en")
	}
	for _, d := range srv.Demo()[:3] {
		st, _, err := c.Products.ByGTIN(context.Background(), string(d.GTIN), nil)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, "/quality/enterprises/"+st.Enterprise.ID, "/quality/enterprises/"+st.Enterprise.ID+"?locale=en")
		for _, in := range st.Inspections {
			pages = append(pages, "/quality/inspections/"+in.ID, "/quality/inspections/"+in.ID+"?locale=en")
		}
	}
	return pages
}

// No page scrolls sideways — at 320 CSS pixels (WCAG 1.4.10 reflow), a
// phone's 390 and a desktop's 1280 — with ordinary registry data or with
// hostile data (10 KB names, 284-byte unbreakable words).
func TestBrowserNoPageOverflowsSideways(t *testing.T) {
	ctx := browser(t)
	for _, data := range []string{"ordinary", "hostile"} {
		var opts []sandbox.Option
		if data == "hostile" {
			opts = append(opts, sandbox.WithHostileText())
		}
		hs, srv := shopServer(t, opts...)
		pages := shopperPages(t, srv)
		for _, width := range []int64{320, 390, 1280} {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+p)); err != nil {
					t.Fatalf("navigate %s: %v", p, err)
				}
				got, err := chromedp.Run(ctx, chromedp.Evaluate[overflow](overflowJS))
				if err != nil {
					t.Fatal(err)
				}
				if got.Over > 0 {
					t.Errorf("%s data, %d px: %s overflows by %v px: %v", data, width, p, got.Over, got.Culprits)
				}
			}
		}
	}
}

// orderJS finds, in every text on the page, each pair of neighbouring
// characters that must read left to right — Chinese ideographs, and
// digits (a credit code, a GTIN, a date) — and reports those laid out
// right to left on one line: text a bidirectional control reversed.
const orderJS = `(() => {
	const must = /[\u4e00-\u9fff0-9]/;
	const bad = [];
	const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	const range = document.createRange();
	const rect = (n, i) => { range.setStart(n, i); range.setEnd(n, i + 1); return range.getBoundingClientRect(); };
	let n, pairs = 0;
	while ((n = walk.nextNode())) {
		const s = n.data;
		for (let i = 0; i + 1 < s.length; i++) {
			if (!must.test(s[i]) || !must.test(s[i + 1])) continue;
			const a = rect(n, i), b = rect(n, i + 1);
			if (a.width === 0 || b.width === 0 || Math.abs(a.top - b.top) > 2) continue;
			pairs++;
			if (b.left < a.left && bad.length < 5) bad.push(s.slice(Math.max(0, i - 8), i + 10));
		}
	}
	return {pairs: pairs, reversed: bad};
})()`

type order struct {
	Pairs    int      `json:"pairs"`
	Reversed []string `json:"reversed"`
}

// Registry text full of bidirectional controls — an unterminated
// RIGHT-TO-LEFT OVERRIDE at the end of every field, an unterminated
// RIGHT-TO-LEFT ISOLATE — reverses nothing outside itself: every credit
// code, GTIN, date and Chinese word on every page reads in its true order.
func TestBrowserBidiControlsReverseNothingAroundThem(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t, sandbox.WithHostileText())
	pairs := 0
	for _, p := range shopperPages(t, srv) {
		if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+p)); err != nil {
			t.Fatalf("navigate %s: %v", p, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[order](orderJS))
		if err != nil {
			t.Fatal(err)
		}
		pairs += got.Pairs
		for _, r := range got.Reversed {
			t.Errorf("%s: text reads right to left: %q", p, r)
		}
	}
	if pairs < 1000 {
		t.Errorf("only %d character pairs checked: the check proves little", pairs)
	}
	// The check can fail: a digit run under a bare override is caught.
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html;charset=utf-8,<p>%E2%80%AE20261201</p>")); err != nil {
		t.Fatal(err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[order](orderJS)); err != nil || len(got.Reversed) == 0 {
		t.Errorf("an overridden date was not caught (%+v, %v): the check proves nothing", got, err)
	}
}

// A listing while the registry is down: the products seen before show
// their last answer, saying when it was confirmed (in their names), and
// the rest say they could not be checked — never "Quality commitment".
// With QCSDK_UPDATE_DOCS=1 it also writes the screenshots in docs/.
func TestBrowserListingInAnOutage(t *testing.T) {
	ctx := browser(t)
	clk := &manualClock{t: time.Now()}
	srv, _, qc := sdktest.Sandbox(t, nil, nil, cache.WithClock(clk.Now))
	w, err := widget.New(qc)
	if err != nil {
		t.Fatal(err)
	}
	items := products(srv.Sandbox)
	seen := map[string]bool{}
	for _, it := range items[:len(items)/2] {
		if _, err := qc.StatusByGTIN(context.Background(), it.GTIN); err != nil {
			t.Fatal(err)
		}
		seen[string(it.GTIN)] = true
	}
	s, err := newShop(qc, w, items)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	clk.advance(2 * time.Hour)
	srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusServiceUnavailable, RetryAfter: time.Hour})
	for _, lang := range []string{"en", "zh-CN"} {
		got := badges(t, ctx, hs.URL+"/?lang="+lang)
		en := 0
		if lang == "en" {
			en = 1
		}
		var stale, unknown int
		for _, b := range got {
			switch {
			case strings.Contains(b.Class, "qcb-unknown"):
				unknown++
				if b.Text != titles["unknown"][en] {
					t.Errorf("%s: an unknown badge says %q", lang, b.Text)
				}
			case strings.Contains(b.Label, [2]string{"最后核实于", "Last confirmed"}[en]):
				stale++
			default:
				t.Errorf("%s: a badge shown in an outage neither says it could not be checked nor when it was confirmed: %+v", lang, b)
			}
		}
		if unknown == 0 || stale == 0 {
			t.Errorf("%s: %d stale and %d unknown badges; want both kinds", lang, stale, unknown)
		}
		artifacts(t).save(t, ctx, "outage-listing-"+lang+".png", "")
		if os.Getenv("QCSDK_UPDATE_DOCS") == "1" && lang == "en" {
			saveDocsShot(t, ctx, "after/outage-listing-en.png", "")
		}
	}
	if os.Getenv("QCSDK_UPDATE_DOCS") == "1" {
		hhs, hsrv := shopServer(t, sandbox.WithHostileText())
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 900)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(hhs.URL+"/p/"+string(hsrv.Demo()[2].GTIN)+"?lang=zh-CN")); err != nil {
			t.Fatal(err)
		}
		saveDocsShot(t, ctx, "after/hostile-product-390.png", "")
	}
}

// saveDocsShot writes a screenshot into docs/screenshots, for README.md
// and the record of what changed.
func saveDocsShot(t *testing.T, ctx context.Context, name, sel string) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", "screenshots", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	shotDir(filepath.Dir(path)).save(t, ctx, filepath.Base(path), sel)
}

// The suite measures Chinese words, and its screenshots show them: it
// needs a CJK font (.ci/run installs fonts-noto-cjk).
func TestBrowserHasACJKFont(t *testing.T) {
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatalf("no CJK font (QCSDK_CI=1): apt-get install fonts-noto-cjk (fc-list: %v)", err)
		}
		t.Skip("no CJK font: apt-get install fonts-noto-cjk, so that Chinese words are measured in real glyphs")
	}
}
