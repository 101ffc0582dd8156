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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
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

// shortTitles are the words a compact badge of a stale answer says
// before the day it was last confirmed, per locale; and icons, each
// state's glyph on a fresh answer.
var (
	shortTitles = map[string][2]string{
		"committed": {"质量承诺", "Committed"}, "failed": {"抽检不合格", "Failed"},
		"suspended": {"承诺已暂停", "Suspended"}, "revoked": {"承诺已撤销", "Revoked"}, "expired": {"承诺已过期", "Expired"},
		"unknown": {"暂无法核实", "Unverified"},
	}
	icons = map[string]string{
		"committed": "✓", "failed": "!", "suspended": "‖", "revoked": "✕", "expired": "⊘", "not-listed": "–", "unknown": "?",
	}
)

// The phases of an answer's life the suite shows each badge in: fresh;
// stale (the registry down, the answer past its freshness but within the
// widget's stale limit); and too old (past the stale limit).
const (
	phaseFresh  = "fresh"
	phaseStale  = "stale"
	phaseTooOld = "too-old"
)

// specimen is one badge on the test page, with what it must show.
type specimen struct {
	State, Locale, Theme, Size, Phase string
	HTML, SVG                         template.HTML
}

const specimenPage = `<!doctype html><html><head><meta charset="utf-8"><title>badges</title>{{.Style}}
<style>body{margin:8px;font:16px sans-serif} .s{margin:4px 0}
.docs{display:grid;grid-template-columns:auto auto;gap:4px 16px;align-items:center;justify-content:start}</style></head><body{{if .Docs}} class="docs"{{end}}>
{{range .Items}}<div class="s" data-state="{{.State}}" data-locale="{{.Locale}}" data-theme="{{.Theme}}" data-size="{{.Size}}" data-phase="{{.Phase}}">{{.HTML}} {{.SVG}}</div>
{{end}}</body></html>`

// The badge's read-out: its words as shown (a detail the stylesheet hides
// is not shown), its icon, colours and name, whether they fit, its box;
// and for the SVG, how far each text runs past the image's right edge.
const specimenJS = `Array.from(document.querySelectorAll('.s')).map(s => {
	const b = s.querySelector('.qcb'), title = b.querySelector('.qcb-title'), detail = b.querySelector('.qcb-detail');
	const r = b.getBoundingClientRect(), svg = s.querySelector('svg'), cs = getComputedStyle(b);
	const svgW = svg.width.baseVal.value;
	let svgOver = -1e9;
	for (const t of svg.querySelectorAll('text')) {
		svgOver = Math.max(svgOver, t.x.baseVal[0].value + t.getComputedTextLength() - (svgW - 2));
	}
	return {state: s.dataset.state, locale: s.dataset.locale, theme: s.dataset.theme, size: s.dataset.size, phase: s.dataset.phase,
		cls: b.className, title: title.innerText, detail: detail && getComputedStyle(detail).display !== 'none' ? detail.innerText : '',
		icon: b.querySelector('.qcb-icon').innerText, name: b.getAttribute('aria-label'),
		bg: cs.backgroundColor, border: cs.borderTopColor + ' ' + cs.borderTopStyle,
		titleFits: title.scrollWidth <= title.clientWidth, detailFits: !detail || detail.scrollWidth <= detail.clientWidth,
		boxFits: b.scrollWidth <= b.clientWidth, w: r.width, h: r.height,
		svgTitle: svg.querySelector('title').textContent, svgText: Array.from(svg.querySelectorAll('text')).map(t => t.textContent).join(' '),
		svgOver: svgOver};
})`

