package widget

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Templates are parsed once, when the package loads; a broken template is
// a bug in this package, caught by any test.
var templates = template.Must(template.ParseFS(templateFiles, "templates/*.tmpl"))

const (
	// DefaultVerifyHost is the host of the official record pages a badge
	// may link to, unless WithVerifyHost says otherwise. It is the
	// sandbox's; set the registry's own in production.
	DefaultVerifyHost = "verify.qualitycommit.example"
	// DefaultRenderTimeout bounds how long a badge waits for the API when
	// the cache has no answer; past it the badge renders unknown.
	DefaultRenderTimeout = 50 * time.Millisecond
	// DefaultStaleLimit is how long after the registry last confirmed an
	// answer a badge may still show it, while the registry cannot be
	// reached, unless WithStaleLimit says otherwise: past it the badge is
	// unknown, with the date of that confirmation. The cache may keep
	// serving an answer far longer (cache.DefaultMaxStale); a shopper
	// should not be shown a tick a day old.
	DefaultStaleLimit = 3 * time.Hour
	// maxRenders bounds the statuses whose renderings are kept; past it
	// they are dropped and rendered again as asked.
	maxRenders = 100_000
)

// Look is how a badge looks: its locale, theme and size. The zero value
// is zh-CN, light, full.
type Look struct {
	Locale Locale
	Theme  Theme
	Size   Size
}

// Widget renders quality-commitment badges from a cache. It is safe for
// concurrent use; build one per process and share it.
type Widget struct {
	qc            *cache.Cache
	look          Look
	verifyHost    string
	timeout       time.Duration
	catalogue     func(client.GTIN) bool // the badge endpoint's products; nil for any
	lookback      time.Duration
	staleLimit    time.Duration
	now           func() time.Time
	showNotListed bool
	hideUnknown   bool

	// Prepared renderings: per status (an immutable record, so its
	// address names its version), and shared for the verdicts that say
	// nothing of the product.
	byStatus sync.Map // *client.ProductStatus → *renderSlots
	statuses atomic.Int64
	// hot is a table in front of byStatus, a slot per hash of a status,
	// holding the renderings last found for a status of that hash: a warm
	// badge reads a pointer and compares it, where byStatus would walk
	// its trie. A slot another status holds costs only the walk.
	hot  [hotSlots]atomic.Pointer[renderSlots]
	seed maphash.Seed

	badgesRefused atomic.Int64   // badge requests outside the catalogue
	shared        [2]renderSlots // not listed, unknown

	adm admission // the badge endpoint's lookup limits

	logger     *slog.Logger // nil: slog.Default()
	warnedHost atomic.Bool  // offHost has said its piece
	misuse     misuses      // of the template calls
}

// hotSlots is the size of Widget.hot: the statuses of the products viewed
// most, which is all a warm badge needs.
const hotSlots = 1 << 12

// renderSlots holds one status's decision and renderings, a slot per kind
// and look.
type renderSlots struct {
	st      *client.ProductStatus // the status, for Widget.hot
	decided atomic.Pointer[decided]
	slots   [numKinds][numLooks]atomic.Pointer[rendering]
}

// decided is a decision made at from, good until until (zero: for ever).
type decided struct {
	d           client.Decision
	from, until time.Time
}

// A rendering is prepared output and the decision it shows; a slot whose
// decision no longer holds (a commitment expired with time) is rendered
// again.
type rendering struct {
	verdict client.Verdict
	status  client.CommitmentStatus
	since   time.Time
	asOf    time.Time
	text    string
	etag    string // a strong validator of text, for the Handler
}

// An Option configures a Widget.
type Option func(*Widget) error

// WithLook sets the default look; each call can override it.
func WithLook(l Look) Option { return func(w *Widget) error { w.look = l; return nil } }

// WithVerifyHost sets the only host badge links may point to (over
// https): the registry's official record pages. A record whose verify URL
// is elsewhere gets a badge without a link, and the first such record is
// logged (WithLogger): a verify host that does not match the registry in
// use strips every badge's link.
func WithVerifyHost(host string) Option {
	return func(w *Widget) error {
		host = strings.ToLower(strings.TrimSpace(host))
		if host == "" || strings.ContainsAny(host, "/:@ ") {
			return fmt.Errorf("verify host %q is not a bare host name", host)
		}
		w.verifyHost = host
		return nil
	}
}

