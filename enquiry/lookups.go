package enquiry

import (
	"errors"
	"hash/maphash"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// A report's status page asks the registry each time it is opened, and
// the registry limits those look-ups per platform: one shopper reloading
// in a loop, or guessing links, would spend every other shopper's share.
// So the entry limits status pages per client address first, with the
// widget's idea of the address (widget.WithClientAddress), before any
// look-up is sent.

// Defaults of WithStatusLookupLimit: a shopper who checks a report now
// and then never meets it; a script gets 6 a minute.
const (
	defaultStatusLookupsPerMinute = 6
	defaultStatusLookupBurst      = 10
	// statusBuckets is how many per-address limiters an entry keeps: a
	// fixed number, so that a flood of addresses costs no memory.
	statusBuckets = 1024
)

// statusLimits are the per-address limits of the status pages. As in the
// widget, limiters are made on first use and never dropped (a full one is
// a new one), so an idle entry runs and wakes nothing.
type statusLimits struct {
	perMinute float64
	burst     int
	seed      maphash.Seed
	buckets   [statusBuckets]atomic.Pointer[rate.Limiter]
}

// WithStatusLookupLimit bounds how often one client address may open
// report status pages: perMinute on average, in bursts of burst (default
// 6 a minute, in bursts of 10). Past it the page says to try again
// shortly (429, with Retry-After) and nothing is asked of the registry.
// Addresses share a fixed number of limiters, by a hash of the address.
func WithStatusLookupLimit(perMinute float64, burst int) Option {
	return func(e *Entry) error {
		if !(perMinute > 0) || perMinute > 1e9 || burst < 1 {
			return errors.New("status lookup limit must be a positive, finite rate with a burst of at least 1")
		}
		e.lookups.perMinute, e.lookups.burst = perMinute, burst
		return nil
	}
}

// allow takes a look-up from the request's address, at now.
func (e *Entry) allowLookup(r *http.Request, now time.Time) bool {
	l := &e.lookups
	slot := &l.buckets[maphash.String(l.seed, e.badges.ClientAddress(r))%statusBuckets]
	lim := slot.Load()
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.perMinute/60), l.burst)
		if !slot.CompareAndSwap(nil, lim) {
			lim = slot.Load()
		}
	}
	return lim.AllowN(now, 1)
}
