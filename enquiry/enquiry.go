package enquiry

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/etag"
	"github.com/qualitycommit/qcsdk/widget"
)

// defaultTimeout bounds an enquiry page's reads of the registry, all of
// them together, unless WithTimeout says otherwise.
const defaultTimeout = time.Second

// An Entry is the platform's consumer enquiry entry: its pages, its
// report form, and the badges of the widget it was built with.
type Entry struct {
	badges    *widget.Widget
	qc        *cache.Cache
	layout    *template.Template         // Layout.Template; nil: the standalone layout
	data      func(*http.Request) any    // Layout.Data; nil: none
	nonce     func(*http.Request) string // Layout.Nonce; nil: none
	logger    *slog.Logger               // nil: slog.Default()
	failures  renderFailures             // what has been logged of the pages that could not be rendered
	timeout   time.Duration
	reportKey []byte // the report form's MAC key
	platform  string // how reports name the platform; "" for no report form
	origin    string // the site's origin (WithSiteOrigin); "" for none
	csrf      *http.CrossOriginProtection
	filed     func(context.Context, client.Report) // WithReportFiled; nil: none
	lookups   statusLimits                         // the report status pages' per-address limits
}

// An Option configures an Entry.
type Option func(*Entry) error

// New builds the enquiry entry: its pages read the registry through qc,
// the cache the widget was built over, and take from the widget its
// verify host (links go only there), its default locale and its idea of a
// client's address.
func New(qc *cache.Cache, badges *widget.Widget, opts ...Option) (*Entry, error) {
	if qc == nil {
		return nil, errors.New("qcsdk/enquiry: cache is nil")
	}
	if badges == nil {
		return nil, errors.New("qcsdk/enquiry: widget is nil")
	}
	e := &Entry{badges: badges, qc: qc, timeout: defaultTimeout}
	e.lookups.perMinute, e.lookups.burst = defaultStatusLookupsPerMinute, defaultStatusLookupBurst
	e.lookups.seed = maphash.MakeSeed()
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, fmt.Errorf("qcsdk/enquiry: %w", err)
		}
	}
	if err := e.checkLayout(); err != nil {
		return nil, err
	}
	csrf, err := crossOrigin(e.origin)
	if err != nil {
		return nil, fmt.Errorf("qcsdk/enquiry: %w", err)
	}
	e.csrf = csrf
	if e.reportKey == nil {
		e.reportKey = make([]byte, 32)
		_, _ = rand.Read(e.reportKey)
	}
	return e, nil
}

// WithTimeout bounds how long a page waits for the registry, all its reads
// together (default 1 s): past it the page says the
// registry cannot be reached (503), with a link to try again.
func WithTimeout(d time.Duration) Option {
	return func(e *Entry) error {
		if d <= 0 {
			return errors.New("timeout must be positive")
		}
		e.timeout = d
		return nil
	}
}

// A Layout is the platform's own page around the entry's: its header,
// footer and fonts, and what they need of each request. The zero Layout
// is the standalone one.
type Layout struct {
	// Template is executed with a *View; it places View.Body where the
	// page's content goes, and View.Head in its <head> (or styles the
	// entry itself):
	//
	//	<!doctype html>
	//	<html lang="{{.Lang}}"><head><title>{{.Title}} · Shop</title>{{.Head}}</head>
	//	<body><header>…</header>{{.Body}}<footer>…</footer></body></html>
	//
	// Nil is the standalone layout, and then Data and Nonce must be nil
	// too: they are the template's.
	Template *template.Template

	// Data gives the template what the platform knows of each request:
	// it is called once per page, with the shopper's request, and the
	// template reads its answer as View.Data — the signed-in user, their
	// cart, whatever the platform's own pages show in their header:
	//
	//	Data: func(r *http.Request) any {
	//		return shop.HeaderData(r) // {{with .Data.User}}{{.Name}}{{end}} · {{.Data.Cart.Count}}
	//	},
	//
	// The answer is data: the template's html/template escapes it as it
	// places it. New calls Data with a sample request (GET /, with no
	// cookies and no context values, as a shopper's first visit) to check
	// the layout, so it must answer an anonymous request as its pages do.
	// Nil is no data.
	Data func(r *http.Request) any

	// Nonce says where the platform's CSP middleware put the request's
	// nonce ("" for none). The template reads it as View.Nonce, for its
	// own <script nonce> and <style nonce>, and the entry's stylesheet
	// link in View.Head carries it, so that a policy whose style-src is a
	// nonce alone admits it:
	//
	//	Nonce: func(r *http.Request) string { return csp.Nonce(r.Context()) },
	//
	// A nonce is base64 (RFC 4648, either alphabet), at most 128
	// characters; anything else is no nonce, and is never written into a
	// page. Nil is no nonce.
	Nonce func(r *http.Request) string
}

