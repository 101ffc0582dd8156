package widget_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var reference = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

type env struct {
	srv *sandbox.Server
	api *client.Client
	qc  *cache.Cache
	w   *widget.Widget
}

func setup(t testing.TB, sbOpts []sandbox.Option, opts ...widget.Option) *env {
	t.Helper()
	return setupWithClient(t, nil, sbOpts, opts...)
}

// setupWithClient is setup with more client options.
func setupWithClient(t testing.TB, clientOpts []client.Option, sbOpts []sandbox.Option, opts ...widget.Option) *env {
	t.Helper()
	// No pause after a 503: these tests heal a fault and ask at once.
	srv, api, qc := sdktest.Sandbox(t, append([]sandbox.Option{sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference)}, sbOpts...),
		append([]client.Option{client.WithMaxPause(time.Nanosecond)}, clientOpts...))
	// A render timeout no loaded machine misses: these tests are about
	// what a badge says; those about the budget set their own.
	opts = append([]widget.Option{widget.WithClock(func() time.Time { return reference.Add(12 * time.Hour) }),
		widget.WithRenderTimeout(timescale.Scale(10 * time.Second))}, opts...)
	w, err := widget.New(qc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, api: api, qc: qc, w: w}
}

// looks is every look a badge has.
func looks() []widget.Look {
	var out []widget.Look
	for _, l := range []widget.Locale{widget.LocaleZH, widget.LocaleEN} {
		for _, th := range []widget.Theme{widget.ThemeLight, widget.ThemeDark} {
			for _, s := range []widget.Size{widget.SizeFull, widget.SizeCompact} {
				out = append(out, widget.Look{Locale: l, Theme: th, Size: s})
			}
		}
	}
	return out
}

func lookName(l widget.Look) string { return fmt.Sprintf("%s/%s/%s", l.Locale, l.Theme, l.Size) }

// product is a case of the golden files: a demo product (one per verdict
// and edge), or a GTIN that gets no answer.
type product struct {
	name string
	gtin string
}

func products(e *env) []product {
	var out []product
	for _, d := range e.srv.Demo() {
		out = append(out, product{d.About, string(d.GTIN)})
	}
	out = append(out, product{"malformed GTIN: no answer", "6901234567893"})
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./widget/ -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got; go test ./widget/ -update rewrites it):\n%s", name, d)
	}
}

// TestGoldenBadges renders every state in every look, as HTML and SVG,
// and compares them with the files in testdata.
func TestGoldenBadges(t *testing.T) {
	e := setup(t, nil, widget.WithNotListed(true))
	ctx := context.Background()
	var html, svg strings.Builder
	for _, p := range products(e) {
		for _, l := range looks() {
			fmt.Fprintf(&html, "== %s · %s · %s\n%s\n", p.gtin, p.name, lookName(l), e.w.Badge(ctx, client.GTIN(p.gtin), l))
			fmt.Fprintf(&svg, "== %s · %s · %s\n%s\n", p.gtin, p.name, lookName(l), e.w.SVG(ctx, p.gtin, l))
		}
	}
	golden(t, "badges.html.golden", html.String())
	golden(t, "badges.svg.golden", svg.String())
}

// checkMarkup parses a rendering as XML (our HTML is well-formed XML
// too, so a strict parser finds any unbalanced or broken markup), and
// fails on script, event handlers, and links off the allow-list.
func checkMarkup(t *testing.T, what, markup, host string) {
	t.Helper()
	checkXML(t, what, "<root>"+markup+"</root>", host, false)
}

// checkXML is testio.CheckXML.
var checkXML = testio.CheckXML

func TestBadgesAreWellFormedSmallAndSafe(t *testing.T) {
	for _, hostile := range []bool{false, true} {
		t.Run(fmt.Sprintf("hostile=%v", hostile), func(t *testing.T) {
			var sb []sandbox.Option
			if hostile {
				sb = append(sb, sandbox.WithHostileText())
			}
			e := setup(t, sb, widget.WithNotListed(true))
			ctx := context.Background()
			for _, p := range products(e) {
				for _, l := range looks() {
					what := p.gtin + " " + lookName(l)
					h := string(e.w.Badge(ctx, client.GTIN(p.gtin), l))
					checkMarkup(t, what+" html", h, widget.DefaultVerifyHost)
					if len(h) > 2048 {
						t.Errorf("%s: badge HTML is %d bytes; the budget is 2 KB", what, len(h))
					}
					if h != "" && !strings.Contains(h, `aria-label="`) {
						t.Errorf("%s: no accessible name", what)
					}
					checkMarkup(t, what+" svg", e.w.SVG(ctx, p.gtin, l), widget.DefaultVerifyHost)
				}
			}
		})
	}
}

