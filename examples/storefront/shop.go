package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

//go:embed templates/*.html static/*.css
var assets embed.FS

// lookupDeadline bounds how long a page waits for the registry: past it the
// page renders with the neutral "check on the official platform" badge.
const lookupDeadline = 800 * time.Millisecond

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
	api   *client.Client
	items []item
	index map[client.GTIN]int
	pages *template.Template
	css   []byte
	mux   *http.ServeMux
}

func newShop(api *client.Client, items []item) (*shop, error) {
	pages, err := template.New("").Funcs(template.FuncMap{
		"text":  func(t client.Text, lang string) string { return t.In(lang) },
		"price": func(fen int) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) },
		"date":  func(t time.Time) string { return t.Format("2006-01-02") },
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	css, err := assets.ReadFile("static/shop.css")
	if err != nil {
		return nil, err
	}
	s := &shop{
		api:   api,
		items: items,
		index: make(map[client.GTIN]int, len(items)),
		pages: pages,
		css:   css,
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
	return s, nil
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// badge is what a page shows for a product.
type badge struct {
	Verdict client.Verdict
	Title   string
	Detail  string
}

func badgeFor(st *client.ProductStatus, lang string) badge {
	d := client.Decide(st, time.Now(), client.DefaultLookback)
	en := strings.HasPrefix(lang, "en")
	pick := func(zh, e string) string {
		if en {
			return e
		}
		return zh
	}
	date := ""
	if !d.Since.IsZero() {
		date = d.Since.Format("2006-01-02")
	}
	b := badge{Verdict: d.Verdict}
	switch d.Verdict {
	case client.VerdictCommitted:
		b.Title = pick("质量承诺", "Quality commitment")
		b.Detail = pick("尚未抽检", "Not inspected yet")
		if date != "" {
			b.Detail = pick("最近抽检合格 ", "Passed inspection ") + date
		}
	case client.VerdictInspectionFailed:
		b.Title = pick("抽检不合格", "Failed inspection")
		b.Detail = pick("监督抽查不合格 ", "Failed official sampling ") + date
	case client.VerdictWithdrawn:
		switch d.Status {
		case client.CommitmentSuspended:
			b.Title = pick("质量承诺已暂停", "Commitment suspended")
		case client.CommitmentRevoked:
			b.Title = pick("质量承诺已撤销", "Commitment revoked")
		default:
			b.Title = pick("质量承诺已到期", "Commitment expired")
		}
		b.Detail = date
	case client.VerdictUnknown:
		b.Title = pick("请到官方平台查询", "Check on the official platform")
	}
	return b
}

func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "zh-CN" {
		return l
	}
	if strings.HasPrefix(r.Header.Get("Accept-Language"), "en") {
		return "en"
	}
	return "zh-CN"
}

type card struct {
	item
	Badge badge
}

func (s *shop) listing(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	ctx, cancel := context.WithTimeout(r.Context(), lookupDeadline)
	defer cancel()
	keys := make([]client.ProductKey, len(s.items))
	for i, it := range s.items {
		keys[i] = client.ProductKey{GTIN: it.GTIN}
	}
	// One batch call for the whole page; a key that failed, or a call
	// past the deadline, leaves its product without a status.
	results, _ := s.api.Products.Batch(ctx, keys)
	statuses := make(map[client.GTIN]*client.ProductStatus, len(results))
	for _, res := range results {
		if res.Err == nil {
			statuses[res.Key.GTIN] = res.Status
		}
	}
	cards := make([]card, len(s.items))
	for i, it := range s.items {
		cards[i] = card{item: it, Badge: badgeFor(statuses[it.GTIN], lang)}
	}
	s.render(w, "listing.html", map[string]any{"Lang": lang, "Cards": cards})
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
	ctx, cancel := context.WithTimeout(r.Context(), lookupDeadline)
	defer cancel()
	st, _, err := s.api.Products.ByGTIN(ctx, string(g), nil)
	if err != nil {
		st = nil // the badge says to check the official platform
	}
	s.render(w, "product.html", map[string]any{
		"Lang": lang, "Item": s.items[i], "Badge": badgeFor(st, lang), "Status": st,
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