// WithLayout renders every page inside the platform's own layout instead
// of the standalone one (the default; the zero Layout).
//
// New renders the template once against a sample page, with Data's
// answer for a sample request, and returns a *LayoutError if it fails: a
// field the View lacks, or one it walks into nil for a shopper not signed
// in, is a mistake to see at start-up, not a 500 on every page. A layout
// that still fails for some request answers a plain 500, and the failure
// is logged (WithLogger), once for each distinct error.
//
// The platform's layout is its own to secure: with it, the entry keeps the
// Content-Security-Policy the platform's middleware set, and sends only
// frame-ancestors 'self' when there is none, so that the layout's
// scripts, fonts and images are the platform's policy's to allow. The
// entry's own markup has no script and no inline style, and needs no more
// than style-src 'self' (or the nonce, with Layout.Nonce).
func WithLayout(l Layout) Option {
	return func(e *Entry) error {
		if l.Template == nil && (l.Data != nil || l.Nonce != nil) {
			return errors.New("a layout's Data and Nonce are for its Template, which is nil")
		}
		e.layout, e.data, e.nonce = l.Template, l.Data, l.Nonce
		return nil
	}
}

// WithLogger sets where the entry says what the platform should fix: a
// page its layout or its templates could not render (once for each
// distinct error). Nil, the default, is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(e *Entry) error { e.logger = l; return nil }
}

// WithReportKey sets the key the report form's anti-forgery tokens are
// made with (at least 32 bytes). Give every server of a fleet the same key,
// so that a form rendered by one can be sent to another. Nil, the
// default, is a random key each entry draws.
func WithReportKey(key []byte) Option {
	return func(e *Entry) error {
		if key == nil {
			e.reportKey = nil
			return nil
		}
		if len(key) < 32 {
			return errors.New("report key must be at least 32 bytes")
		}
		e.reportKey = append([]byte(nil), key...)
		return nil
	}
}

// WithPlatformName sets how reports name the platform to the regulator.
// The report form is offered only with it: without it the report routes
// answer 404, and the pages do not link to them.
func WithPlatformName(name string) Option {
	return func(e *Entry) error {
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 100 {
			return errors.New("platform name must be 1 to 100 bytes")
		}
		e.platform = name
		return nil
	}
}

// A View is one page of the entry, rendered, for a layout (WithLayout) to
// place in the platform's own page.
type View struct {
	Lang  string        // the page's language, a BCP 47 tag, for <html lang>
	Title string        // the page's title, for <title>
	Head  template.HTML // the entry's stylesheet link, for <head>
	Body  template.HTML // the page: the entry's navigation, its content, the registry's attribution
	// Private says the page holds a report's private status link: the
	// layout must not let it leak. The entry sends Referrer-Policy:
	// no-referrer, X-Robots-Tag: noindex and Cache-Control: no-store,
	// and Head carries the matching <meta> elements; a layout that sets
	// its own referrer policy must leave it out on such a page.
	Private bool
	// Data is what Layout.Data answered for this request:
	// the platform's own, for its header (the signed-in user, the cart).
	// Nil without Layout.Data.
	Data any
	// Nonce is the request's CSP nonce (Layout.Nonce), for the layout's
	// own scripts and styles; "" for none.
	Nonce string
}

