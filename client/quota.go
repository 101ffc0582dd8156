package client

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/internal/backoff"
	"golang.org/x/time/rate"
)

// Defaults of the client-wide pause (see the package doc's Quota section).
const (
	// DefaultMaxPause caps how long one answer may pause the client,
	// whatever its Retry-After or RateLimit-Reset says.
	DefaultMaxPause = 5 * time.Minute
	// defaultPause is the pause after a 429 that says neither
	// Retry-After nor RateLimit-*; it doubles on each such 429 in a row,
	// up to the cap, and starts again after a success.
	defaultPause = time.Second
	// DefaultKeyRefusedPause is the cool-down after the API refuses the
	// client's key (401 or 403): for that long every call fails at once,
	// unsent, with a *KeyRefusedError, and the first call after it is
	// sent, to learn whether the key is accepted again. A key is fixed by
	// a person, at the platform's end (a new key, a restart) or at the
	// registry's (a key activated, a scope granted), in minutes, not
	// seconds: a minute is soon enough to notice the fix and spares the
	// registry a refused call for every page view meanwhile, which is
	// what a platform with a wrong key would otherwise send it. WithMaxPause
	// caps it, as it does every pause. A 403 holds every call back as a
	// 401 does: the API's contract answers 403 to no call, so one comes
	// from something in front of it refusing the key or the platform as
	// a whole, not from one record the key may not read.
	DefaultKeyRefusedPause = time.Minute
)

// Priority says how much a call may spend of the upstream limiter (see
// WithUpstreamLimit and WithPriority).
type Priority int8

const (
	// PriorityHigh, the default, is for the platform's own pages: a call
	// waits for a token as long as its context allows.
	PriorityHigh Priority = iota
	// PriorityLow is for work the public can cause or that can wait: the
	// badge endpoint's cold lookups, background refreshes. A call is sent
	// only if a token is free at once with half the burst still left for
	// high-priority calls; otherwise it fails at once, never waiting.
	PriorityLow
)

func (p Priority) String() string {
	if p == PriorityLow {
		return "low"
	}
	return "high"
}

type priorityKey struct{}

// WithPriority returns a context whose calls run at priority p. Calls
// under a context without one run at PriorityHigh.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf returns the priority of calls under ctx: the one
// WithPriority set, or PriorityHigh. A cache that sends one call for many
// callers' keys reads it to give the call the highest of theirs.
func PriorityOf(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}

// WithMaxPause caps how long an answer may pause the whole client
// (default DefaultMaxPause, 5 minutes): a 503 with "Retry-After: 3600"
// pauses it for 5 minutes, not an hour. During a pause every call fails
// at once, without being sent.
func WithMaxPause(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return errors.New("max pause must be positive")
		}
		c.maxPause = d
		return nil
	}
}

// WithUpstreamLimit sets a ceiling on the calls the client sends:
// perSecond on average, in bursts of at most burst, however many callers
// share it. When the API's RateLimit-Limit says less (read as calls per
// second), the client follows the lower figure for both. Without this
// option the client follows the API's headers alone, and is unlimited
// until it has seen them.
//
// A high-priority call waits for a token as long as its context allows,
// and fails at once with a *RateLimitError (Throttled set) when the wait
// would pass its deadline; a low-priority one never waits (see
// WithPriority). Retries take tokens too.
func WithUpstreamLimit(perSecond float64, burst int) Option {
	return func(c *Client) error {
		if !(perSecond > 0) || perSecond > 1e9 {
			return errors.New("upstream limit must be a positive, finite rate")
		}
		if burst < 1 {
			return errors.New("upstream limit burst must be at least 1")
		}
		c.ceilRate, c.ceilBurst = perSecond, burst
		return nil
	}
}

// ClientStats counts what the client's quota machinery refused, and the
// answers it refused because they did not verify.
type ClientStats struct {
	// Paused counts calls refused without being sent during a pause.
	Paused int64
	// ThrottledHigh and ThrottledLow count calls the upstream limiter
	// refused, by priority: high ones whose wait would have passed their
	// deadline, low ones that found no token to spare.
	ThrottledHigh int64
	ThrottledLow  int64
	// Pauses counts answers that started or extended a pause.
	Pauses int64
	// PausedUntil is the end of the pause in force, by the client's
	// clock, and PauseStatus the status that caused it (429 or 503, or
	// 401 or 403 for the cool-down after a refused key); both are zero
	// when none is.
	PausedUntil time.Time
	PauseStatus int
	// LogFailures counts the product statuses refused because they did
	// not verify against the registry's log, by cause (see VerifyError).
	LogFailures LogFailureCounts
}

