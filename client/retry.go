package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"

	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// RetryPolicy says when and how the client tries a call again. Only
// idempotent calls are retried: GETs, and POSTs that carry an
// Idempotency-Key (or that only read, like a batch lookup). A call is
// retried after a network error or a 429, 502, 503 or 504 answer — never
// after another status, and never after a network error another attempt
// cannot mend (see ErrCannotSucceed).
type RetryPolicy struct {
	// MaxRetries is how many times a call may be tried again after its
	// first attempt. Zero turns retries off.
	MaxRetries int
	// BaseDelay and MaxDelay shape the wait before retry n: a uniformly
	// random duration in (0, min(MaxDelay, BaseDelay·2ⁿ)) — "full jitter",
	// so that many clients failing together do not retry together.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps how long the client honours a Retry-After. When
	// the API asks for a longer wait, the call fails at once with the
	// answer (its RetryAfter says how long) rather than sleeping.
	MaxRetryAfter time.Duration
	// BudgetTokens and BudgetRatio set the retry budget every call of a
	// client shares, in the manner of gRPC's retry throttling: the budget
	// holds up to BudgetTokens; each failed attempt takes one token, each
	// successful one gives back BudgetRatio; retries happen only while
	// more than half the tokens are left. Once failed attempts run above
	// BudgetRatio times the successful ones, the client stops retrying
	// until the API recovers, so a dead upstream sees little more than one
	// attempt per call. BudgetTokens of zero turns the budget off.
	BudgetTokens float64
	BudgetRatio  float64
}

// DefaultRetryPolicy is the policy of a client built without
// WithRetryPolicy: up to 3 retries from 100 ms to 2 s, Retry-After honoured
// up to 10 s, and a budget of 10 tokens refilled at 0.1 per success.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:    3,
		BaseDelay:     100 * time.Millisecond,
		MaxDelay:      2 * time.Second,
		MaxRetryAfter: 10 * time.Second,
		BudgetTokens:  10,
		BudgetRatio:   0.1,
	}
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxRetries < 0:
		return errors.New("retry policy: MaxRetries is negative")
	case p.MaxRetries > 0 && p.BaseDelay <= 0:
		return errors.New("retry policy: BaseDelay must be positive when retrying")
	case p.MaxDelay < p.BaseDelay:
		return errors.New("retry policy: MaxDelay is shorter than BaseDelay")
	case p.MaxRetryAfter < 0:
		return errors.New("retry policy: MaxRetryAfter is negative")
	case p.BudgetTokens < 0 || p.BudgetRatio < 0:
		return errors.New("retry policy: budget is negative")
	case p.BudgetTokens > 0 && p.BudgetRatio == 0:
		return errors.New("retry policy: a budget needs a positive BudgetRatio to refill")
	}
	return nil
}

// backoff is the full-jitter wait before retry n (counted from 0).
func (p RetryPolicy) backoff(n int) time.Duration {
	return backoff.Exponential{Base: p.BaseDelay, Max: p.MaxDelay}.Wait(n)
}

// budget is the token bucket of the retry budget, in thousandths of a
// token so that it can live in one atomic integer: every call touches it.
type budget struct {
	milli atomic.Int64
	max   int64
	ratio int64
}

func newBudget(p RetryPolicy) *budget {
	if p.BudgetTokens <= 0 {
		return nil
	}
	b := &budget{max: int64(p.BudgetTokens * 1000), ratio: int64(math.Max(1, p.BudgetRatio*1000))}
	b.milli.Store(b.max)
	return b
}

func (b *budget) add(delta int64) {
	for {
		old := b.milli.Load()
		v := min(b.max, max(0, old+delta))
		if v == old || b.milli.CompareAndSwap(old, v) {
			return
		}
	}
}

func (b *budget) success() {
	if b != nil && b.milli.Load() < b.max {
		b.add(b.ratio)
	}
}

func (b *budget) failure() {
	if b != nil {
		b.add(-1000)
	}
}

func (b *budget) allows() bool { return b == nil || b.milli.Load() > b.max/2 }

