package widget

import (
	"context"
	"html/template"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// A Page is the badges of one page view, under one deadline however many
// there are: the render timeout, counted from when the page began. The
// products the page names up front are looked up together (one batch
// call for those the cache lacks); a badge the deadline could not answer
// renders the neutral "check on the official platform" badge at once,
// without waiting on its own. The request's context bounds it too: a
// shopper who has gone costs no more lookups.
//
// Give the page to the template and call it there:
//
//	page := badges.Page(r.Context(), gtins...)
//	defer page.Close()
//	tmpl.Execute(w, map[string]any{"QC": page, "Items": items})
//
//	{{ $.QC.Badge .GTIN }}  {{ $.QC.Badge .GTIN "en" "compact" }}  {{ $.QC.JSONLD .GTIN }}
//
// A Page is for one goroutine's rendering; it is not safe for concurrent
// use, and its methods after Close answer from the cache alone.
type Page struct {
	w      *Widget
	ctx    context.Context
	cancel context.CancelFunc
}

// Page starts a page view: its deadline is the render timeout from now,
// or ctx's if that comes first, and the products in gtins (strings or
// client.GTINs; malformed ones are skipped) are looked up together before
// it returns. Close it when the page is written.
func (w *Widget) Page(ctx context.Context, gtins ...any) *Page {
	pctx, cancel := context.WithDeadline(ctx, time.Now().Add(w.timeout))
	p := &Page{w: w, ctx: pctx, cancel: cancel}
	keys := make([]client.ProductKey, 0, len(gtins))
	for _, g := range gtins {
		if _, _, ok := w.qc.Cached(gtinString(g)); ok {
			continue
		}
		if v, err := client.ParseGTIN(gtinString(g)); err == nil {
			keys = append(keys, client.ProductKey{GTIN: v})
		}
	}
	if len(keys) > 0 {
		w.qc.Statuses(pctx, keys)
	}
	return p
}

// Close ends the page's deadline. It is idempotent.
func (p *Page) Close() { p.cancel() }

// Badge renders a product's badge as HTML, in the widget's look or in the
// one the words in opts name ("zh"/"en", "light"/"dark", "full"/"compact").
func (p *Page) Badge(gtin any, opts ...string) template.HTML {
	return p.w.Badge(p.ctx, gtinString(gtin), p.w.parseLook(opts))
}

// JSONLD renders a product's schema.org JSON-LD, for the page's head.
func (p *Page) JSONLD(gtin any, opts ...string) template.HTML {
	return p.w.JSONLD(p.ctx, gtinString(gtin), p.w.parseLook(opts))
}
