package client_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// outage is every route of the API answering 502, which carries no
// Retry-After: the client's waits are its own backoff, milliseconds here.
var outage = sandbox.Fault{Kind: sandbox.FaultError, Status: 502}

// budgetPolicy is the default policy, budget included (10 tokens, 0.1 per
// success, 3 retries), with waits of milliseconds.
func budgetPolicy() client.RetryPolicy {
	p := client.DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay = time.Millisecond, 5*time.Millisecond
	return p
}

const outageCalls = 200

// TestBudgetLimitsAmplificationInAnOutage measures how many attempts the
// API sees per logical call while it is down, with the default budget and
// without, and that the budget reopens once the API is back.
func TestBudgetLimitsAmplificationInAnOutage(t *testing.T) {
	t.Parallel()
	p := budgetPolicy()

	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		srv, c := setupWith(t, fixture{
			sandbox: []sandbox.Option{sandbox.WithFaults(outage)},
			client:  []client.Option{client.WithRetryPolicy(p)},
		})
		ctx := ctxT(t)
		gtin := srv.Demo()[0].GTIN
		attempts := make([]int64, outageCalls)
		for i := range outageCalls {
			before := srv.Requests("")
			_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
			attempts[i] = srv.Requests("") - before
			requireAPIError(t, err, 502, client.CodeUnavailable)
			// The first call spends 4 of the 10 tokens on its attempts;
			// the second takes the budget to half, and from then on no
			// call is retried.
			if i >= 1 && !errors.Is(err, client.ErrRetryBudget) {
				t.Errorf("call %d: err = %v, want ErrRetryBudget once the budget is spent", i+1, err)
			}
		}
		if attempts[0] != int64(p.MaxRetries+1) {
			t.Errorf("first call of the outage: %d attempts, want %d: the budget starts full", attempts[0], p.MaxRetries+1)
		}
		const engaged = 10 // calls from the 11th on
		total, after := sum(attempts), sum(attempts[engaged:])
		overall := float64(total) / outageCalls
		steady := float64(after) / float64(outageCalls-engaged)
		t.Logf("sequential outage, default budget: %d attempts for %d calls: %.3f overall, %.3f from call %d on (first calls: %v)",
			total, outageCalls, overall, steady, engaged+1, attempts[:engaged])
		if steady > 1.10 {
			t.Errorf("amplification %.3f once the budget engaged, want <= 1.10", steady)
		}
		if limit := 1.10 + float64(p.MaxRetries)/outageCalls; overall > limit {
			t.Errorf("overall amplification %.3f, want <= %.3f", overall, limit)
		}

		// Recovery. Each success gives back a tenth of a token; a retry
		// needs more than half the 10 tokens left after the failed
		// attempt has taken its own.
		gtins := make([]client.GTIN, 0, 100)
		for _, d := range srv.Demo() {
			gtins = append(gtins, d.GTIN)
		}
		healthy := func(n int) {
			t.Helper()
			if err := srv.SetFaults(); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if _, _, err := c.Products.ByGTIN(ctx, gtins[i%len(gtins)], nil); err != nil {
					t.Fatalf("healthy call %d: %v", i, err)
				}
			}
			if err := srv.SetFaults(outage); err != nil {
				t.Fatal(err)
			}
		}
		failing := func() (int64, error) {
			t.Helper()
			before := srv.Requests("")
			_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
			requireAPIError(t, err, 502, client.CodeUnavailable)
			return srv.Requests("") - before, err
		}
		healthy(50) // 5 tokens: the next failure leaves 4, not enough
		if n, err := failing(); n != 1 || !errors.Is(err, client.ErrRetryBudget) {
			t.Errorf("after 50 successes: %d attempts, err %v; want 1 and ErrRetryBudget", n, err)
		}
		healthy(100) // full again
		n, err := failing()
		if n != int64(p.MaxRetries+1) || errors.Is(err, client.ErrRetryBudget) {
			t.Errorf("after 100 successes: %d attempts, err %v; want %d, the budget recovered", n, err, p.MaxRetries+1)
		}
		t.Logf("recovery: a failing call after 100 successes was sent %d times", n)
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		srv, c := setupWith(t, fixture{
			sandbox: []sandbox.Option{sandbox.WithFaults(outage)},
			client:  []client.Option{client.WithRetryPolicy(p)},
		})
		ctx := ctxT(t)
		gtin := srv.Demo()[0].GTIN
		errs := make([]error, outageCalls)
		var wg sync.WaitGroup
		for i := range outageCalls {
			wg.Go(func() { _, _, errs[i] = c.Products.ByGTIN(ctx, gtin, nil) })
		}
		wg.Wait()
		stopped := 0
		for i, err := range errs {
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
				t.Fatalf("call %d: err = %v, want the API's 502", i, err)
			}
			if errors.Is(err, client.ErrRetryBudget) {
				stopped++
			}
		}
		total := srv.Requests("")
		overall := float64(total) / outageCalls
		t.Logf("concurrent outage, default budget: %d attempts for %d calls: %.3f; %d calls stopped by the budget",
			total, outageCalls, overall, stopped)
		// However the calls interleave, at most the tokens above half
		// the budget can pay for retries.
		if limit := 1.10 + p.BudgetTokens/2/outageCalls; overall > limit {
			t.Errorf("amplification %.3f, want <= %.3f", overall, limit)
		}
		if stopped < outageCalls*9/10 {
			t.Errorf("only %d of %d calls stopped by the budget", stopped, outageCalls)
		}
	})

	t.Run("budget_off", func(t *testing.T) {
		t.Parallel()
		off := p
		off.BudgetTokens, off.BudgetRatio = 0, 0
		srv, c := setupWith(t, fixture{
			sandbox: []sandbox.Option{sandbox.WithFaults(outage)},
			client:  []client.Option{client.WithRetryPolicy(off)},
		})
		ctx := ctxT(t)
		gtin := srv.Demo()[0].GTIN
		const workers = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []error
		for w := range workers {
			wg.Go(func() {
				for i := w; i < outageCalls; i += workers {
					_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
					var apiErr *client.APIError
					if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || errors.Is(err, client.ErrRetryBudget) {
						mu.Lock()
						bad = append(bad, err)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Errorf("%d calls failed otherwise than with the 502 after every retry, first: %v", len(bad), bad[0])
		}
		total := srv.Requests("")
		amp := float64(total) / outageCalls
		t.Logf("outage, budget off: %d attempts for %d calls: %.3f", total, outageCalls, amp)
		if want := int64(outageCalls * (p.MaxRetries + 1)); total != want {
			t.Errorf("%d attempts, want %d: every call retried %d times", total, want, p.MaxRetries)
		}
	})
}

// TestBudgetChargesOneTokenPerFailedAttempt follows the budget's
// arithmetic token by token, as RetryPolicy documents it: each failed
// attempt takes one token, each success gives back a tenth, and a retry
// needs more than half the 10 tokens left.
func TestBudgetChargesOneTokenPerFailedAttempt(t *testing.T) {
	t.Parallel()
	const route = "GET /v1/products/{gtin}"
	p := budgetPolicy()
	p.MaxRetries = 1
	fault := sandbox.Fault{Kind: sandbox.FaultError, Status: 502, Route: route}
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(fault)},
		client:  []client.Option{client.WithRetryPolicy(p)},
	})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN
	failing := func(step string, want int64) {
		t.Helper()
		before := srv.Requests(route)
		_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
		requireAPIError(t, err, 502, client.CodeUnavailable)
		if n := srv.Requests(route) - before; n != want {
			t.Errorf("%s: %d attempt(s), want %d", step, n, want)
		}
	}
	healthy := func(n int) {
		t.Helper()
		if err := srv.SetFaults(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := srv.SetFaults(fault); err != nil {
			t.Fatal(err)
		}
	}
	failing("call 1 (10 → 9, retried → 8)", 2)
	failing("call 2 (8 → 7, retried → 6)", 2)
	failing("call 3 (6 → 5, not above half)", 1)
	healthy(10) // 5 → 6.0
	failing("call 4 (6.0 → 5.0, not above half)", 1)
	healthy(11) // 5.0 → 6.1
	failing("call 5 (6.1 → 5.1, retried → 4.1)", 2)
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}