// retryable reports whether an attempt's outcome is worth another try.
// A failure to get an answer is judged by transportRetryable.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return transportRetryable(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transportRetryable reports whether an attempt that got no answer (or
// whose body could not be read) may succeed when tried again: refused,
// reset and timed-out connections may. It defers to go-retryablehttp's
// policy, which refuses a certificate that cannot be verified, an
// unsupported scheme, a redirect loop and an invalid header, and adds a
// host name that does not exist.
func transportRetryable(err error) bool {
	// The context is judged by check before this; the policy sees none.
	if retry, _ := retryablehttp.ErrorPropagatedRetryPolicy(context.Background(), nil, err); !retry {
		return false
	}
	var dnsErr *net.DNSError
	return !errors.As(err, &dnsErr) || !dnsErr.IsNotFound
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// call is one logical call's retry state. go-retryablehttp asks its
// CheckRetry, then its Backoff; the wait is decided once, in check, where
// the context is at hand, so that the call can give up before sleeping
// past its deadline instead of after.
type call struct {
	c          *Client
	idempotent bool
	ownLimit   bool // see request.ownLimit
	attempts   int
	seen       *http.Response // the answer check last saw
	charged    bool           // the budget was charged for this attempt, which was not retried
	wait       time.Duration
	gaveUp     error // why retries stopped early, if they did
	// retryAt is when, by the client's clock, the next attempt is due,
	// and res the limiter's token reserved for it, if any.
	retryAt time.Time
	res     *rate.Reservation
	// refused is the pause that stopped a retry at the last moment: the
	// call's error.
	refused error
}

// check is go-retryablehttp's CheckRetry. It sees each attempt once, and
// an answer it did not retry a second time, once its body has been read
// (with the error of reading it, if any).
func (k *call) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	first := resp == nil || resp != k.seen
	if first {
		k.attempts++
		k.seen = resp
		k.charged = false
		if resp != nil {
			k.c.observe(resp, k.c.now(), k.ownLimit)
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !first && k.charged {
		// A failed answer already judged not worth a retry: reading its
		// body changes neither that nor the budget, which it has paid.
		return false, nil
	}
	if err != nil && !transportRetryable(err) {
		// Not the API's failure: the budget is not charged.
		k.gaveUp = ErrCannotSucceed
		return false, nil
	}
	var tooLarge *tooLargeError
	if !retryable(resp, err) || errors.As(err, &tooLarge) {
		// An answer: the budget is credited once the call ends (see
		// Client.do), so that an answer whose body then fails to read is
		// not counted as a success first.
		return false, nil
	}
	k.c.budget.failure()
	k.charged = true
	p := k.c.policy
	if !k.idempotent || k.attempts > p.MaxRetries {
		return false, nil
	}
	if !k.c.budget.allows() {
		k.gaveUp = ErrRetryBudget
		return false, nil
	}
	wait := p.backoff(k.attempts - 1)
	if resp != nil {
		if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), k.c.now()); ok {
			if ra > p.MaxRetryAfter {
				k.gaveUp = ErrRetryAfterTooLong
				return false, nil
			}
			wait = max(wait, ra)
		}
	}
	// The client-wide pause, which this answer or another may have begun,
	// is a Retry-After for every call.
	now := k.c.now()
	if pz := k.c.quota.pausedAt(now); pz != nil {
		left := pz.until.Sub(now)
		if left > p.MaxRetryAfter {
			k.gaveUp = ErrRetryAfterTooLong
			return false, nil
		}
		wait = max(wait, left)
	}
	// A retry spends the quota as a first attempt does.
	var res *rate.Reservation
	if lim := k.c.quota.lim.Load(); lim != nil {
		if PriorityOf(ctx) == PriorityLow {
			if ok, _ := k.c.quota.admitLow(lim, k.c.now); !ok {
				k.gaveUp = ErrRetryThrottled
				return false, nil
			}
		} else {
			r, at := k.c.quota.reserve(lim, k.c.now)
			if !r.OK() {
				k.gaveUp = ErrRetryThrottled
				return false, nil
			}
			res, wait = r, max(wait, r.DelayFrom(at))
		}
	}
	// The deadline is on the real clock, whatever WithClock says.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		if res != nil {
			k.c.quota.cancel(res, k.c.now)
		}
		k.gaveUp = fmt.Errorf("%w (wait %s)", ErrDeadlineTooClose, wait.Round(time.Millisecond))
		return false, nil
	}
	k.wait, k.res, k.retryAt = wait, res, now.Add(wait)
	return true, nil
}

// prepare is go-retryablehttp's PrepareRetry, run when a retry's wait is
// over. A pause that began during the wait, by another call's answer,
// stops the retry: it is checked as of when the retry was due, so that a
// clock that did not move with the wait (a test's) does not hold it back.
func (k *call) prepare(*http.Request) error {
	k.res = nil // spent on this attempt
	now := k.c.now()
	if k.retryAt.After(now) {
		now = k.retryAt
	}
	if err := k.c.pausedErr(now); err != nil {
		k.refused = err
		return err
	}
	if k.ownLimit {
		if err := k.c.lookupPausedErr(now); err != nil {
			k.refused = err
			return err
		}
	}
	return nil
}

func (k *call) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return k.wait }
