package main

import (
	"bytes"
	"embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
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
}

// enquiryPrefix is where the shop mounts the widget's handler: badge
// images, the badge stylesheet and the consumer enquiry pages.
const enquiryPrefix = "/quality/"

func newShop(qc *cache.Cache, badges *widget.Widget, items []item) (*shop, error) {
	funcs := badges.FuncMap() // qcStyle (the badges come from the request's Page)
	funcs["text"] = func(t client.Text, lang string) string { return t.In(lang) }
	funcs["price"] = func(fen int) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }
	funcs["date"] = func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("2006-01-02")
	}
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
		qc:     qc,
		badges: badges,
		items:  items,
		index:  make(map[client.GTIN]int, len(items)),
		pages:  pages,
		css:    css,
	}
	for i, it := range items {
		s.index[it.GTIN] = i
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.listing)
	s.mux.HandleFunc("GET /p/{gtin}", s.product)
	s.mux.HandleFunc("GET /static/shop.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(s.css)
	})
	s.mux.Handle(enquiryPrefix, badges.Handler(enquiryPrefix))
	return s, nil
}

// pageCSP is the shop's own pages' Content-Security-Policy: the badge
// needs no script (its JSON-LD is data, which no policy blocks), and its
// stylesheets come from this site. The enquiry pages send their own.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"

// ServeHTTP serves the shop, its pages with the security headers the
// enquiry pages send too: integrators copy this example, so it must be
// safe to copy.
func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, enquiryPrefix) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
	}
	s.mux.ServeHTTP(w, r)
}

func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "zh-CN" {
		return l
	}
	return widget.LocaleFromAcceptLanguage(r.Header.Get("Accept-Language")).String()
}

func (s *shop) listing(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	// One page, one deadline: the products the cache does not hold are
	// looked up together, and a badge still without an answer at the
	// deadline shows the neutral "check on the official platform" badge.
	gtins := make([]any, len(s.items))
	for i, it := range s.items {
		gtins[i] = it.GTIN
	}
	page := s.badges.Page(r.Context(), gtins...)
	defer page.Close()
	s.render(w, "listing.html", map[string]any{"Lang": lang, "Items": s.items, "QC": page})
}

func (s *shop) product(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	g, err := client.ParseGTIN(r.PathValue("gtin"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, "error.html", map[string]any{"Lang": lang, "Message": err.Error()})
		return
	}
	i, ok := s.index[g]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		s.render(w, "error.html", map[string]any{"Lang": lang, "Message": "no such product in this shop"})
		return
	}
	page := s.badges.Page(r.Context(), g)
	defer page.Close()
	// The same answer the badge shows, for the details below it.
	st, d, _ := s.badges.Status(r.Context(), string(g))
	s.render(w, "product.html", map[string]any{
		"Lang": lang, "Item": s.items[i], "Status": st, "Verdict": d.Verdict, "Request": r, "QC": page,
	})
}

func (s *shop) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