type specimenBox struct {
	State      string  `json:"state"`
	Locale     string  `json:"locale"`
	Theme      string  `json:"theme"`
	Size       string  `json:"size"`
	Phase      string  `json:"phase"`
	Cls        string  `json:"cls"`
	Title      string  `json:"title"`
	Detail     string  `json:"detail"`
	Icon       string  `json:"icon"`
	Name       string  `json:"name"`
	BG         string  `json:"bg"`
	Border     string  `json:"border"`
	SVGTitle   string  `json:"svgTitle"`
	SVGText    string  `json:"svgText"`
	TitleFits  bool    `json:"titleFits"`
	DetailFits bool    `json:"detailFits"`
	BoxFits    bool    `json:"boxFits"`
	W          float64 `json:"w"`
	H          float64 `json:"h"`
	SVGOver    float64 `json:"svgOver"`
}

var (
	// A full badge's stale detail: the day and time, with its zone.
	staleFull = [2]*regexp.Regexp{regexp.MustCompile(`^最后核实 \d\d-\d\d \d\d:\d\d 北京时间$`), regexp.MustCompile(`^Last confirmed \d\d-\d\d \d\d:\d\d UTC\+8$`)}
	// A compact badge's: the day.
	staleCompact  = [2]*regexp.Regexp{regexp.MustCompile(`^最后核实 \d\d-\d\d$`), regexp.MustCompile(`^as of \d\d-\d\d$`)}
	tooOldCompact = [2]*regexp.Regexp{regexp.MustCompile(`^最后核实 \d\d-\d\d$`), regexp.MustCompile(`^since \d\d-\d\d$`)}
	// Any badge's accessible name of a stale answer: the time, with its zone.
	staleName  = [2]*regexp.Regexp{regexp.MustCompile(`最后核实 \d\d-\d\d \d\d:\d\d 北京时间`), regexp.MustCompile(`(Last confirmed|as of|since) \d\d-\d\d \d\d:\d\d UTC\+8`)}
	staleWords = regexp.MustCompile(`最后核实|Last confirmed|as of|since \d`)
)