func TestLinksOnlyToTheVerifyHostOverHTTPS(t *testing.T) {
	for _, base := range []string{
		"http://verify.qualitycommit.example",            // not https
		"https://verify.qualitycommit.example.evil.test", // another host
		"https://evil.test",
	} {
		t.Run(base, func(t *testing.T) {
			e := setup(t, []sandbox.Option{sandbox.WithVerifyBaseURL(base)})
			for _, p := range products(e)[:6] {
				h := string(e.w.Badge(context.Background(), client.GTIN(p.gtin)))
				if strings.Contains(h, "href=") && !strings.Contains(h, `href="https://verify.qualitycommit.example/"`) {
					t.Errorf("%s: a badge links to a record page on %s:\n%s", p.gtin, base, h)
				}
				if ld := string(e.w.JSONLD(context.Background(), p.gtin)); strings.Contains(ld, base) {
					t.Errorf("%s: the JSON-LD names %s", p.gtin, base)
				}
			}
		})
	}
	if _, err := widget.New(nil); err == nil {
		t.Error("New(nil) did not fail")
	}
	for _, bad := range []string{"", "https://x.test", "x.test/path", "user@x.test", "x.test:8443"} {
		e := setup(t, nil)
		if _, err := widget.New(e.qc, widget.WithVerifyHost(bad)); err == nil {
			t.Errorf("WithVerifyHost(%q) was accepted", bad)
		}
	}
}

func TestDefaultsHideNotListedAndShowUnknown(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	if h := e.w.Badge(ctx, e.srv.NotListedGTIN()); h != "" {
		t.Errorf("a product of a maker not on the list shows %q; want nothing by default", h)
	}
	h, err := e.w.Render(ctx, "6901234567893", widget.Look{})
	if !errors.Is(err, client.ErrInvalidID) {
		t.Errorf("Render of a malformed GTIN: error %v; want ErrInvalidID", err)
	}
	if !strings.Contains(string(h), "qcb-unknown") || !strings.Contains(string(h), "请到官方平台查询") {
		t.Errorf("a product with no answer shows %q; want the neutral unknown badge", h)
	}
	hidden, err := widget.New(e.qc, widget.WithUnknown(false))
	if err != nil {
		t.Fatal(err)
	}
	if h := hidden.Badge(ctx, "6901234567893"); h != "" {
		t.Errorf("WithUnknown(false): %q; want nothing", h)
	}
}

// Past the render timeout the badge is unknown — never a guess, never a
// page held up.
func TestASlowAPIGivesTheUnknownBadge(t *testing.T) {
	e := setup(t, nil, widget.WithRenderTimeout(20*time.Millisecond))
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 2 * time.Second})
	g := string(e.srv.Demo()[0].GTIN)
	h, err := e.w.Render(context.Background(), g, widget.Look{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v; want the render deadline", err)
	}
	if !strings.Contains(string(h), "qcb-unknown") {
		t.Errorf("badge %q; want unknown", h)
	}
}

