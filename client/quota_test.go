package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const productRoute = "GET /v1/products/{gtin}"

// TestPauseAfter503RetryAfter: a 503 with Retry-After 3600 pauses the
// whole client for the cap, 5 minutes: every call meanwhile, on any route
// and at any priority, fails at once unsent; then calls go out again.
func TestPauseAfter503RetryAfter(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503, RetryAfter: time.Hour, Route: productRoute})},
		client:  []client.Option{client.WithClock(clk.Now)},
	})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN
	start := clk.Now()

	_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
	requireAPIError(t, err, 503, client.CodeUnavailable)
	if !errors.Is(err, client.ErrRetryAfterTooLong) {
		t.Errorf("err = %v, want ErrRetryAfterTooLong: an hour is past MaxRetryAfter", err)
	}
	if n := srv.Requests(""); n != 1 {
		t.Fatalf("%d request(s) reached the sandbox, want 1", n)
	}
	if st := c.Stats(); !st.PausedUntil.Equal(start.Add(client.DefaultMaxPause)) || st.PauseStatus != 503 || st.Pauses != 1 {
		t.Errorf("Stats %+v, want paused by a 503 until %s (the cap)", st, start.Add(client.DefaultMaxPause))
	}

	clk.Add(10 * time.Second)
	want := client.DefaultMaxPause - 10*time.Second
	const calls = 100
	errs := make([]error, calls)
	durs := make([]time.Duration, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			cctx := ctx
			if i%2 == 1 {
				cctx = client.WithPriority(ctx, client.PriorityLow)
			}
			t0 := time.Now()
			if i%3 == 0 {
				_, _, errs[i] = c.Enterprises.List(cctx, nil) // another route: the pause is client-wide
			} else {
				_, _, errs[i] = c.Products.ByGTIN(cctx, gtin, nil)
			}
			durs[i] = time.Since(t0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		var ue *client.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("call %d: err = %v (%T), want an *UnavailableError", i, err, err)
		}
		if ue.RetryAfter != want || !ue.Until.Equal(start.Add(client.DefaultMaxPause)) {
			t.Errorf("call %d: RetryAfter %s until %s, want %s until %s", i, ue.RetryAfter, ue.Until, want, start.Add(client.DefaultMaxPause))
		}
		requireSentinel(t, err, client.ErrUnavailable)
		if durs[i] > time.Second {
			t.Errorf("call %d took %s to be refused", i, durs[i])
		}
	}
	if n := srv.Requests(""); n != 1 {
		t.Errorf("%d request(s) reached the sandbox during the pause, want none", n-1)
	}
	if st := c.Stats(); st.Paused != calls {
		t.Errorf("Stats.Paused = %d, want %d", st.Paused, calls)
	}

	// Past the pause, and the registry back: calls go out again.
	if err := srv.SetFaults(); err != nil {
		t.Fatal(err)
	}
	clk.Add(want)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
	if n := srv.Requests(""); n != 2 {
		t.Errorf("%d request(s) reached the sandbox, want 2", n)
	}
	if st := c.Stats(); !st.PausedUntil.IsZero() || st.PauseStatus != 0 {
		t.Errorf("Stats %+v after the pause, want none in force", st)
	}
}

// bare429 answers 429 without Retry-After or RateLimit-* while storm is
// set, in front of the sandbox, and counts what it answers.
type bare429 struct {
	storm    atomic.Bool
	answered atomic.Int64
}

