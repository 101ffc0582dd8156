package widget

import (
	"errors"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/qualitycommit/qcsdk/client"
)

// Defaults of the badge endpoint's lookup limits (see WithBadgeLookupLimit
// and WithBadgeLookupLimitPerAddress).
const (
	// DefaultBadgeLookupRate and DefaultBadgeLookupBurst bound the cold
	// lookups the public badge endpoint sends for all addresses together:
	// about two shoppers' cold listing pages at the same moment, then 50
	// a second, whatever a flood from many addresses asks.
	DefaultBadgeLookupRate  = 50
	DefaultBadgeLookupBurst = 120
	// DefaultBadgeLookupRatePerAddress and DefaultBadgeLookupBurstPerAddress bound them
	// per client address. A listing page that shows its badges as <img>
	// asks for 60 at once from one address, and on a shop nobody has
	// browsed lately all of them may be cold: the burst lets that page
	// through whole. The rate refills it in 12 s, less than a shopper
	// spends on a page before the next, while one address flooding
	// random barcodes gets 5 lookups a second.
	DefaultBadgeLookupRatePerAddress  = 5
	DefaultBadgeLookupBurstPerAddress = 60
	// addressBuckets is how many per-address limiters a widget keeps:
	// a fixed number, so that a flood of addresses costs no memory.
	addressBuckets = 4096
)

// errThrottled is the lookup error of a cold badge its limits refused.
var errThrottled = errors.New("badge lookup refused: over the endpoint's lookup limit")

// errNotInCatalogue is the lookup error of a public page's product
// outside the catalogue (WithCatalogue).
var errNotInCatalogue = errors.New("badge lookup refused: the product is not in the catalogue")

// admission holds the badge endpoint's lookup limits.
//
// The per-address limiters are made on first use and never dropped: a
// full limiter left alone is the same as a new one, so nothing needs
// sweeping, and an idle widget runs no goroutine and wakes nothing.
type admission struct {
	rate, addrRate   rate.Limit // as configured
	burst, addrBurst int
	clientAddr       func(*http.Request) string // nil: the host of RemoteAddr

	overall   *rate.Limiter
	seed      maphash.Seed
	addresses [addressBuckets]atomic.Pointer[rate.Limiter]

	throttled, byAddress atomic.Int64
}

// WithBadgeLookupLimit bounds the lookups the Handler's public badge
// endpoint sends for badges the cache cannot answer at once (cold ones),
// all client addresses together: perSecond on average, in bursts of at
// most burst (default DefaultBadgeLookupRate, 50 a second, in bursts of
// DefaultBadgeLookupBurst, 120). A cold badge over the limit renders the
// neutral unknown badge at once, with no lookup, and is counted in
// Stats.BadgesThrottled. A warm badge is always served. Set it below the
// share of the registry's quota the public may spend; the platform's own
// pages (Page, Badge) are not limited by it.
func WithBadgeLookupLimit(perSecond float64, burst int) Option {
	return func(w *Widget) error {
		if err := validLimit(perSecond, burst); err != nil {
			return err
		}
		w.adm.rate, w.adm.burst = rate.Limit(perSecond), burst
		return nil
	}
}

// WithBadgeLookupLimitPerAddress bounds the public badge endpoint's cold
// lookups per client address (see WithClientAddress): perSecond on
// average, in bursts of at most burst (default DefaultBadgeLookupRatePerAddress,
// 5 a second, in bursts of DefaultBadgeLookupBurstPerAddress, 60 — a listing
// page's badges at once). Addresses share a fixed number of limiters, by
// a hash of the address, so that a flood from many addresses costs no
// memory: two unrelated addresses may share one, and an IPv6 address
// counts by its /64, which one subscriber holds whole. A lookup takes
// from its address's limit and from the overall one (WithBadgeLookupLimit);
// a badge refused by either renders unknown at once.
func WithBadgeLookupLimitPerAddress(perSecond float64, burst int) Option {
	return func(w *Widget) error {
		if err := validLimit(perSecond, burst); err != nil {
			return err
		}
		w.adm.addrRate, w.adm.addrBurst = rate.Limit(perSecond), burst
		return nil
	}
}

// WithClientAddress says how to find a badge request's client address,
// for WithBadgeLookupLimitPerAddress; by default it is the host of the
// request's RemoteAddr. Behind a reverse proxy or a CDN every request
// comes from the proxy, so that all shoppers would share one limit: read
// the address the proxy passes on instead. Read only what your own proxy
// sets: X-Forwarded-For's leftmost entry, or a header the proxy merely
// passes through, is whatever the sender wrote, and a flood that forges
// a new address per request escapes the per-address limit (the overall
// one still holds). Use the entry your proxy appended (the rightmost, for
// one proxy) or a header it overwrites, such as X-Real-IP. Nil is the
// default.
func WithClientAddress(addr func(*http.Request) string) Option {
	return func(w *Widget) error { w.adm.clientAddr = addr; return nil }
}

