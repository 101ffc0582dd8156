package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffIsFullJitterUnderTheCeiling(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n := range 8 {
		ceiling := min(p.MaxDelay, p.BaseDelay<<n)
		var sum time.Duration
		var low, high bool
		const draws = 2000
		for range draws {
			d := p.backoff(n)
			if d < 0 || d >= ceiling {
				t.Fatalf("retry %d: wait %s outside [0, %s)", n, d, ceiling)
			}
			low = low || d < ceiling/4
			high = high || d > ceiling*3/4
			sum += d
		}
		// Full jitter spreads waits over the whole range; a fixed or
		// "equal jitter" wait would never fall in the bottom quarter.
		if !low || !high {
			t.Errorf("retry %d: waits do not cover [0, %s): low %v high %v", n, ceiling, low, high)
		}
		if mean := sum / draws; mean < ceiling*35/100 || mean > ceiling*65/100 {
			t.Errorf("retry %d: mean wait %s, want about %s", n, mean, ceiling/2)
		}
	}
	if d := (RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Second}).backoff(200); d >= time.Second {
		t.Errorf("a huge retry number overflowed the ceiling: %s", d)
	}
}

func TestBudgetStopsRetriesAfterFailuresAndRefills(t *testing.T) {
	t.Parallel()
	b := newBudget(DefaultRetryPolicy()) // 10 tokens, 0.1 per success
	for i := range 4 {
		b.failure()
		if !b.allows() {
			t.Fatalf("budget closed after %d failures, want it open until more than half is spent", i+1)
		}
	}
	b.failure() // 5 tokens left: no longer more than half
	if b.allows() {
		t.Fatal("budget still allows retries with half its tokens spent")
	}
	b.success() // 5.1 tokens: more than half again, as in gRPC's throttling
	if !b.allows() {
		t.Fatal("a success that lifted the budget over half did not reopen it")
	}
	b.failure() // 4.1: one failure closes it again, so a flapping API gets few retries
	if b.allows() {
		t.Fatal("budget open at 4.1 of 10 tokens")
	}
	for range 1000 {
		b.success()
	}
	if got := b.milli.Load(); got != 10_000 {
		t.Errorf("budget holds %d milli-tokens after many successes, want the cap 10000", got)
	}
	for range 1000 {
		b.failure()
	}
	if got := b.milli.Load(); got != 0 {
		t.Errorf("budget holds %d milli-tokens after many failures, want 0", got)
	}
	var off *budget // a policy with BudgetTokens 0
	off.failure()
	off.success()
	if !off.allows() {
		t.Error("a disabled budget refused a retry")
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999", 86400 * time.Second, true}, // capped: a hostile header cannot overflow
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseCacheControl(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want CacheControl
	}{
		{"public, max-age=300, stale-while-revalidate=60, stale-if-error=86400",
			CacheControl{MaxAge: 300 * time.Second, StaleWhileRevalidate: time.Minute, StaleIfError: 24 * time.Hour, Present: true}},
		{"no-store", CacheControl{NoStore: true, Present: true}},
		{`MAX-AGE="30"`, CacheControl{MaxAge: 30 * time.Second, Present: true}},
		{"max-age=-5", CacheControl{Present: true}},
		{"public", CacheControl{}},
		{"", CacheControl{}},
	} {
		if diff := cmp.Diff(tc.want, parseCacheControl(tc.in)); diff != "" {
			t.Errorf("parseCacheControl(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestRateStateFailsFastOnlyWhileSpent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	spent := func(at time.Time) (RateLimit, bool) {
		var rl *RateLimitError
		if err := c.pausedErr(at); errors.As(err, &rl) {
			return rl.Limit, true
		}
		return RateLimit{}, false
	}
	answer := func(h http.Header) { c.observe(&http.Response{StatusCode: 200, Header: h}, now, false) }
	if _, spent := spent(now); spent {
		t.Fatal("a client that has seen no answer thinks its limit is spent")
	}
	h := http.Header{}
	h.Set("RateLimit-Limit", "100")
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", "2")
	answer(h)
	rl, ok := spent(now.Add(time.Second))
	if !ok || rl.Limit != 100 || !rl.Reset.Equal(now.Add(2*time.Second)) {
		t.Fatalf("after Remaining 0, Reset 2: spent %v, %+v", ok, rl)
	}
	if _, spent := spent(now.Add(2 * time.Second)); spent {
		t.Error("still spent at the reset time")
	}
	h.Set("RateLimit-Remaining", "5")
	answer(h)
	if _, spent := spent(now); spent {
		t.Error("spent although the API says 5 calls remain")
	}
	garbled := http.Header{}
	garbled.Set("RateLimit-Limit", "lots")
	garbled.Set("RateLimit-Remaining", "0")
	answer(garbled)
	if got := c.limits.v.Load(); got.Remaining != 5 {
		t.Errorf("a garbled header replaced the known limit: %+v", got)
	}
}

func TestRetryPolicyValidation(t *testing.T) {
	t.Parallel()
	good := DefaultRetryPolicy()
	if err := good.validate(); err != nil {
		t.Fatalf("DefaultRetryPolicy invalid: %v", err)
	}
	if err := (RetryPolicy{}).validate(); err != nil {
		t.Errorf("the zero policy (no retries, no budget) is invalid: %v", err)
	}
	for name, mut := range map[string]func(*RetryPolicy){
		"negative retries":   func(p *RetryPolicy) { p.MaxRetries = -1 },
		"no base delay":      func(p *RetryPolicy) { p.BaseDelay = 0 },
		"max below base":     func(p *RetryPolicy) { p.MaxDelay = p.BaseDelay / 2 },
		"negative after cap": func(p *RetryPolicy) { p.MaxRetryAfter = -time.Second },
		"budget without fill": func(p *RetryPolicy) {
			p.BudgetRatio = 0
		},
	} {
		p := good
		mut(&p)
		if err := p.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(WithRetryPolicy(p)); err == nil {
			t.Errorf("%s: New accepted the policy", name)
		}
	}
}

func newTestClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(append([]Option{WithBaseURL("http://127.0.0.1:1")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func answer(status int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h}
}

func TestCheckDecidesRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		idempotent bool
		resp       *http.Response
		err        error
		retry      bool
		gaveUp     error
	}{
		{"503 on a GET", true, answer(503), nil, true, nil},
		{"502", true, answer(502), nil, true, nil},
		{"504", true, answer(504), nil, true, nil},
		{"429", true, answer(429, "Retry-After", "1"), nil, true, nil},
		{"connection refused", true, nil, errors.New("connection refused"), true, nil},
		{"unknown host", true, nil, &url.Error{Op: "Get", URL: "https://x.invalid", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, false, ErrCannotSucceed},
		{"redirect loop", true, nil, &url.Error{Op: "Get", URL: "/loop", Err: errors.New("stopped after 10 redirects")}, false, ErrCannotSucceed},
		{"unsupported scheme", true, nil, &url.Error{Op: "Get", URL: "ftp://x", Err: errors.New(`unsupported protocol scheme "ftp"`)}, false, ErrCannotSucceed},
		{"500 is not retried", true, answer(500), nil, false, nil},
		{"501 is not retried", true, answer(501), nil, false, nil},
		{"404", true, answer(404), nil, false, nil},
		{"200", true, answer(200), nil, false, nil},
		{"POST without a key", false, answer(503), nil, false, nil},
		{"Retry-After over the cap", true, answer(503, "Retry-After", "3600"), nil, false, ErrRetryAfterTooLong},
		{"too large a body", true, answer(200), &TooLargeError{}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t)
			k := &call{c: c, idempotent: tc.idempotent}
			retry, err := k.check(ctx, tc.resp, tc.err)
			if retry != tc.retry || err != nil {
				t.Errorf("check = %v, %v; want %v, nil", retry, err, tc.retry)
			}
			if !errors.Is(k.gaveUp, tc.gaveUp) || (tc.gaveUp == nil) != (k.gaveUp == nil) {
				t.Errorf("gave up with %v, want %v", k.gaveUp, tc.gaveUp)
			}
			if k.attempts != 1 {
				t.Errorf("counted %d attempts, want 1", k.attempts)
			}
		})
	}
}

func TestCheckHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	k := &call{c: c, idempotent: true}
	if retry, _ := k.check(context.Background(), answer(503, "Retry-After", "2"), nil); !retry {
		t.Fatal("a 503 with Retry-After 2 under the cap was not retried")
	}
	if k.wait < 2*time.Second {
		t.Errorf("waits %s before retrying, the API asked for 2s", k.wait)
	}
}

func TestCheckGivesUpRatherThanSleepPastTheDeadline(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	k := &call{c: c, idempotent: true}
	retry, _ := k.check(ctx, answer(503, "Retry-After", "5"), nil)
	if retry || !errors.Is(k.gaveUp, ErrDeadlineTooClose) {
		t.Errorf("retry %v, gave up with %v; want no retry and ErrDeadlineTooClose", retry, k.gaveUp)
	}
}

func TestCheckStopsWhenTheBudgetIsSpent(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	retried := 0
	for range 20 {
		k := &call{c: c, idempotent: true}
		if retry, _ := k.check(context.Background(), answer(503), nil); retry {
			retried++
		} else if !errors.Is(k.gaveUp, ErrRetryBudget) {
			t.Fatalf("stopped retrying with %v, want ErrRetryBudget", k.gaveUp)
		}
	}
	// Ten tokens, retries only above five: the first four failures may be
	// retried, every later one may not.
	if retried != 4 {
		t.Errorf("%d of 20 failures retried, want 4", retried)
	}
}

func TestCheckCountsAnAnswerOnce(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	k := &call{c: c, idempotent: true}
	resp := answer(200)
	k.check(context.Background(), resp, nil)
	// go-retryablehttp asks again with the same answer when reading its
	// body failed; that is still the first attempt.
	if retry, _ := k.check(context.Background(), resp, &TruncatedError{}); !retry {
		t.Error("a truncated body on a GET was not retried")
	}
	if k.attempts != 1 {
		t.Errorf("counted %d attempts for one answer, want 1", k.attempts)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]Option{
		"relative base URL":     WithBaseURL("/v1"),
		"ftp base URL":          WithBaseURL("ftp://example.org"),
		"credentials in URL":    WithBaseURL("https://user:pw@example.org"),
		"query in URL":          WithBaseURL("https://example.org/?key=x"),
		"key with a newline":    WithAPIKey("abc\r\nX-Evil: 1"),
		"negative timeout":      WithTimeout(-time.Second),
		"zero max size":         WithMaxResponseSize(0),
		"user agent with a CR":  WithUserAgent("shop\rX"),
		"negative retry policy": WithRetryPolicy(RetryPolicy{MaxRetries: -1}),
	} {
		if _, err := New(opt); err == nil {
			t.Errorf("%s: New accepted it", name)
		} else if !strings.HasPrefix(err.Error(), "qcsdk: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
	c, err := New(WithBaseURL("https://api.example.org/prefix/"))
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "https://api.example.org/prefix" {
		t.Errorf("base URL = %q, want the prefix kept and the slash trimmed", c.base)
	}
}

func TestClientNeverPrintsItsKey(t *testing.T) {
	t.Parallel()
	const key = "sk_live_0123456789abcdef"
	c := newTestClient(t, WithAPIKey(key))
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c)} {
		if strings.Contains(s, key) || strings.Contains(s, "0123456789") {
			t.Errorf("the key shows in %q", s)
		}
	}
}

func TestHTTPClientIsCopied(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: time.Second}
	c := newTestClient(t, WithHTTPClient(hc))
	hc.Timeout = time.Hour
	if c.http == hc || c.http.Timeout != time.Second {
		t.Error("the client shares the caller's *http.Client; a later change leaks in")
	}
}
