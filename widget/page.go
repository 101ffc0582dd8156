package widget

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

// A Page is the badges of one page view, under one deadline however many
// there are: the render timeout, counted from when the page began. The
// products the page names up front are looked up together (one batch
// call for those the cache lacks, and one more for those whose call
// failed, while the deadline allows); a badge that could not be answered
// renders the neutral "check on the official platform" badge at once,
// without a lookup of its own. The request's context bounds it too: a
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
	w       *Widget
	ctx     context.Context
	cancel  context.CancelFunc
	answers map[client.GTIN]cache.Answer // looked up for the page and answered
	failed  map[client.GTIN]error        // looked up for the page and not answered, and why
	public  *http.Request                // a public endpoint's request (PublicPage), nil for the platform's own page
	// now is the cache's clock when the page began, which the age of a
	// stale answer is measured by; zero when the cache has none.
	now time.Time
}

// Page starts a page view: its deadline is the render timeout from now,
// or ctx's if that comes first, and the products in gtins are looked up
// together before it returns. A GTIN that does not parse (a conversion
// from a string that was never validated) is skipped, and logged as
// Badge's are. Close the page when it is written.
func (w *Widget) Page(ctx context.Context, gtins ...client.GTIN) *Page {
	return w.page(ctx, nil, gtins)
}

// page is Page, and PublicPage when public is not nil.
func (w *Widget) page(ctx context.Context, public *http.Request, gtins []client.GTIN) *Page {
	pctx, cancel := context.WithDeadline(ctx, time.Now().Add(w.timeout))
	p := &Page{w: w, ctx: pctx, cancel: cancel, public: public}
	keys := make([]client.ProductKey, 0, len(gtins))
	for _, v := range gtins {
		g, err := w.checkGTIN("Page", v)
		if err != nil {
			continue
		}
		a, now, ok := w.qc.Cached(g)
		if p.now.IsZero() {
			p.now = now
		}
		if ok {
			// Kept for the page's renderings of it: a product is looked
			// up, and counted, once a page view, however many times the
			// template shows it.
			p.keep(g, a, len(gtins))
			continue
		}
		keys = append(keys, client.ProductKey{GTIN: g})
	}
	// A lookup that failed is tried once more, with the others that did,
	// in one call, while the budget lasts; a product it still cannot
	// answer renders the neutral badge at once rather than being looked
	// up again, alone, as its turn in the template comes.
	//
	// The answers are kept for the page's badges: one the registry could
	// not confirm just now (the cache's stale-if-error) would not be
	// answered again without a lookup, and its badge says since when it
	// stands.
	//
	// A refusal (the key, the quota, a public page's lookup limits) is not
	// tried again: the second try would be refused as the first, and spend
	// the quota for nothing.
	if public != nil {
		keys = p.admit(keys)
	}
	// The second try needs time for a call: with less than a fifth of the
	// budget left (what the cache gives a store's read) it would be cut
	// short, and spend the quota for nothing.
	deadline, _ := pctx.Deadline()
	for try := 0; try < 2 && len(keys) > 0 && pctx.Err() == nil && (try == 0 || time.Until(deadline) > w.timeout/5); try++ {
		var again []client.ProductKey
		for _, it := range w.qc.Statuses(pctx, keys) {
			switch {
			case it.Err == nil:
				p.keep(it.Key.GTIN, it.Answer, len(keys))
				delete(p.failed, it.Key.GTIN) // answered on the second try
			case errors.Is(it.Err, client.ErrUnauthorized), errors.Is(it.Err, client.ErrRateLimited):
				p.fail(it.Key.GTIN, it.Err, len(keys)) // not tried again
			default:
				p.fail(it.Key.GTIN, it.Err, len(keys))
				again = append(again, it.Key)
			}
		}
		keys = again
	}
	// What was never asked: the budget was spent, or the shopper had gone,
	// before the first try.
	for _, k := range keys {
		if _, ok := p.failed[k.GTIN]; !ok {
			p.fail(k.GTIN, context.Cause(pctx), len(keys))
		}
	}
	return p
}

// keep holds a product's answer for the page's badges; n is how many the
// page may hold.
func (p *Page) keep(g client.GTIN, a cache.Answer, n int) {
	if p.answers == nil {
		p.answers = make(map[client.GTIN]cache.Answer, n)
	}
	p.answers[g] = a
}

// fail records why a product the page looked up has no answer; n is how
// many the page may hold.
func (p *Page) fail(g client.GTIN, err error, n int) {
	if p.failed == nil {
		p.failed = make(map[client.GTIN]error, n)
	}
	p.failed[g] = err
}

// verdict is what a product's badge shows: the page's answer for it, or
// the cache's under the page's deadline; for a product the page looked up
// without an answer, the neutral badge, at once.
func (p *Page) verdict(g client.GTIN, v *verdict) error {
	if a, ok := p.answers[g]; ok {
		now := p.now
		if now.IsZero() {
			now = time.Now()
		}
		p.w.decideAnswer(v, a, now)
		return nil
	}
	if err, ok := p.failed[g]; ok {
		p.w.unknown(v)
		return err
	}
	return p.w.statusFor(p.ctx, string(g), p.public, v)
}

// Status returns the page's answer for a product and the verdict its
// badge shows, for what the page says beyond the badge (the maker, the
// commitment's terms, the inspections): the same answer, under the same
// deadline. A product the page named costs no wait of its own; another
// waits, as its badge would, no longer than the page's deadline. On any
// failure the decision is unknown, and the error says why; an answer
// older than the stale limit (WithStaleLimit) comes with the unknown
// decision its badge shows.
func (p *Page) Status(gtin client.GTIN) (*client.ProductStatus, client.Decision, error) {
	var v verdict
	err := p.verdict(gtin, &v)
	return v.st, *v.d, err
}

// Close ends the page's deadline. It is idempotent.
func (p *Page) Close() { p.cancel() }

// Badge renders a product's badge as HTML, in the widget's look or in the
// one the words in opts name: a locale ("zh-CN", "en", any BCP 47 tag),
// "light" or "dark", "full" or "compact". gtin is a string, a client.GTIN
// or a fmt.Stringer. Anything else, a malformed GTIN or an unknown word
// renders what it can and is logged once; the error is not nil only under
// WithStrictTemplates.
func (p *Page) Badge(gtin any, opts ...string) (template.HTML, error) {
	g, gerr := p.w.templateGTIN("Badge", gtin)
	look, lerr := p.w.templateLook("Badge", opts)
	var v verdict
	p.verdict(g, &v)
	return templateHTML(p.w.prepared(kindHTML, &v, look, p.w.renderHTML), gerr, lerr)
}

// JSONLD renders what search engines read of a product's badge, reading
// its arguments as Badge does: a schema.org Product with its
// Certification (the commitment: its status, dates and official page), in
// a <script type="application/ld+json"> element for the page's head. It
// is empty for a product without a commitment, or when there is no
// answer. When the status carries its proof, the JSON-LD names, under
// "qcsdk:proof", the registry's signed checkpoint and the position and
// SHA-256 of each record the certification rests on, which a crawler
// checks against the registry's log (cmd/qcverify -registry).
func (p *Page) JSONLD(gtin any, opts ...string) (template.HTML, error) {
	g, gerr := p.w.templateGTIN("JSONLD", gtin)
	look, lerr := p.w.templateLook("JSONLD", opts)
	var v verdict
	p.verdict(g, &v)
	return templateHTML(p.w.prepared(kindJSONLD, &v, look, p.w.renderJSONLD), gerr, lerr)
}