func (b *bare429) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !b.storm.Load() {
			next.ServeHTTP(w, r)
			return
		}
		b.answered.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"status":429,"code":"rate_limited","title":"Too many requests"}`))
	})
}

// TestPause429WithoutHeadersDoubles: a 429 that says nothing of when to
// come back pauses for a second, then 2, 4, … up to the cap; a success
// starts again from a second.
func TestPause429WithoutHeadersDoubles(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	b := &bare429{}
	b.storm.Store(true)
	srv, c := setupWith(t, fixture{
		client: []client.Option{client.WithClock(clk.Now), noRetries(), client.WithMaxPause(8 * time.Second)},
		wrap:   b.wrap,
	})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN

	storm := func(want time.Duration) {
		t.Helper()
		sent := b.answered.Load()
		_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
		var rl *client.RateLimitError
		if !errors.As(err, &rl) || rl.Err == nil || rl.Err.StatusCode != 429 {
			t.Fatalf("err = %v, want the API's 429", err)
		}
		if rl.RetryAfter != want {
			t.Errorf("429's RetryAfter = %s, want the pause, %s", rl.RetryAfter, want)
		}
		if st := c.Stats(); !st.PausedUntil.Equal(clk.Now().Add(want)) || st.PauseStatus != 429 {
			t.Errorf("Stats %+v, want paused by a 429 for %s", st, want)
		}
		// Within the pause: refused unsent, at either priority.
		clk.Add(want - time.Millisecond)
		for _, p := range []client.Priority{client.PriorityHigh, client.PriorityLow} {
			_, _, err = c.Products.ByGTIN(client.WithPriority(ctx, p), gtin, nil)
			if !errors.As(err, &rl) || rl.Err != nil || rl.Throttled || rl.RetryAfter != time.Millisecond {
				t.Errorf("%s priority in the pause: err = %v, want a pause refusal with 1ms left", p, err)
			}
			requireSentinel(t, err, client.ErrRateLimited)
		}
		if n := b.answered.Load() - sent; n != 1 {
			t.Errorf("%d request(s) sent, want 1", n)
		}
		clk.Add(time.Millisecond)
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 8} {
		storm(want * time.Second)
	}

	b.storm.Store(false)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
		t.Fatalf("after the storm: %v", err)
	}
	b.storm.Store(true)
	storm(time.Second)
}

// TestRetryWaitsOutThePause: a call that retries after a 503's
// Retry-After does not go out before the pause ends, and calls made
// meanwhile are refused.
func TestRetryWaitsOutThePause(t *testing.T) {
	t.Parallel()
	var first atomic.Bool
	first.Store(true)
	arrived := make(chan time.Time, 4)
	srv, c := setupWith(t, fixture{
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- time.Now()
				if first.CompareAndSwap(true, false) {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN
	done := make(chan error, 1)
	go func() {
		_, resp, err := c.Products.ByGTIN(ctx, gtin, nil)
		if err == nil && resp.Attempts != 2 {
			err = errors.New("answered in one attempt")
		}
		done <- err
	}()
	t0 := <-arrived
	// The 503 is in; wait until the client has read it (its pause shows).
	for c.Stats().PausedUntil.IsZero() {
		select {
		case err := <-done:
			t.Fatalf("the call ended before its retry: %v", err)
		default:
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising by duration
	}
	_, _, err := c.Enterprises.List(ctx, nil)
	var ue *client.UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("a call during the retry's wait: err = %v, want an *UnavailableError", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the retried call: %v", err)
	}
	if t1 := <-arrived; t1.Sub(t0) < time.Second {
		t.Errorf("the retry went out %s after the 503, inside the 1s pause", t1.Sub(t0))
	}
	if len(arrived) != 0 {
		t.Errorf("%d more request(s) arrived", len(arrived))
	}
}

// TestUpstreamLimitCapsConcurrentCalls: 200 calls at once under a limit
// of 50/s in bursts of 5: at most the burst plus what the rate refills
// before the deadlines reach the sandbox; the rest fail at once, never
// past their deadline.
func TestUpstreamLimitCapsConcurrentCalls(t *testing.T) {
	t.Parallel()
	const (
		calls    = 200
		deadline = 100 * time.Millisecond
		perSec   = 50
		burst    = 5
	)
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithRateLimit(0, 0)},
		client:  []client.Option{client.WithUpstreamLimit(perSec, burst), noRetries()},
	})
	parent := ctxT(t)
	gtin := srv.Demo()[0].GTIN

	errs := make([]error, calls)
	durs := make([]time.Duration, calls)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(parent, deadline)
			defer cancel()
			t0 := time.Now()
			_, _, errs[i] = c.Products.ByGTIN(ctx, gtin, nil)
			durs[i] = time.Since(t0)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	sent := srv.Requests(productRoute)
	if limit := burst + int64(perSec*elapsed.Seconds()) + 1; sent > limit {
		t.Errorf("%d calls reached the sandbox in %s, over burst + rate·elapsed = %d", sent, elapsed, limit)
	}
	if sent <= burst {
		t.Errorf("%d calls reached the sandbox, want more than the burst: calls whose token comes before their deadline wait for it", sent)
	}
	throttled, answered := 0, 0
	for i, err := range errs {
		if err == nil {
			answered++
			continue
		}
		var rl *client.RateLimitError
		if errors.As(err, &rl) && rl.Throttled {
			throttled++
			requireSentinel(t, err, client.ErrRateLimited)
			if rl.Priority != client.PriorityHigh || rl.RetryAfter <= 0 {
				t.Errorf("call %d: %+v, want a high-priority refusal saying when a token comes", i, rl)
			}
			if durs[i] >= deadline/2 {
				t.Errorf("call %d was refused after %s, not at once", i, durs[i])
			}
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d: err = %v, want success, a throttle or its deadline", i, err)
		}
	}
	for i, d := range durs {
		if d > deadline+100*time.Millisecond {
			t.Errorf("call %d returned %s after its start, past its %s deadline", i, d, deadline)
		}
	}
	// A call whose token came just before its deadline may have gone
	// out, or ended waiting: only the bounds are exact.
	if notSent := calls - int(sent); throttled > notSent || answered > int(sent) || throttled < notSent-int(sent) {
		t.Errorf("%d calls answered, %d throttled, %d sent of %d", answered, throttled, sent, calls)
	}
	if st := c.Stats(); st.ThrottledHigh != int64(throttled) || st.ThrottledLow != 0 {
		t.Errorf("Stats %+v, want %d high-priority calls throttled", st, throttled)
	}
}

// TestUpstreamLimitFollowsTheAPI: the API's RateLimit-Limit, lower than
// the ceiling, is the limit the client keeps. The clock stands still, so
// the limiter refills nothing and the count is exact.
func TestUpstreamLimitFollowsTheAPI(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithRateLimit(2, 2), sandbox.WithClock(clk.Now)},
		client:  []client.Option{client.WithUpstreamLimit(1000, 100), client.WithClock(clk.Now), noRetries()},
	})
	parent := ctxT(t)
	gtin := srv.Demo()[0].GTIN
	if _, resp, err := c.Products.ByGTIN(parent, gtin, nil); err != nil || resp.RateLimit.Limit != 2 {
		t.Fatalf("first call: %v, %+v; want an answer saying the limit is 2", err, resp)
	}
	clk.Add(time.Second) // the sandbox's bucket is whole again; the client's is full

	const calls = 30
	before := srv.Requests(productRoute)
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for range calls {
		wg.Go(func() {
			// Long enough for an answer on a loaded machine, shorter than
			// the half second the limiter, at 2 a second, would make the
			// third call wait.
			ctx, cancel := context.WithTimeout(parent, 400*time.Millisecond)
			defer cancel()
			_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
			var rl *client.RateLimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &rl) && rl.Err == nil:
				refused.Add(1)
			default:
				t.Errorf("err = %v, want success or a refusal unsent", err)
			}
		})
	}
	wg.Wait()
	if sent := srv.Requests(productRoute) - before; sent != 2 || ok.Load() != 2 || refused.Load() != calls-2 {
		t.Errorf("sent %d, %d answered, %d refused; want 2 sent and answered (the API's limit, not the ceiling's 100), %d refused",
			sent, ok.Load(), refused.Load(), calls-2)
	}
	st := c.Stats()
	if st.ThrottledHigh+st.Paused != calls-2 || st.ThrottledHigh == 0 {
		t.Errorf("Stats %+v, want the %d refusals counted, most by the limiter", st, calls-2)
	}
}

// TestLowPriorityLeavesAReserve: low-priority calls take tokens only while
// half the burst stays free, and never wait; high-priority calls still get
// the reserve, and wait for a token when their deadline allows.
func TestLowPriorityLeavesAReserve(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithRateLimit(0, 0)},
		client:  []client.Option{client.WithUpstreamLimit(10, 10), client.WithClock(clk.Now), noRetries()},
	})
	ctx := ctxT(t)
	low := client.WithPriority(ctx, client.PriorityLow)
	gtin := srv.Demo()[0].GTIN
	before := srv.Requests(productRoute)

	for i := range 5 {
		if _, _, err := c.Products.ByGTIN(low, gtin, nil); err != nil {
			t.Fatalf("low-priority call %d with %d tokens free: %v", i, 10-i, err)
		}
	}
	t0 := time.Now()
	_, _, err := c.Products.ByGTIN(low, gtin, nil) // 5 left: the reserve
	var rl *client.RateLimitError
	if !errors.As(err, &rl) || !rl.Throttled || rl.Priority != client.PriorityLow || rl.RetryAfter <= 0 {
		t.Fatalf("low-priority call into the reserve: err = %v, want a low-priority throttle", err)
	}
	requireSentinel(t, err, client.ErrRateLimited)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("a low-priority refusal took %s; it must not wait", d)
	}

	for i := range 5 {
		if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
			t.Fatalf("high-priority call %d on the reserve: %v", i, err)
		}
	}
	// Drained: a high-priority call whose deadline comes before the next
	// token (0.1 s) is refused at once; one with time to spare waits.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := c.Products.ByGTIN(short, gtin, nil); !errors.As(err, &rl) || !rl.Throttled || rl.Priority != client.PriorityHigh {
		t.Errorf("high-priority call, deadline before the token: err = %v, want a throttle", err)
	}
	t0 = time.Now()
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
		t.Errorf("high-priority call with time to wait: %v", err)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Errorf("the call went after %s, before its token (0.1 s)", d)
	}
	if n := srv.Requests(productRoute) - before; n != 11 {
		t.Errorf("%d calls sent, want 11", n)
	}
	if st := c.Stats(); st.ThrottledLow != 1 || st.ThrottledHigh != 1 || st.Paused != 0 {
		t.Errorf("Stats %+v, want 1 low and 1 high throttled", st)
	}
}

func TestQuotaOptionsAreChecked(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]client.Option{
		"zero pause":     client.WithMaxPause(0),
		"negative pause": client.WithMaxPause(-time.Second),
		"zero rate":      client.WithUpstreamLimit(0, 5),
		"NaN rate":       client.WithUpstreamLimit(nanRate(), 5),
		"zero burst":     client.WithUpstreamLimit(10, 0),
	} {
		if _, err := client.New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func nanRate() float64 {
	var zero float64
	return zero / zero
}