func TestAPageInAPlatformsTemplate(t *testing.T) {
	e := setup(t, nil)
	tmpl := template.Must(template.New("page").Parse(
		`<head>{{ .Style }}{{ $.QC.JSONLD .GTIN }}</head><p>{{ .Name }}</p>{{ $.QC.Badge .GTIN }}{{ $.QC.Badge .GTIN "en" "dark" "compact" }}`))
	var out strings.Builder
	g := e.srv.Demo()[0].GTIN
	page := e.w.Page(context.Background(), g)
	defer page.Close()
	data := struct {
		GTIN  client.GTIN
		Name  string
		Style template.HTML
		QC    *widget.Page
	}{g, "<b>kettle</b>", widget.StyleTag("n0nce"), page}
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		`<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product"`,
		"&lt;b&gt;kettle&lt;/b&gt;", // the platform's own data stays escaped
		`<style nonce="n0nce">.qcb{`,
		`class="qcb qcb-full qcb-light qcb-committed" lang="zh-CN"`,
		`class="qcb qcb-compact qcb-dark qcb-committed" lang="en"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the page lacks %q:\n%s", want, got)
		}
	}
}

func TestLocaleFromAcceptLanguage(t *testing.T) {
	for _, c := range []struct {
		header string
		want   widget.Locale
	}{
		{"", widget.LocaleZH},
		{"en-US,en;q=0.9", widget.LocaleEN},
		{"zh-CN,zh;q=0.9,en;q=0.8", widget.LocaleZH},
		{"fr-FR,en;q=0.5,zh;q=0.3", widget.LocaleEN},
		{"en;q=0.2, zh-TW;q=0.9", widget.LocaleZH},
		{"en;q=0", widget.LocaleZH},
		{"de,fr", widget.LocaleZH},
		{"en;q=abc", widget.LocaleZH},
		{"x", widget.LocaleZH},
	} {
		if got := widget.LocaleFromAcceptLanguage(c.header); got != c.want {
			t.Errorf("LocaleFromAcceptLanguage(%q) = %s; want %s", c.header, got, c.want)
		}
	}
}

// The README shows each state's badge from docs/badges; this keeps those
// files what the widget draws (go test ./widget/ -update rewrites them).
func TestDocsBadges(t *testing.T) {
	e := setup(t, nil, widget.WithNotListed(true))
	ctx := context.Background()
	states := map[string]string{}
	for _, d := range e.srv.Demo() {
		name := string(d.Verdict)
		switch {
		case d.Verdict == client.VerdictCommitted && strings.Contains(d.About, "not inspected"):
			name = "committed-not-inspected"
		case d.Verdict == client.VerdictCommitted && d.About != "active commitment, last inspection passed":
			continue
		case d.Verdict == client.VerdictInspectionFailed && strings.Contains(d.About, "pending"):
			continue
		case d.Verdict == client.VerdictWithdrawn:
			switch {
			case strings.Contains(d.About, "suspended"):
				name = "withdrawn-suspended"
			case strings.Contains(d.About, "revoked"):
				name = "withdrawn-revoked"
			case d.About == "commitment expired":
				name = "withdrawn-expired"
			default:
				continue
			}
		case d.Verdict == client.VerdictNotListed:
			continue // the maker not on the list stands for this state, below
		}
		states[name] = string(d.GTIN)
	}
	states["not_listed"] = string(e.srv.NotListedGTIN())
	states["unknown"] = "6901234567893"
	if len(states) != 8 {
		t.Fatalf("%d states found in the demo set: %v", len(states), states)
	}
	for name, g := range states {
		for _, c := range []struct {
			suffix string
			look   widget.Look
		}{{"zh", widget.Look{}}, {"en-dark", widget.Look{Locale: widget.LocaleEN, Theme: widget.ThemeDark}}} {
			file := filepath.Join("..", "docs", "badges", name+"-"+c.suffix+".svg")
			got := e.w.SVG(ctx, g, c.look)
			if *update {
				if err := os.WriteFile(file, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test ./widget/ -update writes it)", err)
			}
			if d := cmp.Diff(string(want), got+"\n"); d != "" {
				t.Errorf("%s differs from what the widget draws (-file +now):\n%s", file, d)
			}
		}
	}
}

// A page whose budget is spent asks no one: every badge it has not got is
// the neutral one, at once, and no lookup is sent for it.
func TestAPageWhoseBudgetIsSpentAsksNoOne(t *testing.T) {
	e := setup(t, nil)
	demo := e.srv.Demo()
	ctx, cancel := context.WithCancel(context.Background())
	page := e.w.Page(ctx) // no products named up front
	defer page.Close()
	cancel() // the shopper has gone, or the budget ran out
	before := e.srv.Requests("GET /v1/products/{gtin}") + e.srv.Requests("POST /v1/products/batch")
	for _, d := range demo {
		if b, _ := page.Badge(d.GTIN); !strings.Contains(string(b), "qcb-unknown") {
			t.Errorf("%s with the page's budget spent: %s; want the neutral badge", d.GTIN, b)
		}
	}
	if n := e.srv.Requests("GET /v1/products/{gtin}") + e.srv.Requests("POST /v1/products/batch") - before; n != 0 {
		t.Errorf("%d lookups sent for a page nobody waits for", n)
	}
}

// A page whose lookups fail tries them once more, together, and then
// renders the neutral badge for the rest at once: its badges are never
// looked up one by one, one after another, as the template reaches them.
func TestAPageWhoseLookupsFailDoesNotAskBadgeByBadge(t *testing.T) {
	e := setup(t, []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultReset, Route: "POST /v1/products/batch"})})
	var gtins []client.GTIN
	for _, d := range e.srv.Demo() {
		gtins = append(gtins, d.GTIN)
	}
	if len(gtins) < 3 {
		t.Fatalf("%d demo products; want several", len(gtins))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(time.Minute)) // the render timeout bounds it
	defer cancel()
	page := e.w.Page(ctx, gtins...)
	defer page.Close()
	for _, g := range gtins {
		if b, _ := page.Badge(g); !strings.Contains(string(b), "qcb-unknown") {
			t.Errorf("%s, whose lookup failed: %s; want the neutral badge", g, b)
		}
	}
	if n := e.srv.Requests("GET /v1/products/{gtin}"); n != 0 {
		t.Errorf("%d products looked up one by one after the page's batch failed; want none", n)
	}
	if n := e.srv.Requests("POST /v1/products/batch"); n != 2 {
		t.Errorf("%d batch calls for the page; want 2 (the lookup and one more try)", n)
	}
}

// A page does not ask again what cannot succeed: the registry refusing
// the platform's key, or its quota, answers the second try as the first,
// and the try would spend the quota for nothing.
func TestAPageDoesNotRetryARefusal(t *testing.T) {
	for _, fault := range []string{"error=401", "error=403", "rate_limit=1s"} {
		t.Run(fault, func(t *testing.T) {
			f, err := sandbox.ParseFault(fault)
			if err != nil {
				t.Fatal(err)
			}
			e := setup(t, []sandbox.Option{sandbox.WithFaults(f)})
			var gtins []client.GTIN
			for _, d := range e.srv.Demo() {
				gtins = append(gtins, d.GTIN)
			}
			page := e.w.Page(context.Background(), gtins...)
			defer page.Close()
			for _, g := range gtins {
				if b, _ := page.Badge(g); !strings.Contains(string(b), "qcb-unknown") {
					t.Errorf("%s, refused: %s; want the neutral badge", g, b)
				}
			}
			if n := e.srv.Requests("POST /v1/products/batch") + e.srv.Requests("GET /v1/products/{gtin}"); n != 1 {
				t.Errorf("%d calls for a page the registry refused; want 1", n)
			}
		})
	}
}

// A page counts each product's lookup once, however many renderings of
// it the template asks for: a listing's badge and JSON-LD are one view of
// one product, and the cache's hit count is what an operator reads as
// page views answered from memory.
func TestAPageCountsEachProductOnce(t *testing.T) {
	e := setup(t, nil)
	var gtins []client.GTIN
	for _, d := range e.srv.Demo() {
		gtins = append(gtins, d.GTIN)
	}
	view := func() {
		page := e.w.Page(context.Background(), gtins...)
		defer page.Close()
		for _, g := range gtins {
			page.Badge(g)
			page.Badge(g, "compact")
			page.JSONLD(g)
		}
	}
	view() // cold: one miss each
	cold := e.qc.Stats()
	if cold.Misses != int64(len(gtins)) || cold.Hits != 0 {
		t.Errorf("a cold page of %d products: %d misses, %d hits; want %d and 0", len(gtins), cold.Misses, cold.Hits, len(gtins))
	}
	view() // warm: one hit each
	warm := e.qc.Stats()
	if d := warm.Hits + warm.StaleServed - cold.Hits - cold.StaleServed; d != int64(len(gtins)) || warm.Misses != cold.Misses {
		t.Errorf("a warm page of %d products counted %d hits and %d more misses; want %d and 0", len(gtins), d, warm.Misses-cold.Misses, len(gtins))
	}
}

// stepClock is a cache clock a test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A badge the cache can answer only from an answer past its freshness —
// the registry is down — says when the registry last confirmed it, with
// the time's zone: in the words of the badge at every size (a compact one
// included, whose date shows beside its title), its icon (a clock, never
// the tick), the accessible name, the image and the .json, on its own and
// on a page; and such a badge is not kept long by a browser or a CDN.
// Once the registry answers again, it says nothing of the kind.
func TestAStaleBadgeSaysWhenItWasLastConfirmed(t *testing.T) {
	w, srv, clk, g := staleSetup(t)
	ctx := context.Background()
	if h, err := w.Render(ctx, g, widget.Look{}); err != nil || strings.Contains(string(h), "最后核实") || strings.Contains(string(h), "qcb-stale") {
		t.Fatalf("a fresh badge: %s, %v", h, err)
	}
	clk.advance(cache.DefaultTTL + cache.DefaultStaleWhileRevalidate + time.Hour)
	srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusBadGateway})

	const zh, en = "最后核实 11-30 14:05 北京时间", "Last confirmed 11-30 14:05 UTC+8"
	h, err := w.Render(ctx, g, widget.Look{})
	if got := html.UnescapeString(string(h)); err != nil || !strings.Contains(got, `<span class="qcb-detail">`+zh+`</span>`) ||
		!strings.Contains(got, `aria-label="质量承诺 `+zh) || !strings.Contains(got, "qcb-stale") || strings.Contains(got, "✓") {
		t.Errorf("a stale badge, on its own: %s (%v); want it to say %q, with a clock for its icon", got, err, zh)
	}
	for _, c := range []struct{ lang, title, shown, name string }{
		{"en", "Committed", "as of 11-30", "Committed as of 11-30 14:05 UTC+8"},
		{"zh-CN", "质量承诺", "最后核实 11-30", "质量承诺 最后核实 11-30 14:05 北京时间"},
	} {
		page := w.Page(ctx, client.GTIN(g))
		h, _ := page.Badge(g, c.lang, "compact")
		page.Close()
		got := html.UnescapeString(string(h))
		if !strings.Contains(got, `<span class="qcb-title">`+c.title+`</span> <span class="qcb-detail">`+c.shown+`</span>`) ||
			!strings.Contains(got, `aria-label="`+c.name) || !strings.Contains(got, "qcb-compact qcb-light qcb-committed qcb-stale") || strings.Contains(got, "✓") {
			t.Errorf("a stale compact badge, on a page, in %s: %s; want it to show %q and be named %q", c.lang, got, c.shown, c.name)
		}
		svg := html.UnescapeString(w.SVG(ctx, g, widget.Look{Locale: widget.LocaleEN, Size: widget.SizeCompact}))
		if !strings.Contains(svg, `<tspan font-weight="400"> as of 11-30</tspan>`) || strings.Contains(svg, "✓") {
			t.Errorf("a stale compact image: %s", svg)
		}
	}
	if svg := html.UnescapeString(w.SVG(ctx, g, widget.Look{Locale: widget.LocaleEN})); !strings.Contains(svg, "<title>Quality commitment "+en+"</title>") {
		t.Errorf("a stale badge's image: %s", svg)
	}
	hs := httptest.NewServer(w.Handler("/quality/"))
	t.Cleanup(hs.Close)
	j, cc := badgeJSON(t, hs.URL+"/quality/badge/"+g+".json?locale=en")
	if j.Verdict != "committed" || j.Detail != en || j.Confirmed != "2026-11-30T06:05:00Z" {
		t.Errorf("a stale badge's .json: %+v", j)
	}
	if cc != "public, max-age=10" {
		t.Errorf("a stale badge's Cache-Control %q; want a short max-age", cc)
	}

	srv.SetFaults()
	if h, err := w.Render(ctx, g, widget.Look{}); err != nil || strings.Contains(string(h), "最后核实") || !strings.Contains(string(h), "✓ ") && !strings.Contains(string(h), "质量承诺") {
		t.Errorf("the registry back, the badge: %s (%v); want a fresh one", h, err)
	}
}