// WithRenderTimeout bounds the wait for the API when the cache has no
// answer (default 50 ms).
func WithRenderTimeout(d time.Duration) Option {
	return func(w *Widget) error {
		if d <= 0 {
			return errors.New("render timeout must be positive")
		}
		w.timeout = d
		return nil
	}
}

// WithLookback sets how far back an inspection counts (default
// client.DefaultLookback).
func WithLookback(d time.Duration) Option {
	return func(w *Widget) error { w.lookback = d; return nil }
}

// WithClock sets the time the verdict is judged at, and the lookup limits
// of the badge endpoint refill by. Nil, the default, is the cache's clock
// (cache.WithClock; time.Now unless set there), so that a badge and the
// answer it shows are judged at the same time.
func WithClock(now func() time.Time) Option {
	return func(w *Widget) error { w.now = now; return nil }
}

// WithStaleLimit sets how old an answer a badge may show while the
// registry cannot confirm it (default DefaultStaleLimit): an answer the
// registry last confirmed longer ago renders as unknown, saying when it
// was last confirmed — never with its tick. Until then a stale answer's
// badge shows its verdict with a clock for its icon and the day it was
// last confirmed, at every size.
func WithStaleLimit(d time.Duration) Option {
	return func(w *Widget) error {
		if d <= 0 {
			return errors.New("stale limit must be positive")
		}
		w.staleLimit = d
		return nil
	}
}

// WithNotListed shows a neutral "no commitment in force" badge for a
// product no commitment in force covers (its maker is not listed, or its
// commitment is not in force yet), instead of nothing.
func WithNotListed(show bool) Option {
	return func(w *Widget) error { w.showNotListed = show; return nil }
}

// WithCatalogue restricts the Handler's public badge endpoint to the
// platform's own products: a badge of a GTIN for which in returns false
// is answered 404 without a lookup, so that nobody can spend the
// platform's quota on the registry by asking for random barcodes. in is
// called for every badge request; make it a set lookup. Pages rendered by
// the platform itself (Page, Badge) are not restricted. Nil, the default,
// is every product.
func WithCatalogue(in func(client.GTIN) bool) Option {
	return func(w *Widget) error { w.catalogue = in; return nil }
}

// Stats counts what the widget refused, and the template mistakes it saw.
type Stats struct {
	// BadgesRefused counts requests to the badge endpoint for a product
	// outside the catalogue (WithCatalogue), answered 404 without a lookup,
	// and such products of a PublicPage, answered unknown.
	BadgesRefused int64
	// BadgesThrottled counts requests to the badge endpoint, and products
	// of a PublicPage, for a badge the cache could not answer at once that
	// the lookup limits refused
	// (WithBadgeLookupLimit, WithBadgeLookupLimitPerAddress), answered
	// with the unknown badge without a lookup. Of those,
	// BadgesThrottledByAddress were over their address's limit, and the
	// rest over the overall one.
	BadgesThrottled          int64
	BadgesThrottledByAddress int64
	// TemplateMisuses counts template calls given something they could
	// not use (see ErrTemplateMisuse).
	TemplateMisuses int64
}

// Stats reads the counters.
func (w *Widget) Stats() Stats {
	return Stats{
		BadgesRefused:            w.badgesRefused.Load(),
		BadgesThrottled:          w.adm.throttled.Load(),
		BadgesThrottledByAddress: w.adm.byAddress.Load(),
		TemplateMisuses:          w.misuse.count.Load(),
	}
}

// WithUnknown shows (the default) or hides the neutral "check on the
// official platform" badge for a product the SDK has no answer for.
func WithUnknown(show bool) Option {
	return func(w *Widget) error { w.hideUnknown = !show; return nil }
}

// New builds a widget over a cache.
func New(qc *cache.Cache, opts ...Option) (*Widget, error) {
	if qc == nil {
		return nil, errors.New("qcsdk/widget: cache is nil")
	}
	w := &Widget{
		qc:         qc,
		verifyHost: DefaultVerifyHost,
		timeout:    DefaultRenderTimeout,
		staleLimit: DefaultStaleLimit,
		seed:       maphash.MakeSeed(),
	}
	w.adm.rate, w.adm.burst = DefaultBadgeLookupRate, DefaultBadgeLookupBurst
	w.adm.addrRate, w.adm.addrBurst = DefaultBadgeLookupRatePerAddress, DefaultBadgeLookupBurstPerAddress
	for _, o := range opts {
		if err := o(w); err != nil {
			return nil, fmt.Errorf("qcsdk/widget: %w", err)
		}
	}
	w.adm.init()
	return w, nil
}

