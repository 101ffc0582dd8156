// Package enquiry is the platform's consumer enquiry entry for the quality
// commitment registry: pages where a shopper searches the registry by
// company name, USCC or category, reads a maker's commitments and its
// law-enforcement inspections, reads typical cases, and reports a
// suspected fake or sub-standard listing.
//
//	badges, err := widget.New(qc)
//	entry, err := enquiry.New(qc, badges, enquiry.WithPlatformName("Qingxuan Market"))
//	mux.Handle("/quality/", entry.Handler("/quality/"))
//
//	/quality/                       search
//	/quality/enterprises/{id}       a maker: its commitments and inspection results
//	/quality/inspections/{id}       one inspection, with its failed items
//	/quality/cases                  typical enforcement cases
//	/quality/report                 the report form (with WithPlatformName)
//	/quality/report/sent?ref=&t=    the report's number and private status link
//	/quality/report/{id}?t=         the report's lifecycle, for whoever holds the link
//	/quality/enquiry.css            the pages' stylesheet
//	/quality/badge/…, badge.css     the widget's badge endpoints
//
// # In the platform's layout
//
// Each platform sets the entry up inside its own site. WithLayout renders
// every page inside the platform's html/template — its header, footer and
// fonts — which places the page's View: its language, title, stylesheet
// link and body. Without it, each page stands alone in a plain layout.
// Inside a layout the pages take the platform's fonts and colours; their
// stylesheet (an embedded file, served at {prefix}enquiry.css) lays out
// only what is theirs, under the qce- classes.
//
// A layout shows what the platform's own pages show in their header: the
// signed-in shopper, their cart. Its Data is a function of the request
// whose answer the template reads as View.Data; its Nonce says where the
// platform's CSP middleware put the request's nonce, which the template
// reads as View.Nonce for its scripts, and which the entry's stylesheet
// link carries:
//
//	entry, err := enquiry.New(qc, badges, enquiry.WithLayout(enquiry.Layout{
//		Template: layout, // {{with .Data.User}}{{.Name}}{{end}} · {{.Data.Cart}} · <script nonce="{{.Nonce}}" …>
//		Data:     func(r *http.Request) any { return shop.HeaderData(r) },
//		Nonce:    func(r *http.Request) string { return csp.Nonce(r.Context()) },
//	}))
//
// New renders the layout once against a sample page, with the data of a
// request that is nobody's, and returns a *LayoutError when it fails: a
// field the View lacks, or a nil the layout walks into for a shopper who
// is not signed in, fails at start-up, not on every page. A layout that
// still fails for some request answers a plain 500, and is logged
// (WithLogger) once for each distinct error.
//
// # Options
//
// The entry follows the SDK's conventions. Every knob is an Option that
// may fail, and New returns the failure, once, at start-up. Nil is the
// default, never an error: the zero Layout (a nil Template, Data and
// Nonce) is the standalone page, WithReportKey(nil) a random key,
// WithReportFiled(nil) no callback, WithLogger(nil) slog.Default(). Only
// the cache and the widget New is built over have no default.
//
// # What a shopper reads
//
// The pages are plain HTML forms and links in both locales, with no
// script. The locale is the query's (?locale=, any BCP 47 tag), else the
// browser's Accept-Language, else the widget's, read as the widget's badge
// endpoint reads it (widget.Widget.RequestLook). Every word, errors
// included, is in the page's locale, and every registry string is
// isolated for bidirectional text, identifiers left to right
// (widget.Isolate, widget.LTR). Links go only where the widget's badges
// may link (widget.Widget.VerifyLink).
//
// A page's reads share one budget (WithTimeout, 1 s): when the registry
// cannot be reached within it, the page says so (503), with a link to try
// again.
//
// # The report form
//
// The report form is offered only when the platform names itself for
// reports (WithPlatformName): the request's Host is the sender's to
// choose, and must not reach the regulator as the platform's name. It is
// protected against cross-site posts: a post net/http's
// CrossOriginProtection refuses is a plain 403 (WithSiteOrigin behind a
// proxy that rewrites Host, for browsers older than Sec-Fetch-Site); a
// SameSite cookie and a token MAC'd with WithReportKey (give a fleet one
// key) prove the form was rendered for this browser. The same words sent
// twice file one report; edited words, a new one. Whatever goes wrong
// short of a forgery, what the shopper typed comes back in the form. Link
// to it from a product page as /quality/report?gtin={gtin}&listing={url}.
//
// # What becomes of a report
//
// The confirmation shows the report's number and its private status link,
// {prefix}report/{id}?t={token}, which the shopper keeps: the page behind
// it reads the report with its token and shows each step of its lifecycle
// (received, forwarded to an authority, under investigation, closed with
// its outcome and the case it led to), with its time, in the page's
// locale. Whoever holds the link sees the report's progress, so both pages
// are no-store, noindex and send no referrer (View.Private tells a
// platform's layout). A wrong token and an unknown report are the same 404
// page. WithReportFiled hands the platform every report the entry files,
// so that it can follow the report.status_changed events the registry
// sends it alone (the change feed, the webhooks) and tell the shopper.
package enquiry
