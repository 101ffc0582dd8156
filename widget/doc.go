// Package widget renders the quality-commitment badge a shopper sees on a
// product page: server-side, per product, with no script, in a fixed size
// that never shifts the page.
//
//	badges, err := widget.New(qc) // qc is a *cache.Cache; zh-CN, light, full
//
// and, in the handler of each page view, one Page for all the badges it
// shows, given to the page's template:
//
//	page := badges.Page(r.Context(), gtins...) // one budget; the products looked up together
//	defer page.Close()
//	err := tmpl.Execute(w, map[string]any{"QC": page, "Items": items})
//
//	<head><link rel="stylesheet" href="/quality/badge.css">{{ $.QC.JSONLD .GTIN }}</head>
//	{{ $.QC.Badge .GTIN }}
//	{{ $.QC.Badge .GTIN "en" "dark" "compact" }}
//
// The stylesheet is served by the Handler (below); a page that inlines it
// puts StyleTag(nonce) in its data, with its CSP nonce.
//
// A locale is any BCP 47 tag, read as every package of the SDK reads it
// (ParseLocale): en-AU is English; zh-Hans-CN, zh-SG, zh-TW and zh-HK are
// Chinese, the registry's language, as is a language it does not publish.
// A template call given what it cannot use — a GTIN that is an int, or
// malformed; a look word it does not know — renders what it can (the
// unknown badge; the widget's look), logs the mistake once (WithLogger)
// and counts it (Stats.TemplateMisuses); WithStrictTemplates makes it an
// error of the template's execution, for a platform's tests.
//
// The widget follows the SDK's conventions. Every knob is an Option that
// may fail, and New returns the failure, once, at start-up. Nil is the
// default, never an error: WithClock(nil) is the cache's clock (a clock
// is a func() time.Time), WithCatalogue(nil) every product,
// WithClientAddress(nil) the request's own address, WithLogger(nil)
// slog.Default(). A barcode is a client.GTIN in Go (Widget.Badge,
// Page.Status) and a string only where it arrives as one — a template's
// data, a request's path — and is parsed there.
//
// # What a badge says
//
// The verdict comes from client.Decide, the one rule every part of the SDK
// uses. Each state has its words (zh-CN and en), its icon and its colours,
// so that no state is told by colour alone:
//
//   - committed: a green seal, "质量承诺 / Quality commitment", with the date
//     of the last passed inspection, linking to the commitment's official
//     page;
//   - inspection_failed: a warning, "抽检不合格 / Failed inspection", with
//     the date the result was published, linking to the result;
//   - withdrawn: suspended (amber), revoked (magenta) or expired (slate),
//     each with its own icon and words, and the date;
//   - not_listed: nothing by default (WithNotListed shows a neutral "no
//     commitment in force");
//   - unknown — no answer within the render timeout, or any error: a
//     neutral "check on the official platform" link (WithUnknown(false)
//     shows nothing). Never a guess.
//
// Links go only to https pages on the verify host (WithVerifyHost); a
// record whose link points elsewhere gets a badge without one.
//
// # Formats
//
// One family renders: a Page for everything a page view shows — its
// Badge, an HTML fragment (under 2 KB) for html/template; its JSONLD, a
// schema.org Product with its Certification for search engines; its
// Status, for the words around the badge — and the Handler for pages not
// written in Go: the same badge as HTML, as an SVG image of the same look
// for an <img>, and as JSON. Widget.Badge is the shortcut for one badge
// outside a page view (PublicPage is Page for a public endpoint; see
// below). All text is escaped by html/template or encoding/json.
//
// # The Handler
//
// Handler serves the badges, under a prefix the platform mounts it at, for
// pages not rendered in Go and for <img> tags:
//
//	mux.Handle("/quality/", badges.Handler("/quality/"))
//
//	/quality/badge/{gtin}.svg|.html|.json  the badge (?locale=en&theme=dark&size=compact)
//	/quality/badge.css                     the badge stylesheet
//
// The consumer enquiry pages (search, a maker's commitments and
// inspections, cases, the report form) are package enquiry's, built on a
// widget; its handler serves these badge routes too.
//
// # A page's budget
//
// A page view's badges share one deadline, however many there are:
// Widget.Page starts a page (the render timeout from now, or the
// request's context if sooner), looks up the products it names together,
// and its Badge and JSONLD methods render from what came back in time —
// the neutral badge for the rest, at once, with no lookup sent once the
// budget is spent. Pass the page in the template's data:
// {{ $.QC.Badge .GTIN }}; Page.Status gives the page's answer to the
// parts of the page that say more than the badge. There are no template
// functions of the widget's own to add with Funcs: a function a template
// is parsed with has no request, and so no page to share, and each badge
// would wait the render timeout in turn. Widget.Badge, outside a page,
// waits up to the render timeout each.
//
// Badges carry ETags (304 on If-None-Match) and a Cache-Control of
// BadgeMaxAge (30 s), with no stale-while-revalidate, so that a revocation
// beats the browser's and the CDN's caches within that time. Registry
// strings a platform's own pages show can be isolated for bidirectional
// text with Isolate and LTR.
//
// A page that shows badges shows verdicts: send it with a Cache-Control
// no shared cache stores ("private, no-cache") and, when its language
// follows the browser's, Vary: Accept-Language.
//
// # Stale answers
//
// A badge whose answer is past its freshness — the registry could not be
// reached to confirm it — says so at every size: a clock (◷) for its icon,
// never its state's (never the tick), and when the registry last confirmed
// it, with the time's zone ("最后核实 11-30 14:05 北京时间" / "Last confirmed
// 11-30 14:05 UTC+8" on a full badge; a compact one shows a shorter title
// and the day beside it, "承诺已撤销 最后核实 11-30" / "Revoked as of
// 11-30"), in its accessible name and in its .json (last_confirmed).
//
// The cache may serve an answer long after that (cache.WithMaxStale, a day
// by default); a shopper is not shown one that old. An answer the registry
// last confirmed longer ago than the stale limit (WithStaleLimit;
// DefaultStaleLimit, three hours, unless set) renders as the unknown
// badge, saying when it was last confirmed: a commitment revoked during an
// outage loses its tick within the limit. The age is measured by the
// cache's clock (cache.WithClock), or the widget's (WithClock).
//
// # States
//
// Each state has its own icon, colours and words, so that none is told
// apart by colour alone and no two look alike: committed ✓ (green),
// inspection failed ! (red), suspended ‖ (amber), revoked ✕ (magenta),
// expired ⊘ (slate), no commitment in force – (grey), unknown ? (white,
// dashed frame). The three withdrawn states keep the qcb-withdrawn class
// besides their own (qcb-suspended, qcb-revoked, qcb-expired). The
// unknown badge says it could not be checked ("暂无法核实" / "Not verified
// right now"), never the title of an answer.
//
// # The public endpoint's budgets
//
// The badge endpoint answers anyone on the internet, and a badge the cache
// cannot answer at once costs a call on the platform's registry quota. So
// a cold badge is looked up only within two budgets: its client
// address's (WithBadgeLookupLimitPerAddress: 5 a second, in bursts of 60,
// enough for a listing page's badges at once) and the endpoint's overall
// (WithBadgeLookupLimit: 50 a second, in bursts of 120). Past either, it
// is the unknown badge at once — 200, stored by no cache, so that the
// next view asks again — counted in Stats.BadgesThrottled. A warm badge
// is always served, and costs nothing more. An admitted lookup runs at
// client.PriorityLow: it never takes the share of the upstream limit
// (client.WithUpstreamLimit) the platform's own pages keep. Addresses
// share a fixed set of limiters by hash, so that a flood of addresses
// costs no memory and an idle widget runs nothing; two unrelated
// addresses may share one. Behind a proxy, say where the shopper's
// address is (WithClientAddress). WithCatalogue, besides, answers 404
// for a product the platform does not sell, without a lookup.
//
// A public endpoint of the platform's own that answers many badges at
// once (a listing's, fetched by the shopper's browser) renders them
// through PublicPage rather than Page: each of its cold products takes
// a lookup from the same budgets, at the same priority, and one refused
// is the unknown badge at once. Page is for the platform's own pages,
// whose products the platform chose; a request that names its own
// products through Page spends the platform's quota as the platform
// would.
//
// # Speed
//
// A badge is rendered once per product version, decision and look, and
// kept: a warm badge is a cache hit, a load that finds the product's
// renderings, and a copy of prepared bytes, with no allocation and no
// lock. The decision itself is reused until client.DecideUntil says
// time alone could change it (a commitment expiring, an inspection leaving
// the look-back window).
package widget