// A verdict is what a badge shows of a product: the registry's answer,
// the decision it gives now, where its renderings are kept, and, for an
// answer past its freshness, when the registry last confirmed it.
type verdict struct {
	st *client.ProductStatus
	// d points into the decision the product's renderings keep, which
	// never changes once made: a warm badge copies a pointer, not the
	// decision.
	d     *client.Decision
	slots *renderSlots
	asOf  time.Time // zero for a fresh answer
}

var unknownDecision = client.Decision{Verdict: client.VerdictUnknown}

// unknown makes v the unknown verdict.
func (w *Widget) unknown(v *verdict) { *v = verdict{d: &unknownDecision, slots: &w.shared[1]} }

// status is Status with the slots the product's renderings go in.
//
// It, and everything on a warm badge's path, fills the caller's verdict
// in place rather than returning one: a struct returned, or copied whole,
// is written field by field and read back in wider words, which stalls
// the processor's store forwarding — a third of a warm badge's time.
func (w *Widget) status(ctx context.Context, gtin string, v *verdict) error {
	return w.statusFor(ctx, gtin, nil, v)
}

// statusFor is status for a request to the public badge endpoint, or for
// the platform's own pages when public is nil. A public request's cold
// lookup must be admitted by the endpoint's lookup limits, and runs at
// low priority, so that the public never spends what the platform's own
// pages need; a warm one costs nothing more.
func (w *Widget) statusFor(ctx context.Context, gtin string, public *http.Request, v *verdict) error {
	a, now, ok := w.qc.Cached(client.GTIN(gtin))
	if !ok {
		return w.lookup(ctx, gtin, public, now, v)
	}
	w.decideAnswer(v, a, now)
	return nil
}