// Stats reports the client's quota counters. It is cheap: a few atomic
// loads.
func (c *Client) Stats() ClientStats {
	s := ClientStats{
		Paused:        c.quota.paused.Load(),
		ThrottledHigh: c.quota.throttledHigh.Load(),
		ThrottledLow:  c.quota.throttledLow.Load(),
		Pauses:        c.quota.pauses.Load(),
		LogFailures:   c.trust.counts(),
	}
	if p := c.quota.pausedAt(c.now()); p != nil {
		s.PausedUntil, s.PauseStatus = p.until, p.status
	}
	return s
}

// pause is a client-wide pause: no call is sent before until.
type pause struct {
	until  time.Time
	status int  // 429 or 503, or 401 or 403
	spent  bool // from RateLimit-Remaining 0: a later answer with calls left lifts it
	// refusal is the answer that refused the key, for a 401 or 403's
	// cool-down: a later answer that shows the key accepted lifts it.
	refusal *APIError
}

// quota is the client's shared view of what it may send: the pause, the
// upstream limiter and their counters.
type quota struct {
	cur    atomic.Pointer[pause]
	streak atomic.Int32 // 429s in a row that said nothing of when to come back

	lim      atomic.Pointer[rate.Limiter] // nil: unlimited
	mu       sync.Mutex                   // serialises limiter changes
	apiLimit atomic.Int64                 // the RateLimit-Limit the limiter follows
	limMu    sync.Mutex                   // serialises the limiter's clock readings with their use
	limLast  time.Time                    // the latest time handed to the limiter

	paused, throttledHigh, throttledLow, pauses atomic.Int64

	// keyRefused is set from the API's refusing the key until an answer
	// shows it accepted: the refusal is logged when it is set, once.
	keyRefused atomic.Bool
}

func (q *quota) pausedAt(now time.Time) *pause {
	return pausedAt(&q.cur, now)
}

// pausedAt is the pause in cur in force at now, or nil.
func pausedAt(cur *atomic.Pointer[pause], now time.Time) *pause {
	if p := cur.Load(); p != nil && now.Before(p.until) {
		return p
	}
	return nil
}

// extend pauses the client for d from now, capped at max; a pause that
// already ends later is kept.
func (q *quota) extend(status int, d, maxPause time.Duration, now time.Time, spent bool) {
	q.hold(&pause{status: status, spent: spent}, min(d, maxPause), now)
}

// hold pauses the client with next for d from now; a pause that already
// ends later is kept.
func (q *quota) hold(next *pause, d time.Duration, now time.Time) {
	if d <= 0 {
		return
	}
	next.until = now.Add(d)
	if extendPause(&q.cur, next) {
		q.pauses.Add(1)
	}
}

// extendPause puts next in cur unless the pause there ends as late or
// later; it reports whether it did.
func extendPause(cur *atomic.Pointer[pause], next *pause) bool {
	for {
		old := cur.Load()
		if old != nil && !next.until.After(old.until) {
			return false
		}
		if cur.CompareAndSwap(old, next) {
			return true
		}
	}
}

// observe reads an answer's headers: the rate-limit view, the limiter's
// rate, and whether the answer pauses the client. A 429 on a route with a
// limit of its own (ownLimit) pauses that route alone, and says nothing
// of the client's quota.
func (c *Client) observe(resp *http.Response, now time.Time, ownLimit bool) {
	h := resp.Header
	if ownLimit && resp.StatusCode == http.StatusTooManyRequests {
		d := defaultPause
		if ra, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
			d = ra
		}
		extendPause(&c.lookups, &pause{until: now.Add(min(d, c.maxPause)), status: http.StatusTooManyRequests})
		return
	}
	rl, hasRL := parseRateLimit(h, now)
	if hasRL {
		c.limits.store(rl)
		c.follow(rl.Limit)
	}
	paused := false
	if hasRL && rl.Remaining == 0 && rl.Reset.After(now) {
		// The quota is spent until Reset: send nothing before then.
		c.quota.extend(http.StatusTooManyRequests, rl.Reset.Sub(now), c.maxPause, now, true)
		paused = true
	} else if hasRL && rl.Remaining > 0 {
		// The API says calls remain: a pause only its spent quota began
		// is over, as its newer account says.
		if p := c.quota.cur.Load(); p != nil && p.spent {
			c.quota.cur.CompareAndSwap(p, nil)
		}
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if ra, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
			c.quota.extend(http.StatusTooManyRequests, ra, c.maxPause, now, false)
		} else if !paused {
			n := min(c.quota.streak.Add(1), 30)
			c.quota.extend(http.StatusTooManyRequests, defaultPause<<(n-1), c.maxPause, now, false)
		}
	case http.StatusServiceUnavailable:
		if ra, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
			c.quota.extend(http.StatusServiceUnavailable, ra, c.maxPause, now, false)
		}
	default:
		if resp.StatusCode < 400 && c.quota.streak.Load() != 0 {
			c.quota.streak.Store(0)
		}
	}
}