// An answer the registry last confirmed longer ago than the stale limit
// (WithStaleLimit; DefaultStaleLimit unless set) is never shown with its
// verdict: its badge is unknown, at every size and in every format, and
// says when the registry last confirmed it.
func TestAnAnswerPastTheStaleLimitIsUnknownWithItsDate(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  []widget.Option
		stale time.Duration // how long after its confirmation the answer is shown
	}{
		{"default limit", nil, widget.DefaultStaleLimit + time.Minute},
		{"a limit of 30 minutes", []widget.Option{widget.WithStaleLimit(30 * time.Minute)}, 31 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, srv, clk, g := staleSetup(t, c.opts...)
			ctx := context.Background()
			clk.advance(c.stale - time.Minute)
			srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusBadGateway})
			if h, _ := w.Render(ctx, g, widget.Look{}); !strings.Contains(string(h), "qcb-committed qcb-stale") {
				t.Fatalf("within the limit, the badge: %s; want its verdict, stale", h)
			}
			clk.advance(time.Minute)
			for _, look := range []widget.Look{{}, {Size: widget.SizeCompact}, {Locale: widget.LocaleEN}, {Locale: widget.LocaleEN, Size: widget.SizeCompact, Theme: widget.ThemeDark}} {
				h, err := w.Render(ctx, g, look)
				got := html.UnescapeString(string(h))
				want := map[widget.Locale]map[widget.Size]string{
					widget.LocaleZH: {widget.SizeFull: "最后核实 11-30 14:05 北京时间", widget.SizeCompact: "最后核实 11-30"},
					widget.LocaleEN: {widget.SizeFull: "Last confirmed 11-30 14:05 UTC+8", widget.SizeCompact: "since 11-30"},
				}[look.Locale][look.Size]
				if err != nil || !strings.Contains(got, "qcb-unknown qcb-stale") || !strings.Contains(got, `<span class="qcb-detail">`+want+`</span>`) ||
					strings.Contains(got, "✓") || strings.Contains(got, "质量承诺</span>") || strings.Contains(got, "Committed") || strings.Contains(got, "Quality commitment") {
					t.Errorf("%+v: past the limit, the badge: %s (%v); want unknown, saying %q", look, got, err, want)
				}
			}
			page := w.Page(ctx, client.GTIN(g))
			h, _ := page.Badge(g)
			_, d, _ := page.Status(client.GTIN(g))
			page.Close()
			if !strings.Contains(string(h), "qcb-unknown") || d.Verdict != client.VerdictUnknown {
				t.Errorf("past the limit, on a page: %s, %s; want unknown", h, d.Verdict)
			}
			if svg := w.SVG(ctx, g, widget.Look{}); !strings.Contains(svg, "qcb-unknown") || strings.Contains(svg, "✓") || !strings.Contains(svg, "最后核实 11-30") {
				t.Errorf("past the limit, the image: %s", svg)
			}
			if ld := w.JSONLD(ctx, g); ld != "" {
				t.Errorf("past the limit, the JSON-LD still certifies the product: %s", ld)
			}
			hs := httptest.NewServer(w.Handler("/quality/"))
			t.Cleanup(hs.Close)
			j, cc := badgeJSON(t, hs.URL+"/quality/badge/"+g+".json?locale=en")
			if j.Verdict != "unknown" || j.Confirmed != "2026-11-30T06:05:00Z" || cc != "public, max-age=10" {
				t.Errorf("past the limit, the .json: %+v, Cache-Control %q", j, cc)
			}
		})
	}
	if _, err := widget.New(setup(t, nil).qc, widget.WithStaleLimit(0)); err == nil {
		t.Error("a stale limit of 0 was accepted")
	}
}