// Every badge state, in every locale, theme and size, fresh, stale and
// too old, reads as what it is and fits its box: no two states share a
// background, an icon or a title; a stale answer says so in its shown
// words (a compact badge's too), its icon (a clock, never a tick) and its
// name, with the time's zone; past the stale limit, a badge is unknown,
// with its date, and never shows a tick.
func TestBrowserEveryBadgeStateReadsAndFits(t *testing.T) {
	ctx := browser(t)
	clk := &manualClock{t: time.Now()}
	srv, _, qc := sdktest.Sandbox(t, nil, nil, cache.WithClock(clk.Now))
	w, err := widget.New(qc, widget.WithNotListed(true), widget.WithRenderTimeout(timescale.Scale(2*time.Second)))
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
	// The SVG is the badge endpoint's. The unknown product's GTIN is
	// refused there (400), so its image is that of a product nobody is
	// asked for: a well-formed GTIN no one has looked up, on a request
	// whose shopper has gone.
	badgeImages := w.Handler("/")
	svg := func(g string, l widget.Look) template.HTML {
		r := httptest.NewRequest(http.MethodGet, "/badge/"+g+".svg?locale="+l.Locale.String()+"&theme="+l.Theme.String()+"&size="+l.Size.String(), nil)
		if _, err := client.ParseGTIN(g); err != nil {
			for d := '0'; d <= '9'; d++ {
				if _, err := client.ParseGTIN(g[:len(g)-1] + string(d)); err == nil {
					r.URL.Path = "/badge/" + g[:len(g)-1] + string(d) + ".svg"
				}
			}
			gone, cancel := context.WithCancel(context.Background())
			cancel()
			r = r.WithContext(gone)
		}
		rec := httptest.NewRecorder()
		badgeImages.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: the badge endpoint answered %d: %s", r.URL, rec.Code, rec.Body)
		}
		return template.HTML(rec.Body.String())
	}
	add := func(items []specimen, phase string) []specimen {
		for _, state := range []string{"committed", "failed", "suspended", "revoked", "expired", "not-listed", "unknown"} {
			g := products[state]
			if phase != phaseFresh && (state == "unknown" || state == "not-listed") {
				continue
			}
			for _, l := range looks() {
				html := w.Badge(context.Background(), client.GTIN(g), l)
				items = append(items, specimen{State: state, Locale: l.Locale.String(), Theme: l.Theme.String(), Size: l.Size.String(), Phase: phase,
					HTML: html, SVG: svg(g, l)})
			}
		}
		return items
	}
	items := add(nil, phaseFresh)
	// The registry goes down and the answers age past their TTL: the
	// badges are served stale, and must say since when.
	srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusServiceUnavailable, RetryAfter: time.Hour})
	clk.advance(cache.DefaultTTL + cache.DefaultStaleWhileRevalidate + time.Minute)
	items = add(items, phaseStale)
	// And past the widget's stale limit: no verdict at all.
	clk.advance(widget.DefaultStaleLimit)
	items = add(items, phaseTooOld)

	tmpl := template.Must(template.New("").Parse(specimenPage))
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		show := items
		if r.URL.Query().Has("docs") {
			// README's picture: every state, fresh and stale, in the
			// default look and in English, dark and compact.
			show = nil
			for _, it := range items {
				if (it.Locale == "zh-CN") == (it.Size == "full") && it.HTML != "" && it.Phase != phaseTooOld &&
					(it.Theme == "light") == (it.Locale == "zh-CN") {
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
	if len(got) != len(items) || len(got) < 130 {
		t.Fatalf("%d badges on the page; want %d", len(got), len(items))
	}
	fresh := map[string][]specimenBox{} // by locale, theme and size
	for _, b := range got {
		name := fmt.Sprintf("%s/%s/%s/%s %s", b.State, b.Locale, b.Theme, b.Size, b.Phase)
		en := 0
		if b.Locale == "en" {
			en = 1
		}
		compact := b.Size == "compact"
		shown := b.Title + " " + b.Detail
		switch b.Phase {
		case phaseFresh:
			want := titles[b.State][en]
			if b.Title != want || !strings.HasPrefix(b.SVGTitle, want) {
				t.Errorf("%s: the badge says %q (its image %q); want %q", name, b.Title, b.SVGTitle, want)
			}
			if b.Icon != icons[b.State] {
				t.Errorf("%s: icon %q; want %q", name, b.Icon, icons[b.State])
			}
			if staleWords.MatchString(b.Name) || staleWords.MatchString(shown) || strings.Contains(b.Cls, "qcb-stale") {
				t.Errorf("%s: a fresh badge says %q (named %q, class %q)", name, shown, b.Name, b.Cls)
			}
			k := b.Locale + "/" + b.Theme + "/" + b.Size
			fresh[k] = append(fresh[k], b)
		case phaseStale, phaseTooOld:
			state, wantIcon := b.State, "◷"
			if b.Phase == phaseTooOld {
				state, wantIcon = "unknown", "?"
				if !strings.Contains(b.Cls, "qcb-unknown") {
					t.Errorf("%s: past the stale limit, the badge is %q; want unknown", name, b.Cls)
				}
			}
			wantTitle, wantDetail := titles[state][en], staleFull[en]
			if compact {
				wantTitle, wantDetail = shortTitles[state][en], staleCompact[en]
				if b.Phase == phaseTooOld {
					wantDetail = tooOldCompact[en]
				}
			}
			if b.Title != wantTitle || !wantDetail.MatchString(b.Detail) {
				t.Errorf("%s: the badge shows %q; want %q and a detail matching %s", name, shown, wantTitle, wantDetail)
			}
			if b.Icon != wantIcon || strings.Contains(b.Icon+b.SVGText, "✓") {
				t.Errorf("%s: icon %q (image %q); want %q, never a tick", name, b.Icon, b.SVGText, wantIcon)
			}
			if !staleName[en].MatchString(b.Name) || !staleName[en].MatchString(b.SVGTitle) {
				t.Errorf("%s: named %q (its image %q); want the time it was last confirmed, with its zone", name, b.Name, b.SVGTitle)
			}
			if !strings.Contains(b.SVGText, strings.TrimSpace(b.Detail)) {
				t.Errorf("%s: the image shows %q; want it to show %q as the badge does", name, b.SVGText, b.Detail)
			}
		}
		if !b.TitleFits || !b.DetailFits || !b.BoxFits {
			t.Errorf("%s: words cut off (title %q fits %v, detail %q fits %v, box %v)", name, b.Title, b.TitleFits, b.Detail, b.DetailFits, b.BoxFits)
		}
		if b.SVGOver > 0 {
			t.Errorf("%s: the image's words run %.1f px past its edge", name, b.SVGOver)
		}
		wantW, wantH := 260.0, 56.0
		if compact {
			wantW, wantH = 200, 28
		}
		if b.W != wantW || b.H != wantH {
			t.Errorf("%s: a %v×%v box; want %v×%v", name, b.W, b.H, wantW, wantH)
		}
	}
	// Every pair of fresh states differs in background, frame, icon and
	// words, in every locale, theme and size.
	if len(fresh) != 8 {
		t.Errorf("fresh badges in %d looks; want 8", len(fresh))
	}
	for k, bs := range fresh {
		if len(bs) != len(titles) {
			t.Errorf("%s: %d fresh states; want %d", k, len(bs), len(titles))
		}
		for i, a := range bs {
			for _, b := range bs[i+1:] {
				if a.BG == b.BG || a.Border == b.Border || a.Icon == b.Icon || a.Title == b.Title {
					t.Errorf("%s: %s and %s look alike: background %s / %s, frame %s / %s, icon %q / %q, words %q / %q",
						k, a.State, b.State, a.BG, b.BG, a.Border, b.Border, a.Icon, b.Icon, a.Title, b.Title)
				}
			}
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
		st, _, err := c.Products.ByGTIN(context.Background(), d.GTIN, nil)
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
// their last answer with a clock for an icon and, in their compact
// badges' shown words, the day the registry last confirmed it (the time,
// with its zone, in their names); the rest say they could not be checked —
// never "Quality commitment", never a tick. Past the stale limit, every
// badge is unknown, and those seen before say when they were confirmed.
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
		if _, err := qc.Status(context.Background(), client.ProductKey{GTIN: it.GTIN}); err != nil {
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
	for _, phase := range []string{phaseStale, phaseTooOld} {
		if phase == phaseTooOld {
			clk.advance(widget.DefaultStaleLimit)
		}
		for _, lang := range []string{"en", "zh-CN"} {
			got := badges(t, ctx, hs.URL+"/?lang="+lang)
			en := 0
			if lang == "en" {
				en = 1
			}
			var stale, unknown, dated int
			for _, b := range got {
				if b.Icon == "✓" || strings.Contains(b.Text, titles["committed"][en]) && b.Detail == "" {
					t.Errorf("%s %s: a badge shown in an outage looks fresh: %+v", phase, lang, b)
				}
				switch {
				case strings.Contains(b.Class, "qcb-unknown"):
					unknown++
					if b.Text != titles["unknown"][en] && b.Text != shortTitles["unknown"][en] || b.Icon != "?" {
						t.Errorf("%s %s: an unknown badge says %q, icon %q", phase, lang, b.Text, b.Icon)
					}
					if b.Detail != "" {
						dated++
						if !tooOldCompact[en].MatchString(b.Detail) || !staleName[en].MatchString(b.Label) {
							t.Errorf("%s %s: an unknown badge shows %q, named %q; want when it was last confirmed", phase, lang, b.Detail, b.Label)
						}
					}
				case phase == phaseStale && strings.Contains(b.Class, "qcb-stale"):
					stale++
					if !staleCompact[en].MatchString(b.Detail) || !staleName[en].MatchString(b.Label) || b.Icon != "◷" {
						t.Errorf("%s %s: a stale badge shows %q %q, icon %q, named %q; want the day it was last confirmed, and a clock", phase, lang, b.Text, b.Detail, b.Icon, b.Label)
					}
				default:
					t.Errorf("%s %s: a badge shown in an outage neither says it could not be checked nor when it was confirmed: %+v", phase, lang, b)
				}
			}
			switch {
			case phase == phaseStale && (unknown == 0 || stale == 0):
				t.Errorf("%s %s: %d stale and %d unknown badges; want both kinds", phase, lang, stale, unknown)
			case phase == phaseTooOld && (stale != 0 || dated < len(seen)/2):
				t.Errorf("%s %s: %d stale badges and %d unknown ones with a date; want none stale, and a date on those seen (%d)", phase, lang, stale, dated, len(seen))
			}
			artifacts(t).save(t, ctx, "outage-listing-"+phase+"-"+lang+".png", "")
			if os.Getenv("QCSDK_UPDATE_DOCS") == "1" && lang == "en" && phase == phaseStale {
				saveDocsShot(t, ctx, "after/outage-listing-en.png", "")
			}
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

// idBreaksJS finds every identifier and date on the page — the text LTR
// isolates: a GTIN, a model, a credit code, a standard's number, a date —
// and reports those short enough to fit a line that a line break splits
// (the characters of one do not all sit on one line).
const idBreaksJS = `(() => {
	const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	const range = document.createRange();
	const broken = [];
	let n, ids = 0;
	while ((n = walk.nextNode())) {
		const s = n.data;
		for (let i = s.indexOf('\u2066'); i >= 0; i = s.indexOf('\u2066', i + 1)) {
			const j = s.indexOf('\u2069', i);
			if (j < 0 || j - i > 33) continue;
			range.setStart(n, i + 1); range.setEnd(n, j);
			const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
			ids++;
			if (tops.size > 1 && broken.length < 5) broken.push(s.slice(i + 1, j));
		}
	}
	return {ids: ids, broken: broken};
})()`

type idBreaks struct {
	IDs    int      `json:"ids"`
	Broken []string `json:"broken"`
}

// On the shop's listing and product pages, in both locales, with
// ordinary and hostile registry data, at a phone's widths and a
// desktop's, no identifier or date breaks inside ("2026-/11-16"): it
// moves to the next line whole.
func TestBrowserIdentifiersNeverBreakInside(t *testing.T) {
	ctx := browser(t)
	for _, data := range []string{"ordinary", "hostile"} {
		var opts []sandbox.Option
		if data == "hostile" {
			opts = append(opts, sandbox.WithHostileText())
		}
		hs, srv := shopServer(t, opts...)
		pages := []string{"/?lang=zh-CN", "/?lang=en"}
		for _, d := range srv.Demo() {
			pages = append(pages, "/p/"+string(d.GTIN)+"?lang=zh-CN", "/p/"+string(d.GTIN)+"?lang=en")
		}
		ids := 0
		for _, width := range []int64{320, 360, 390, 1280} {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+p)); err != nil {
					t.Fatalf("navigate %s: %v", p, err)
				}
				got, err := chromedp.Run(ctx, chromedp.Evaluate[idBreaks](idBreaksJS))
				if err != nil {
					t.Fatal(err)
				}
				ids += got.IDs
				for _, b := range got.Broken {
					t.Errorf("%s data, %d px, %s: %q breaks inside", data, width, p, b)
				}
			}
		}
		if ids < 500 {
			t.Errorf("%s data: only %d identifiers checked: the check proves little", data, ids)
		}
	}
	// The check can fail: a date in a column too narrow for it is caught.
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html;charset=utf-8,<p style='width:3em'>%E2%81%A62026-11-16%E2%81%A9</p>")); err != nil {
		t.Fatal(err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[idBreaks](idBreaksJS)); err != nil || len(got.Broken) == 0 {
		t.Errorf("a date broken at its hyphen was not caught (%+v, %v): the check proves nothing", got, err)
	}
}
