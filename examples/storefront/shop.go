package main

import (
	"bytes"
	"embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

//go:embed templates/*.html static/*.css
var assets embed.FS

type item struct {
	GTIN     client.GTIN
	Name     client.Text
	Brand    string
	Model    string
	Category string
	Price    int // in fen
}

// products draws the shop's catalogue: the first product of every maker in
// the demo set (the curated ones show every verdict), a second product of a
// few, and one imported product whose maker is not on the list.
func products(sb *sandbox.Sandbox) []item {
	var out []item
	add := func(p client.Product) {
		h := fnv.New32a()
		h.Write([]byte(p.GTIN))
		price := 990 + int(h.Sum32()%480)*100
		out = append(out, item{GTIN: p.GTIN, Name: p.Name, Brand: p.Brand, Model: p.Model, Category: p.Category, Price: price})
	}
	ents, _ := sb.Size()
	for e := range ents {
		if p, ok := sb.Product(e, 0); ok {
			add(p)
		}
	}
	for e := range 9 {
		if p, ok := sb.Product(e, 1); ok {
			add(p)
		}
	}
	out = append(out, item{
		GTIN: sb.NotListedGTIN(), Name: client.Text{ZH: "意式咖啡机", EN: "Espresso machine"},
		Brand: "Caffè Nord", Model: "CN-200", Category: "household_appliances", Price: 129900,
	})
	return out
}

type shop struct {
	qc     *cache.Cache
	badges *widget.Widget
	items  []item
	index  map[client.GTIN]int
	pages  *template.Template
	css    []byte
	mux    *http.ServeMux
	// reports are the shoppers' reports and what became of them
	// (reports.go).
	reports *shopperReports
}

// enquiryPrefix is where the shop mounts the enquiry entry's handler: the
// consumer enquiry pages, badge images and the badge stylesheet.
const enquiryPrefix = "/quality/"

// platformName is how the shop's reports name it to the regulator.
const platformName = "青选集市 Qingxuan Market"

func newShop(qc *cache.Cache, badges *widget.Widget, items []item, entryOpts ...enquiry.Option) (*shop, error) {
	// The badges come from each request's widget.Page, in the data.
	funcs := template.FuncMap{}
	// Registry text is isolated, so that a bidirectional control in a
	// maker's name cannot reverse what follows it on the page, and
	// identifiers always read left to right.
	funcs["text"] = func(t client.Text, lang string) string { return widget.Isolate(t.In(lang)) }
	funcs["isolate"] = widget.Isolate
	funcs["ltr"] = func(v any) string { return widget.LTR(fmt.Sprint(v)) }
	funcs["price"] = func(fen int) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }
	funcs["nobr"] = nobr
	funcs["date"] = func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return widget.LTR(t.Format("2006-01-02"))
	}
	funcs["word"] = word
	// The link from a product page to the report form, pre-filled.
	funcs["report"] = func(g client.GTIN, r *http.Request, lang string) string {
		listing := "http://" + r.Host + "/p/" + string(g)
		return enquiryPrefix + "report?" + url.Values{"gtin": {string(g)}, "listing": {listing}, "locale": {lang}}.Encode()
	}
	pages, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	css, err := assets.ReadFile("static/shop.css")
	if err != nil {
		return nil, err
	}
	s := &shop{
		qc:      qc,
		badges:  badges,
		items:   items,
		index:   make(map[client.GTIN]int, len(items)),
		pages:   pages,
		css:     css,
		reports: newShopperReports(),
	}
	for i, it := range items {
		s.index[it.GTIN] = i
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.listing)
	s.mux.HandleFunc("GET /p/{gtin}", s.product)
	s.mux.HandleFunc("GET /my/reports", s.myReports)
	// Any other address is the shop's own "no such page", in the
	// shopper's language, not net/http's English one.
	s.mux.HandleFunc("/", s.notFound)
	s.mux.HandleFunc("GET /static/shop.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(s.css)
	})
	// The enquiry entry, in the shop's own layout, with the badge
	// endpoints under the same prefix.
	entry, err := enquiry.New(qc, badges, append([]enquiry.Option{enquiry.WithPlatformName(platformName), enquiry.WithLayout(enquiry.Layout{Template: pages.Lookup("enquiry")}),
		enquiry.WithReportFiled(s.reports.filed)}, entryOpts...)...)
	if err != nil {
		return nil, err
	}
	s.mux.Handle(enquiryPrefix, entry.Handler(enquiryPrefix))
	return s, nil
}

// pageCSP is the shop's pages' Content-Security-Policy, the enquiry
// entry's (in the shop's layout) included: the badge needs no script (its
// JSON-LD is data, which no policy blocks), and its stylesheets come from
// this site.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"

// ServeHTTP serves the shop, its pages with the security headers the
// enquiry pages send too: integrators copy this example, so it must be
// safe to copy.
func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if r.Method == http.MethodPost && r.URL.Path == enquiryPrefix+"report" {
		// Whoever sends a report is named, so that /my/reports shows
		// them theirs (reports.go).
		r = withSender(w, r)
	}
	s.mux.ServeHTTP(w, r)
}

// language is the page's language: the one ?lang= names (any BCP 47 tag,
// read as the SDK reads them all), or else the browser's preference.
func language(r *http.Request) string {
	if l, err := widget.ParseLocale(r.URL.Query().Get("lang")); err == nil {
		return l.String()
	}
	return widget.LocaleFromAcceptLanguage(r.Header.Get("Accept-Language")).String()
}