// Handler serves the entry under prefix (which ends with "/"), with the
// widget's badge endpoints (see widget.Widget.Handler) under the same
// prefix, so that one handler mounts them all:
//
//	mux.Handle("/quality/", entry.Handler("/quality/"))
//
//	GET  {prefix}                      search the registry by company name, USCC or category
//	GET  {prefix}enterprises/{id}      a maker: its commitments and inspection results
//	GET  {prefix}inspections/{id}      one inspection, with its failed items
//	GET  {prefix}cases                 typical enforcement cases
//	GET  {prefix}report                a shopper's report form (with WithPlatformName)
//	POST {prefix}report
//	GET  {prefix}report/sent?ref=&t=   the report's number and private status link
//	GET  {prefix}report/{id}?t=        the report's lifecycle, for whoever holds the link
//	GET  {prefix}enquiry.css           the pages' stylesheet
//	GET  {prefix}badge/…, badge.css    the widget's
func (e *Entry) Handler(prefix string) http.Handler {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &site{e: e, prefix: prefix}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"{$}", e.budget(s.search))
	mux.HandleFunc("GET "+prefix+"enterprises/{id}", e.budget(s.enterprise))
	mux.HandleFunc("GET "+prefix+"inspections/{id}", e.budget(s.inspection))
	mux.HandleFunc("GET "+prefix+"cases", e.budget(s.cases))
	mux.HandleFunc("GET "+prefix+"enquiry.css", serveStylesheet)
	mux.HandleFunc("GET "+prefix+"report", s.offered(s.reportPage))
	mux.HandleFunc("POST "+prefix+"report", s.offered(e.csrf.Handler(http.HandlerFunc(s.sendReport)).ServeHTTP))
	mux.HandleFunc("GET "+prefix+"report/sent", s.offered(s.reportSent))
	mux.HandleFunc("GET "+prefix+"report/{id}", s.offered(e.budget(s.reportStatus)))
	// The rest is the widget's: its badges and stylesheet, and its plain
	// 404 and 405 for anything else under the prefix.
	mux.Handle(prefix, e.badges.Handler(prefix))
	return mux
}

// budget gives a page one deadline for all the reads it makes, so that a
// registry out of reach costs the shopper at most that long before the
// page says so (503, with a link to try again).
func (e *Entry) budget(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
		defer cancel()
		h(rw, r.WithContext(ctx))
	}
}

// stylesheet is the pages' CSS; the badge's is the widget's, at
// {prefix}badge.css.
//
//go:embed enquiry.css
var stylesheet string

var stylesheetETag = func() string {
	h := fnv.New64a()
	h.Write([]byte(stylesheet))
	return `"css-` + strconv.FormatUint(h.Sum64(), 36) + `"`
}()

func serveStylesheet(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", stylesheetETag)
	if etag.Match(r.Header.Get("If-None-Match"), stylesheetETag) {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = rw.Write([]byte(stylesheet))
	}
}

// render writes a page: its content, inside the platform's layout or the
// standalone one.
func (s *site) render(rw http.ResponseWriter, code int, name string, p *page) {
	var content bytes.Buffer
	if err := templates.ExecuteTemplate(&content, name, p); err != nil {
		s.e.renderFailed("the page", name, err)
		plainError(rw, http.StatusInternalServerError, "the page could not be rendered")
		return
	}
	v := s.e.view(p.req, s.prefix, p.Lang, p.Title, p.T, template.HTML(content.String()), p.Private)
	layout := standalone
	if s.e.layout != nil {
		layout = s.e.layout
	}
	var out bytes.Buffer
	if err := layout.Execute(&out, v); err != nil {
		s.e.renderFailed("the platform's layout", name, err)
		plainError(rw, http.StatusInternalServerError, "the page could not be rendered in its layout")
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	switch {
	case s.e.layout == nil:
		// Pages of our own: our stylesheet, our forms, no script at all.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
	case h.Get("Content-Security-Policy") == "":
		// The platform's layout, and no policy of the platform's: its
		// scripts, fonts and images are not ours to allow or refuse, but
		// the report form must not be framed by another site.
		h.Set("Content-Security-Policy", "frame-ancestors 'self'")
	}
	h.Set("Referrer-Policy", "same-origin")
	if p.Private {
		// A report's status link: no click may carry it away, no search
		// engine keep it, no cache store it.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex, nofollow")
	}
	if code == http.StatusOK && p.Report == nil && !p.Private {
		h.Set("Cache-Control", "private, max-age=60")
	} else {
		// Errors, and the report form, whose token is this browser's.
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Vary", "Accept-Language")
	rw.WriteHeader(code)
	_, _ = rw.Write(out.Bytes())
}

// plainError answers with a short text error that no cache keeps.
func plainError(rw http.ResponseWriter, code int, msg string) {
	rw.Header().Set("Cache-Control", "no-store")
	http.Error(rw, msg, code)
}