func validLimit(perSecond float64, burst int) error {
	if !(perSecond > 0) || perSecond > 1e9 {
		return errors.New("lookup limit must be a positive, finite rate")
	}
	if burst < 1 {
		return errors.New("lookup limit burst must be at least 1")
	}
	return nil
}

func (a *admission) init() {
	a.overall = rate.NewLimiter(a.rate, a.burst)
	a.seed = maphash.MakeSeed()
}

// admit takes a token for a cold lookup from the request's address and
// from the overall limit, at now; on refusal it counts it and says why.
func (a *admission) admit(r *http.Request, now time.Time) error {
	lim := a.limiterOf(a.addressOf(r))
	// The address's token is reserved, not taken, until the overall limit
	// admits the lookup too: a shopper refused because of someone else's
	// flood keeps her own budget for when it has passed. An empty limiter
	// is not asked for a reservation at all, since cancelling one behind
	// others gives back less than it took.
	if lim.TokensAt(now) < 1 {
		return a.refuse(true)
	}
	res := lim.ReserveN(now, 1)
	if !res.OK() || res.DelayFrom(now) > 0 {
		res.CancelAt(now) // another request of the same address was first
		return a.refuse(true)
	}
	if !a.overall.AllowN(now, 1) {
		res.CancelAt(now)
		return a.refuse(false)
	}
	return nil
}

func (a *admission) refuse(byAddress bool) error {
	a.throttled.Add(1)
	if byAddress {
		a.byAddress.Add(1)
	}
	return errThrottled
}

// ClientAddress is the address a request is limited by: its client's, as
// WithClientAddress says to find it, without the port, and an IPv6
// address by its /64. The enquiry entry limits its report status pages by
// it too, so that one setting serves both.
func (w *Widget) ClientAddress(r *http.Request) string { return w.adm.addressOf(r) }

// addressOf is the key a request's address is limited by.
func (a *admission) addressOf(r *http.Request) string {
	s := r.RemoteAddr
	if a.clientAddr != nil {
		s = strings.TrimSpace(a.clientAddr(r))
	}
	// A port says nothing of who asks: each would otherwise be a new
	// address.
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	ip = ip.Unmap()
	if ip.Is6() {
		// One subscriber holds a whole /64; counting each address of it
		// apart would give a single machine 2^64 budgets.
		p, _ := ip.Prefix(64)
		return p.Addr().String()
	}
	return ip.String()
}

// limiterOf finds or makes the limiter of an address's bucket.
func (a *admission) limiterOf(key string) *rate.Limiter {
	slot := &a.addresses[maphash.String(a.seed, key)%addressBuckets]
	if lim := slot.Load(); lim != nil {
		return lim
	}
	lim := rate.NewLimiter(a.addrRate, a.addrBurst)
	if !slot.CompareAndSwap(nil, lim) {
		return slot.Load()
	}
	return lim
}

// PublicPage is Page for a request to a public endpoint of the
// platform's: one that answers anyone on the internet many badges at
// once, such as a listing's badges fetched by the shopper's browser. Its
// cold products (those the cache cannot answer at once) are admitted as
// the Handler's badge endpoint admits one: each takes a lookup from the
// limit of r's client address (WithBadgeLookupLimitPerAddress,
// WithClientAddress) and from the overall one (WithBadgeLookupLimit),
// and is looked up at client.PriorityLow. A cold product either limit
// refuses, or one outside the catalogue (WithCatalogue), renders the
// neutral unknown badge at once, with no lookup, counted in
// Stats.BadgesThrottled (or BadgesRefused). A warm product is always
// served and costs nothing; a product named twice costs one lookup.
//
// The page's context is r's, so that a shopper who has gone costs no
// more lookups; its badges render as Page's do. A refusal is this
// address's, or this moment's: send the page with Cache-Control:
// no-store (or private), so that no shared cache shows it to others.
func (w *Widget) PublicPage(r *http.Request, gtins ...client.GTIN) *Page {
	return w.page(client.WithPriority(r.Context(), client.PriorityLow), r, gtins)
}

// admit returns the public page's cold keys its limits admit, each
// product once, and records the others as failed: refused by the limits
// or the catalogue.
func (p *Page) admit(keys []client.ProductKey) (admitted []client.ProductKey) {
	now := time.Now()
	if p.w.now != nil {
		now = p.w.now()
	}
	// The decision on each product, so that naming it again costs nothing.
	decided := make(map[client.GTIN]bool, len(keys))
	for _, k := range keys {
		if decided[k.GTIN] {
			continue
		}
		decided[k.GTIN] = true
		var err error
		if p.w.catalogue != nil && !p.w.catalogue(k.GTIN) {
			p.w.badgesRefused.Add(1)
			err = errNotInCatalogue
		} else {
			err = p.w.adm.admit(p.public, now)
		}
		if err != nil {
			p.fail(k.GTIN, err, len(keys))
			continue
		}
		admitted = append(admitted, k)
	}
	return admitted
}