// staleSetup is a widget over a sandbox whose cache's clock the test
// moves, starting at 14:05 in China, and a committed product's GTIN,
// answered fresh.
func staleSetup(t *testing.T, opts ...widget.Option) (*widget.Widget, *sandbox.Server, *stepClock, string) {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}), client.WithMaxPause(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	clk := &stepClock{t: time.Date(2026, 11, 30, 6, 5, 0, 0, time.UTC)} // 14:05 in China
	qc, err := cache.New(api, cache.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close() })
	w, err := widget.New(qc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var g string
	for _, d := range srv.Demo() {
		if d.Verdict == client.VerdictCommitted {
			g = string(d.GTIN)
			break
		}
	}
	// Warm the cache without the page's budget: a cold first lookup (the
	// log's keys fetched, the proof checked) may take longer than 50 ms on
	// a loaded machine under -race, and these tests are about what a warm
	// badge says later, not about the cold one.
	if _, err := qc.Status(context.Background(), client.ProductKey{GTIN: client.GTIN(g)}); err != nil {
		t.Fatal(err)
	}
	if h, err := w.Render(context.Background(), g, widget.Look{}); err != nil || !strings.Contains(string(h), "qcb-committed") {
		t.Fatalf("a fresh badge: %s, %v", h, err)
	}
	return w, srv, clk, g
}

type badgeJSONBody struct {
	Verdict   string `json:"verdict"`
	Detail    string `json:"detail"`
	Confirmed string `json:"last_confirmed"`
}

// badgeJSON fetches a .json badge and its Cache-Control.
func badgeJSON(t *testing.T, url string) (badgeJSONBody, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var j badgeJSONBody
	if err := json.NewDecoder(res.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	return j, res.Header.Get("Cache-Control")
}