// lookupPausedErr is the error of a report look-up refused, without being
// sent, because the look-ups' own limit was answered 429 and its
// Retry-After has not run out; or nil.
func (c *Client) lookupPausedErr(now time.Time) error {
	p := pausedAt(&c.lookups, now)
	if p == nil {
		return nil
	}
	return &RateLimitError{Limit: c.RateLimit(), RetryAfter: p.until.Sub(now), lookups: true}
}

// pausedErr is the error of a call refused because the client is paused
// at now, or nil.
func (c *Client) pausedErr(now time.Time) error {
	p := c.quota.pausedAt(now)
	if p == nil {
		return nil
	}
	c.quota.paused.Add(1)
	left := p.until.Sub(now)
	if p.refusal != nil {
		return &KeyRefusedError{StatusCode: p.refusal.StatusCode, Code: p.refusal.Code, RetryAfter: left, NoKey: c.key == ""}
	}
	if p.status == http.StatusServiceUnavailable {
		return &UnavailableError{Until: p.until, RetryAfter: left}
	}
	return &RateLimitError{Limit: c.RateLimit(), RetryAfter: left}
}

// follow makes the limiter follow the API's RateLimit-Limit, read as
// calls per second, under the WithUpstreamLimit ceiling if there is one.
func (c *Client) follow(apiLimit int) {
	if apiLimit <= 0 || int64(apiLimit) == c.quota.apiLimit.Load() {
		return
	}
	q := &c.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	if int64(apiLimit) == q.apiLimit.Load() {
		return
	}
	q.apiLimit.Store(int64(apiLimit))
	r, b := rate.Limit(apiLimit), apiLimit
	if c.ceilBurst > 0 {
		r, b = min(r, rate.Limit(c.ceilRate)), min(b, c.ceilBurst)
	}
	lim := q.lim.Load()
	if lim == nil {
		q.lim.Store(rate.NewLimiter(r, b))
		return
	}
	if lim.Limit() == r && lim.Burst() == b {
		return
	}
	q.limMu.Lock()
	defer q.limMu.Unlock()
	now := q.limiterNow(c.now)
	lim.SetLimitAt(now, r)
	lim.SetBurstAt(now, b)
}

// The upstream limiter takes the time it is given as the present, and a
// time older than the last one it saw rolls its refill back, so that it
// grants the tokens of the time between twice. Calls that read the clock
// and then reach the limiter race, and their readings arrive out of
// order; so every use of the limiter reads the clock under limMu, and
// never hands it a time earlier than the last (a clock set back stands
// still until it catches up).

// limiterNow is the time to hand the limiter. q.limMu must be held.
func (q *quota) limiterNow(clock func() time.Time) time.Time {
	now := clock()
	if now.Before(q.limLast) {
		return q.limLast
	}
	q.limLast = now
	return now
}

// reserve reserves a token of lim, and says as of when.
func (q *quota) reserve(lim *rate.Limiter, clock func() time.Time) (*rate.Reservation, time.Time) {
	q.limMu.Lock()
	defer q.limMu.Unlock()
	now := q.limiterNow(clock)
	return lim.ReserveN(now, 1), now
}

// cancel gives back the token of a reservation that will not be used.
func (q *quota) cancel(res *rate.Reservation, clock func() time.Time) {
	q.limMu.Lock()
	defer q.limMu.Unlock()
	res.CancelAt(q.limiterNow(clock))
}