// verdictCacheControl is how the shop's pages that show verdicts may be
// kept: by the shopper's browser alone, which asks again before showing
// one (a page is rendered afresh, under its budget); never by a CDN or a
// proxy, which would show a revoked commitment's tick long after the
// registry revoked it, or one shopper's language to the next.
const verdictCacheControl = "private, no-cache"

// showsVerdicts sends the headers of a page that shows verdicts, in the
// language of the request's ?lang= or else its Accept-Language: its
// errors included, which are in that language too.
func showsVerdicts(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", verdictCacheControl)
	h.Add("Vary", "Accept-Language")
}

func (s *shop) listing(w http.ResponseWriter, r *http.Request) {
	showsVerdicts(w)
	lang := language(r)
	// One page, one deadline: the products the cache does not hold are
	// looked up together, and a badge still without an answer at the
	// deadline shows the neutral "check on the official platform" badge.
	gtins := make([]client.GTIN, len(s.items))
	for i, it := range s.items {
		gtins[i] = it.GTIN
	}
	page := s.badges.Page(r.Context(), gtins...)
	defer page.Close()
	s.render(w, "listing.html", map[string]any{"Lang": lang, "Items": s.items, "QC": page})
}

func (s *shop) notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Language")
	lang := language(r)
	w.WriteHeader(http.StatusNotFound)
	s.render(w, "error.html", map[string]any{"Lang": lang, "Message": word("no-such-page", lang)})
}

func (s *shop) product(w http.ResponseWriter, r *http.Request) {
	showsVerdicts(w)
	lang := language(r)
	g, err := client.ParseGTIN(r.PathValue("gtin"))
	if err != nil {
		// The SDK's error is for the log; the shopper reads their own
		// language.
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, "error.html", map[string]any{"Lang": lang, "Message": word("bad-gtin", lang)})
		return
	}
	i, ok := s.index[g]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		s.render(w, "error.html", map[string]any{"Lang": lang, "Message": word("no-such-product", lang)})
		return
	}
	// One page, one budget, for everything the page shows of the registry:
	// the badge, its JSON-LD, and the details below it, which are the
	// badge's own answer, not a second lookup.
	page := s.badges.Page(r.Context(), g)
	defer page.Close()
	st, d, _ := page.Status(g)
	s.render(w, "product.html", map[string]any{
		"Lang": lang, "Item": s.items[i], "Status": st, "Verdict": d.Verdict, "Request": r, "QC": page,
	})
}

// render writes a page; data's "Lang" is the page's language, which a
// page that fails to render answers in too.
func (s *shop) render(w http.ResponseWriter, name string, data map[string]any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		lang, _ := data["Lang"].(string)
		w.Header().Set("Content-Language", lang)
		http.Error(w, word("render-failed", lang), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// nobr is the class of an identifier or a date the page shows: one that
// never breaks inside ("2026-11-/16" would read as two), unless it is too
// long to fit a phone's line at all — registry data may be a 10 KB word —
// when it breaks anywhere rather than push the page sideways.
func nobr(v any) string {
	if utf8.RuneCountInString(fmt.Sprint(v)) > 32 {
		return "id-long"
	}
	return "id"
}

// words are the shop's own words for the registry's codes, and its
// messages, per language: a shopper never reads "active" or "fail" on a
// Chinese page.
var words = map[string]map[string]string{
	"zh-CN": {
		"active": "有效", "suspended": "已暂停", "revoked": "已撤销", "expired": "已过期",
		"pass": "合格", "fail": "不合格", "pending": "检验中", "other": "其他",
		"bad-gtin": "商品条码格式不正确。", "no-such-product": "本店没有这件商品。", "gtin": "商品条码",
		"no-such-page": "没有这个页面。", "render-failed": "页面暂时无法显示，请稍后再试。",
		"received": "已受理", "forwarded": "已转交执法机关", "under_investigation": "调查中", "closed": "已办结",
		"case_published": "已查处并公布为典型案例", "not_substantiated": "未发现违法行为", "outside_scope": "不属于监管范围",
		"my-reports": "我的举报", "no-reports": "您还没有提交过举报。", "follow-report": "查看进展",
	},
	"en": {
		"active": "Active", "suspended": "Suspended", "revoked": "Revoked", "expired": "Expired",
		"pass": "Pass", "fail": "Fail", "pending": "Pending", "other": "Other",
		"bad-gtin": "That is not a valid barcode.", "no-such-product": "This shop has no such product.", "gtin": "GTIN",
		"no-such-page": "There is no such page.", "render-failed": "The page could not be shown; please try again.",
		"received": "Received", "forwarded": "Forwarded to an authority", "under_investigation": "Under investigation", "closed": "Closed",
		"case_published": "Acted on, published as a case", "not_substantiated": "No violation found", "outside_scope": "Outside the regulator's remit",
		"my-reports": "My reports", "no-reports": "You have not sent a report.", "follow-report": "Follow it",
	},
}

// word is one of the shop's words: a registry code (a commitment status,
// an inspection result; any string kind) or a message key. A code this
// version does not know reads "other", never the code itself.
func word(code any, lang string) string {
	w, ok := words[lang]
	if !ok {
		w = words["zh-CN"]
	}
	if s, ok := w[fmt.Sprint(code)]; ok {
		return s
	}
	return w["other"]
}