// lookup is statusFor for a product the cache cannot answer at once: it
// waits for the API, up to the render timeout. now is the cache's.
func (w *Widget) lookup(ctx context.Context, gtin string, public *http.Request, now time.Time, v *verdict) error {
	if err := ctx.Err(); err != nil {
		// The page's budget is spent, or the shopper has gone: ask no
		// one, and say nothing but "check on the official platform".
		w.unknown(v)
		return err
	}
	if public != nil {
		if w.now != nil {
			now = w.now()
		} else if now.IsZero() {
			now = time.Now()
		}
		if err := w.adm.admit(public, now); err != nil {
			w.unknown(v)
			return err
		}
		ctx = client.WithPriority(ctx, client.PriorityLow)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	a, err := w.qc.Status(ctx, client.ProductKey{GTIN: client.GTIN(gtin)})
	cancel()
	if err != nil {
		w.unknown(v)
		return err
	}
	if now.IsZero() {
		now = time.Now()
	}
	w.decideAnswer(v, a, now)
	return nil
}

// decideAnswer makes v the verdict on a cache's answer at now (or at the
// widget's clock): an answer past its freshness says when the registry
// last confirmed it, and one the registry last confirmed longer ago than
// the stale limit is unknown, with that date.
func (w *Widget) decideAnswer(v *verdict, a cache.Answer, now time.Time) {
	if w.now != nil {
		now = w.now()
	}
	w.decide(v, a.Status, now)
	if !a.Stale {
		return
	}
	if now.Sub(a.Fetched) <= w.staleLimit {
		v.confirmedAt(a.Fetched)
		return
	}
	// Too old to show. The product's own renderings hold it: it carries
	// the product's date, which the shared ones cannot.
	v.d, v.slots, v.asOf = &unknownDecision, w.slotsOf(a.Status), a.Fetched
}

// decide makes v the verdict on st at now (or at the widget's clock).
func (w *Widget) decide(v *verdict, st *client.ProductStatus, now time.Time) {
	if w.now != nil {
		now = w.now()
	}
	slots := w.slotsOf(st)
	// The decision holds until an instant DecideUntil names: a warm badge
	// reuses it rather than deciding again.
	p := slots.decided.Load()
	if p == nil || now.Before(p.from) || (!p.until.IsZero() && !now.Before(p.until)) {
		d, until := client.DecideUntil(st, now, w.lookback)
		p = &decided{d: d, from: now, until: until}
		slots.decided.Store(p)
	}
	switch {
	case p.d.Verdict == client.VerdictNotListed:
		slots = &w.shared[0]
	case p.d.Verdict == client.VerdictUnknown || !p.d.Verdict.Known():
		slots = &w.shared[1]
	}
	v.st, v.d, v.slots, v.asOf = st, &p.d, slots, time.Time{}
}

// confirmedAt says the verdict rests on an answer past its freshness,
// last confirmed at t. The shared renderings of not_listed and unknown
// carry no date.
func (v *verdict) confirmedAt(t time.Time) {
	if v.d.Verdict != client.VerdictNotListed && v.d.Verdict.Known() && v.d.Verdict != client.VerdictUnknown {
		v.asOf = t
	}
}

// slotsOf finds or makes the renderings of a status.
func (w *Widget) slotsOf(st *client.ProductStatus) *renderSlots {
	hot := &w.hot[maphash.Comparable(w.seed, st)%hotSlots]
	if rs := hot.Load(); rs != nil && rs.st == st {
		return rs
	}
	v, ok := w.byStatus.Load(st)
	if !ok {
		if w.statuses.Add(1) > maxRenders {
			// Statuses replaced in the cache leave their renderings here;
			// start over rather than grow.
			w.byStatus.Clear()
			w.statuses.Store(1)
		}
		v, _ = w.byStatus.LoadOrStore(st, &renderSlots{st: st})
	}
	rs := v.(*renderSlots)
	hot.Store(rs)
	return rs
}

// Badge renders the badge of the product with that GTIN as an HTML
// fragment, in the widget's default look, or in look when given: the
// shortcut for one badge outside a page view, which waits up to the
// render timeout. It never fails: past the render timeout, or on any
// error, it renders the unknown badge (or nothing; see WithUnknown).
// Several badges, the JSON-LD, and why a badge is unknown are a Page's.
func (w *Widget) Badge(ctx context.Context, gtin client.GTIN, look ...Look) template.HTML {
	var v verdict
	w.status(ctx, string(gtin), &v)
	return template.HTML(w.prepared(kindHTML, &v, w.lookOf(look), w.renderHTML))
}

// normal maps values out of range to the defaults.
func (l Look) normal() Look {
	if l.Locale > LocaleEN {
		l.Locale = LocaleZH
	}
	if l.Theme > ThemeDark {
		l.Theme = ThemeLight
	}
	if l.Size > SizeCompact {
		l.Size = SizeFull
	}
	return l
}

func (w *Widget) lookOf(look []Look) Look {
	if len(look) > 0 {
		return look[0]
	}
	return w.look
}

// The kinds of prepared rendering.
const (
	kindHTML = iota
	kindSVG
	kindJSONLD
	kindJSON
	numKinds
)

const numLooks = 8 // 2 locales × 2 themes × 2 sizes

func (l Look) index() int { return int(l.Locale)<<2 | int(l.Theme)<<1 | int(l.Size) }

// prepared returns the rendering of a kind for a decision and look,
// rendering it on first use. A warm call is an atomic load and allocates
// nothing.
func (w *Widget) prepared(kind int, v *verdict, look Look, render renderFunc) string {
	return w.rendered(kind, v, look, render).text
}

// A renderFunc renders one kind of badge.
type renderFunc func(v *verdict, look Look) string

// rendered is prepared with the rendering's validator, for the Handler.
func (w *Widget) rendered(kind int, v *verdict, look Look, render renderFunc) *rendering {
	look = look.normal()
	d := v.d
	slot := &v.slots.slots[kind][look.index()]
	if r := slot.Load(); r != nil && r.verdict == d.Verdict && r.status == d.Status && r.since.Equal(d.Since) && r.asOf.Equal(v.asOf) {
		return r
	}
	// A copy for the renderer, which the compiler cannot see through: v
	// itself then stays on the caller's stack, and a warm badge allocates
	// nothing.
	cold := *v
	text := render(&cold, look)
	h := fnv.New64a()
	io.WriteString(h, text)
	r := &rendering{verdict: d.Verdict, status: d.Status, since: d.Since, asOf: v.asOf, text: text,
		etag: `"` + strconv.FormatUint(h.Sum64(), 36) + `"`}
	slot.Store(r)
	return r
}

// badgeData is what the templates read.
type badgeData struct {
	Lang, Size, Theme, State string
	Class                    string // the state's classes
	Stale                    bool   // the answer is past its freshness, or too old to show
	Title, Detail, Icon      string
	Name                     string // the accessible name: the verdict in words
	Plain                    string // Name without the link's purpose, for an image
	Href                     string
	hidden                   bool
}

func stateOf(d client.Decision) state {
	switch d.Verdict {
	case client.VerdictCommitted:
		return stateCommitted
	case client.VerdictInspectionFailed:
		return stateFailed
	case client.VerdictWithdrawn:
		switch d.Status {
		case client.CommitmentSuspended:
			return stateSuspended
		case client.CommitmentRevoked:
			return stateRevoked
		}
		return stateExpired
	case client.VerdictNotListed:
		return stateNotListed
	}
	return stateUnknown
}

func (w *Widget) data(v *verdict, look Look) badgeData {
	d := v.d
	voc := &vocab[look.Locale]
	lb := voc.label(*d, v.asOf, look.Size)
	s := stateOf(*d)
	b := badgeData{
		Lang: look.Locale.String(), Size: look.Size.String(), Theme: look.Theme.String(), State: s.String(),
		Class: stateClasses[s], Stale: !v.asOf.IsZero(),
		Title: lb.Title, Detail: lb.Detail, Icon: lb.Icon,
	}
	switch d.Verdict {
	case client.VerdictCommitted, client.VerdictWithdrawn:
		if d.Commitment != nil {
			b.Href = w.VerifyLink(d.Commitment.VerifyURL)
		}
	case client.VerdictInspectionFailed:
		if d.Inspection != nil {
			b.Href = w.VerifyLink(d.Inspection.VerifyURL)
		}
	case client.VerdictNotListed:
		b.hidden = !w.showNotListed
	default:
		b.hidden = w.hideUnknown
		b.Href = "https://" + w.verifyHost + "/"
	}
	// The accessible name starts with the visible words, in their order,
	// so that what a screen reader says and what a voice-control user
	// reads on the badge agree.
	b.Name = lb.Title
	if lb.Name != "" {
		b.Name += " " + lb.Name
	} else if lb.Detail != "" {
		b.Name += " " + lb.Detail
	}
	b.Plain = b.Name
	if b.Href != "" && d.Verdict != client.VerdictUnknown {
		if look.Locale == LocaleEN {
			b.Name += " (" + voc.verify + ")"
		} else {
			b.Name += "（" + voc.verify + "）"
		}
	}
	return b
}

// VerifyLink returns u if a badge may link to it — an https URL on the
// verify host (WithVerifyHost), without credentials — and "" otherwise.
// The enquiry pages hold their links to the same rule.
func (w *Widget) VerifyLink(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.User != nil || p.Opaque != "" {
		return ""
	}
	if !strings.EqualFold(p.Host, w.verifyHost) {
		w.offHost(p.Host)
		return ""
	}
	return p.String()
}

// offHost says, once, that a record's link was dropped for its host: the
// first badge whose link points elsewhere is nearly always a verify host
// that does not match the registry in use (the sandbox's records link to
// DefaultVerifyHost), and every badge then goes without its link.
func (w *Widget) offHost(host string) {
	if w.warnedHost.Swap(true) {
		return
	}
	w.log().Warn("qcsdk/widget: a record's official link is not on the verify host; badges show no link to such records. "+
		"If every badge lacks its link, set widget.WithVerifyHost to the registry's record host (against the sandbox, leave it unset)",
		"link_host", host, "verify_host", w.verifyHost)
}

func (w *Widget) renderHTML(v *verdict, look Look) string {
	b := w.data(v, look)
	if b.hidden {
		return ""
	}
	var sb strings.Builder
	if err := templates.ExecuteTemplate(&sb, "badge", b); err != nil {
		return "" // the template is ours and tested; never break the page
	}
	return sb.String()
}