// tokenTime is how long lim takes to gather n tokens.
func tokenTime(lim *rate.Limiter, n float64) time.Duration {
	r := float64(lim.Limit())
	if n <= 0 || r <= 0 {
		return 0
	}
	return time.Duration(n / r * float64(time.Second))
}

// reserve is the share of the burst a low-priority call must leave.
func reserve(lim *rate.Limiter) float64 { return float64(lim.Burst() / 2) }

// admitLow takes a token for a low-priority call if one is free at once
// with the reserve left; if none is, it says how long until one is.
func (q *quota) admitLow(lim *rate.Limiter, clock func() time.Time) (bool, time.Duration) {
	q.limMu.Lock()
	defer q.limMu.Unlock()
	now := q.limiterNow(clock)
	tokens := lim.TokensAt(now)
	if tokens >= 1+reserve(lim) && lim.AllowN(now, 1) {
		return true, 0
	}
	return false, tokenTime(lim, 1+reserve(lim)-tokens)
}

// admit takes a token from the upstream limiter for a call's first
// attempt, waiting for a high-priority call as long as its context
// allows. It then checks the pause again, which may have begun meanwhile.
func (c *Client) admit(ctx context.Context) error {
	lim := c.quota.lim.Load()
	if lim == nil {
		return nil
	}
	if PriorityOf(ctx) == PriorityLow {
		if ok, wait := c.quota.admitLow(lim, c.now); !ok {
			c.quota.throttledLow.Add(1)
			return &RateLimitError{Limit: c.RateLimit(), Throttled: true, Priority: PriorityLow, RetryAfter: wait}
		}
		return nil
	}
	res, now := c.quota.reserve(lim, c.now)
	if !res.OK() {
		c.quota.throttledHigh.Add(1)
		return &RateLimitError{Limit: c.RateLimit(), Throttled: true}
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	// The deadline is on the real clock, whatever WithClock says.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		c.quota.cancel(res, c.now)
		c.quota.throttledHigh.Add(1)
		return &RateLimitError{Limit: c.RateLimit(), Throttled: true, RetryAfter: d}
	}
	if !backoff.Sleep(ctx, d) {
		c.quota.cancel(res, c.now)
		return ctx.Err()
	}
	return c.pausedErr(c.now())
}

// refused begins the cool-down after the API refused the key with
// apiErr, says so once (see keyAccepted), and returns the call's error.
//
// The refusal goes to the client's logger, or to slog's default one when
// it has none, as the missing base URL does: with a wrong key every badge
// is unknown, and a platform that hears nothing of it learns it from its
// shoppers. It names the cause — the status, the problem's code and
// detail, the request id — and never the key.
func (c *Client) refused(apiErr *APIError) error {
	now := c.now()
	d := min(DefaultKeyRefusedPause, c.maxPause)
	c.quota.hold(&pause{status: apiErr.StatusCode, refusal: apiErr}, d, now)
	if c.quota.keyRefused.CompareAndSwap(false, true) {
		l := c.logger
		if l == nil {
			l = slog.Default()
		}
		msg := "qcsdk: the registry refuses the API key: every call fails, and badges show unknown, until the key is fixed; calls are held back for a cool-down after each refusal"
		if c.key == "" {
			msg = "qcsdk: the registry refuses calls without a key, and no API key is set (client.WithAPIKey): every call fails, and badges show unknown"
		}
		l.Error(msg, "status", apiErr.StatusCode, "code", apiErr.Code, "detail", clip(apiErr.Detail, 200),
			"call", apiErr.Method+" "+apiErr.Path, "request_id", apiErr.RequestID, "cool_down", d.String())
	}
	return &KeyRefusedError{Err: apiErr, StatusCode: apiErr.StatusCode, Code: apiErr.Code, RetryAfter: d, NoKey: c.key == ""}
}

// keyAccepted ends a refusal of the key, if one is in force, on an answer
// that shows the key accepted: its cool-down is lifted and the log says
// so, so that a later refusal is said again.
func (c *Client) keyAccepted() {
	if !c.quota.keyRefused.Load() || !c.quota.keyRefused.CompareAndSwap(true, false) {
		return
	}
	if p := c.quota.cur.Load(); p != nil && p.refusal != nil {
		c.quota.cur.CompareAndSwap(p, nil)
	}
	l := c.logger
	if l == nil {
		l = slog.Default()
	}
	l.Info("qcsdk: the registry accepts the API key again")
}

// clip cuts s to at most n bytes, at a character's start, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
