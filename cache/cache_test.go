package cache_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// fakeClock is a clock the test moves by hand. A nil *fakeClock is the
// real clock, for helpers that take an optional one.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const productRoute = "GET /v1/products/{gtin}"

type env struct {
	srv   *sandbox.Server
	api   *client.Client
	cache *cache.Cache
	clock *fakeClock
}

// setup starts a sandbox and a cache in front of a client of it. Retries
// are fast and the budget off, so fault tests see the cache's behaviour,
// not the client's.
func setup(t *testing.T, opts ...cache.Option) *env {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}),
		client.WithLogKeys(srv.LogKeys()...)) // pinned: the tests count the calls a lookup makes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	clk := newFakeClock()
	c, err := cache.New(api, append([]cache.Option{cache.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{srv: srv, api: api, cache: c, clock: clk}
}

func (e *env) demo(verdict client.Verdict) client.GTIN {
	for _, d := range e.srv.Demo() {
		if d.Verdict == verdict {
			return d.GTIN
		}
	}
	panic("no demo product with verdict " + string(verdict))
}

func TestMissThenHit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	g := string(e.demo(client.VerdictCommitted))
	first, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	second, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("a hit returned another record than the miss stored")
	}
	if n := e.srv.Requests(productRoute); n != 1 {
		t.Errorf("the API saw %d lookups for two page views, want 1", n)
	}
	if s := e.cache.Stats(); s.Hits != 1 || s.Misses != 1 || s.Upstream != 1 {
		t.Errorf("stats %+v, want 1 hit, 1 miss, 1 upstream call", s)
	}
}

func TestThousandConcurrentMissesMakeOneCall(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Hold the answer long enough for every goroutine to be waiting on it.
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 200 * time.Millisecond, Route: productRoute})
	g := string(e.demo(client.VerdictCommitted))
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			st, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g))
			if err == nil && st.Key.GTIN != client.GTIN(g) {
				err = errors.New("answer for another product")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A call that slow is hedged once: the hedge shares its flight too.
	if n, h := e.srv.Requests(""), e.cache.Stats().Hedges; n-h != 1 || h > 1 {
		t.Errorf("1,000 concurrent misses made %d calls (%d of them hedges), want 1 and at most one hedge", n, h)
	}
	if s := e.cache.Stats(); s.Coalesced+s.Hits < 999 {
		t.Errorf("stats %+v: want the other 999 coalesced or hits", s)
	}
}

func TestACallerLeavesOnItsOwnContext(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 300 * time.Millisecond, Route: productRoute})
	g := string(e.demo(client.VerdictCommitted))
	patient := make(chan error, 1)
	go func() {
		_, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g))
		patient <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the impatient caller got %v, want its own deadline", err)
	}
	if err := <-patient; err != nil {
		t.Errorf("the patient caller got %v: the impatient one cancelled the shared fetch", err)
	}
	// The call lives as long as its first waiter, the impatient one,
	// waits; the patient one's key is then sent again.
	if n, h := e.srv.Requests(productRoute), e.cache.Stats().Hedges; n-h > 2 || h > 1 {
		t.Errorf("%d calls (%d of them hedges), want at most 2 and at most one hedge", n, h)
	}
}

func TestStaleWhileRevalidateServesAtOnceAndRefreshesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, cache.WithTTL(time.Minute), cache.WithStaleWhileRevalidate(time.Minute))
	g := string(e.demo(client.VerdictCommitted))
	ctx := context.Background()
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90 * time.Second) // past the TTL, within the stale window
	// Every lookup answers at once, with the stale entry, while the API is
	// slow; the one refresh they share runs behind them.
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 100 * time.Millisecond, Route: productRoute})
	for range 50 {
		if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); err != nil {
			t.Fatal(err)
		}
	}
	// The refresh runs behind the lookups: wait (bounded) for its effect.
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for s := e.cache.Stats(); s.Revalidated+s.Errors == 0; s = e.cache.Stats() {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh did not finish within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	s := e.cache.Stats()
	if s.StaleServed != 50 {
		t.Errorf("%d stale answers, want 50", s.StaleServed)
	}
	if s.Refreshes < 1 || e.srv.Requests(productRoute) > 1+s.Refreshes {
		t.Errorf("%d refreshes and %d calls after the first: want at most one call per refresh", s.Refreshes, e.srv.Requests(productRoute)-1)
	}
	if s.Refreshes > 2 {
		t.Errorf("%d refreshes for one key within one slow call, want 1 (2 if one finished before the last lookups)", s.Refreshes)
	}
	if s.Revalidated != s.Refreshes {
		t.Errorf("%d of %d refreshes were 304s; the record did not change, so all should be", s.Revalidated, s.Refreshes)
	}
}

func TestStaleIfErrorThenUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t, cache.WithTTL(time.Minute), cache.WithStaleWhileRevalidate(0), cache.WithMaxStale(10*time.Minute))
	g := string(e.demo(client.VerdictCommitted))
	ctx := context.Background()
	fresh, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
	e.clock.Advance(5 * time.Minute)
	stale, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil || stale != fresh {
		t.Fatalf("with the API down within max-stale: %v, %v; want the stored answer", stale, err)
	}
	if s := e.cache.Stats(); s.StaleIfError != 1 {
		t.Errorf("StaleIfError = %d, want 1", s.StaleIfError)
	}
	e.clock.Advance(10 * time.Minute) // past TTL + max-stale
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("past max-stale with the API down: %v, want ErrUnavailable (a badge shows unknown)", err)
	}
}

func TestNotListedIsCachedBriefly(t *testing.T) {
	t.Parallel()
	e := setup(t) // the sandbox says max-age=60 for a product not on the list
	g := string(e.srv.NotListedGTIN())
	ctx := context.Background()
	for range 3 {
		st, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
		if err != nil || st.Listed {
			t.Fatalf("not-listed product: %+v, %v", st, err)
		}
	}
	if n := e.srv.Requests(productRoute); n != 1 {
		t.Errorf("%d calls for three views of a not-listed product, want 1", n)
	}
	e.clock.Advance(61*time.Second + cache.DefaultStaleWhileRevalidate)
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(productRoute); n != 2 {
		t.Errorf("after the negative TTL: %d calls, want 2", n)
	}
}

func TestExpiredEntryIsRevalidatedWithItsETag(t *testing.T) {
	t.Parallel()
	e := setup(t, cache.WithTTL(time.Minute), cache.WithStaleWhileRevalidate(0))
	g := string(e.demo(client.VerdictCommitted))
	ctx := context.Background()
	first, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	again, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	if s := e.cache.Stats(); s.Revalidated != 1 {
		t.Errorf("Revalidated = %d, want 1 (a 304)", s.Revalidated)
	}
	if again != first {
		t.Error("a 304 should renew the entry and keep its record")
	}
	e.clock.Advance(30 * time.Second)
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); err != nil || e.srv.Requests(productRoute) != 2 {
		t.Errorf("the renewed entry was not fresh again: %v, %d calls", err, e.srv.Requests(productRoute))
	}
}

func TestAListingPageIsOneBatchCall(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var keys []client.ProductKey
	for ent := range 50 {
		for j := range 3 {
			p, _ := e.srv.Product(ent, j)
			keys = append(keys, client.ProductKey{GTIN: p.GTIN})
		}
	}
	page := keys[:40]
	items := e.cache.Statuses(context.Background(), page)
	for i, it := range items {
		if it.Err != nil || it.Status == nil || it.Status.Key.GTIN != page[i].GTIN {
			t.Fatalf("key %d: %+v", i, it)
		}
	}
	if n := e.srv.Requests(""); n != 1 {
		t.Errorf("a page of 40 unknown products made %d calls; want 1 batch call", n)
	}
	// A second view of the page is all hits.
	e.cache.Statuses(context.Background(), page)
	if n := e.srv.Requests(""); n != 1 {
		t.Errorf("the second view of the page called the API (%d calls in all)", n)
	}
	// 150 products of which 40 are known: 110 misses, 100 keys a call.
	for _, it := range e.cache.Statuses(context.Background(), keys) {
		if it.Err != nil {
			t.Fatal(it.Err)
		}
	}
	// (A call slower than the recent ones is hedged: a busy machine
	// may make one so.)
	if n, h := e.srv.Requests(""), e.cache.Stats().Hedges; n-h != 3 {
		t.Errorf("after 110 more misses: %d calls in all, %d of them hedges; want 3 besides the hedges", n, h)
	}
}

func TestConcurrentMissesAreBatched(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Slow the lone first call so that the others queue behind it.
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 100 * time.Millisecond})
	var wg sync.WaitGroup
	for ent := range 40 {
		p, _ := e.srv.Product(ent, 1)
		wg.Go(func() {
			st, err := statusByGTIN(e.cache, context.Background(), p.GTIN)
			if err != nil || st.Key.GTIN != p.GTIN {
				t.Errorf("%s: %+v, %v", p.GTIN, st, err)
			}
		})
	}
	wg.Wait()
	if calls := e.srv.Requests(""); calls > 5 {
		t.Errorf("40 concurrent misses made %d calls; batching should need a handful", calls)
	}
	if s := e.cache.Stats(); s.Batches < 1 {
		t.Errorf("no batch call was made: %+v", s)
	}
}

func TestRevokeAppliedIsNeverUndoneByAnOlderAnswer(t *testing.T) {
	t.Parallel()
	e := setup(t, cache.WithTTL(time.Minute), cache.WithStaleWhileRevalidate(0), cache.WithMaxStale(time.Hour))
	ctx := context.Background()
	g := string(e.demo(client.VerdictCommitted))
	before, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Revoke(before.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	page, _, err := e.api.Changes.List(ctx, nil)
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("feed: %v, %+v", err, page)
	}
	beforeChange := e.clock.Now()
	// Apply learns of the change by the real clock, which the cache's
	// must pass for its next answer to postdate it.
	if err := cache.Apply(ctx, e.cache.Store(), page.Data[0]); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	after, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	if d := client.Decide(after, now, 0); d.Verdict != client.VerdictWithdrawn {
		t.Errorf("after the revocation was applied: %s, want withdrawn", d.Verdict)
	}
	if n := e.srv.Requests(productRoute); n != 2 {
		t.Errorf("the API was asked %d times; want 2 (before, and once after the change)", n)
	}
	// An answer fetched before the revocation arrives late: it must lose.
	old := &cache.Entry{Status: before, Version: before.Version, Maker: before.Enterprise.ID,
		Fetched: beforeChange, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
	won, err := e.cache.Store().Set(ctx, g, old)
	if err != nil || won.Version <= before.Version {
		t.Errorf("an older answer replaced the revocation: %+v, %v", won, err)
	}
	// With the API down and the entry stale, the stale answer served is the
	// revoked one.
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
	e.clock.Advance(5 * time.Minute)
	stale, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	if d := client.Decide(stale, now, 0); d.Verdict != client.VerdictWithdrawn {
		t.Errorf("stale-if-error served %s, want the revoked answer", d.Verdict)
	}
}

func TestBadInputIsRefusedWithoutACall(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, g := range []string{"", "123", "6901234567890", "abcdefghijklm"} {
		if _, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g)); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("Status(%q) = %v, want ErrInvalidInput", g, err)
		}
	}
	if _, err := e.cache.Status(context.Background(), client.ProductKey{USCC: "91330100MA0000001F"}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("a USCC key without a brand: %v, want ErrInvalidInput", err)
	}
	if n := e.srv.Requests(""); n != 0 {
		t.Errorf("bad input reached the API %d times", n)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	api, _ := client.New()
	for name, o := range map[string]cache.Option{
		"nil store":          cache.WithStore(nil),
		"negative TTL":       cache.WithTTL(-time.Second),
		"zero timeout":       cache.WithFetchTimeout(0),
		"zero max entries":   cache.WithMaxEntries(0),
		"negative max-stale": cache.WithMaxStale(-1),
	} {
		if _, err := cache.New(api, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := cache.New(nil); err == nil {
		t.Error("a nil client was accepted")
	}
}

func TestLookupsDuringAndAfterClose(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	warm := string(e.demo(client.VerdictCommitted))
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(warm)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			p, _ := e.srv.Product(20+i%20, i/20)
			statusByGTIN(e.cache, ctx, p.GTIN) // may race Close: must not panic or hang
		})
	}
	e.cache.Close()
	wg.Wait()
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(warm)); err != nil {
		t.Errorf("a stored answer after Close: %v", err)
	}
	p, _ := e.srv.Product(45, 3)
	if _, err := statusByGTIN(e.cache, ctx, p.GTIN); err == nil {
		t.Error("a miss after Close was answered; it needs the API, which Close has stopped")
	}
}

// The products of one maker hold one copy of its records between them,
// whichever path fetched them: that is most of a cached status's memory.
func TestStatusesOfOneMakerShareItsRecords(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var keys []client.ProductKey
	for j := range 3 {
		p, ok := e.srv.Product(12, j)
		if !ok {
			t.Fatalf("no product %d of enterprise 12", j)
		}
		keys = append(keys, client.ProductKey{GTIN: p.GTIN})
	}
	one, err := statusByGTIN(e.cache, ctx, keys[0].GTIN)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range e.cache.Statuses(ctx, keys[1:]) {
		if it.Err != nil {
			t.Fatal(it.Err)
		}
		if it.Status.Enterprise == nil || it.Status.Enterprise != one.Enterprise {
			t.Errorf("%s: its maker's record is a copy of its own", it.Key.GTIN)
		}
		if one.Commitment != nil && it.Status.Commitment != one.Commitment {
			t.Errorf("%s: its commitment is a copy of its own", it.Key.GTIN)
		}
	}
}

// Two registries (here two sandboxes; in production, say, a staging and a
// live one) can each have a commitment of the same id and version with
// different content: the records one cache shares are its own.
func TestTwoRegistriesNeverShareRecords(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	ctx := context.Background()
	g := a.demo(client.VerdictCommitted)
	st, err := statusByGTIN(a.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	id := st.Commitment.ID
	ca, err := a.srv.SetCommitmentStatus(id, client.CommitmentSuspended, nil)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.srv.Revoke(id)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Version != cb.Version {
		// Two sandboxes of one seed give a change the same version;
		// that they did not is a change to the sandbox, not a reason to
		// test nothing.
		t.Fatalf("the two sandboxes gave the change versions %d and %d; the test needs them equal", ca.Version, cb.Version)
	}
	a.clock.Advance(time.Hour) // past the TTL: fetch the changed status
	sa, err := statusByGTIN(a.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := statusByGTIN(b.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Commitment.Status != client.CommitmentSuspended || sb.Commitment.Status != client.CommitmentRevoked {
		t.Errorf("registry A shows %s (want suspended), registry B shows %s (want revoked)", sa.Commitment.Status, sb.Commitment.Status)
	}
}

func TestCachedAnswersOnlyWithoutWaiting(t *testing.T) {
	t.Parallel()
	e := setup(t)
	g := string(e.demo(client.VerdictCommitted))
	if a, _, ok := e.cache.Cached(client.GTIN(g)); ok || a.Status != nil {
		t.Fatalf("Cached of a cold product = %v, %v; want nothing", a.Status, ok)
	}
	if e.srv.Requests("") != 0 {
		t.Fatal("Cached called the API")
	}
	want, err := statusByGTIN(e.cache, context.Background(), client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	fetched := e.clock.Now()
	a, now, ok := e.cache.Cached(client.GTIN(g))
	if !ok || a.Status != want || !now.Equal(e.clock.Now()) {
		t.Fatalf("Cached of a warm product = %v, %v, %v; want it, at the cache's time", a.Status, now, ok)
	}
	if !a.Fetched.Equal(fetched) || a.Stale {
		t.Errorf("a fresh answer says it was confirmed at %v (want %v), stale %v", a.Fetched, fetched, a.Stale)
	}
	if _, _, ok := e.cache.Cached("6901234567893"); ok {
		t.Error("Cached answered for a malformed GTIN")
	}
	// Past its TTL, within the stale-while-revalidate window: answered
	// stale, and one refresh starts.
	e.clock.Advance(cache.DefaultTTL + time.Second)
	a, _, ok = e.cache.Cached(client.GTIN(g))
	if !ok {
		t.Fatal("Cached did not answer within the stale-while-revalidate window")
	}
	if !a.Stale || !a.Fetched.Equal(fetched) {
		t.Errorf("an answer past its TTL: stale %v, confirmed at %v; want stale, confirmed at %v", a.Stale, a.Fetched, fetched)
	}
	deadline := time.Now().Add(timescale.Scale(5 * time.Second))
	for e.srv.Requests(productRoute) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no refresh reached the API within 5s")
		}
		runtime.Gosched()
	}
	// Past the window: no answer, and no call either.
	e.clock.Advance(cache.DefaultStaleWhileRevalidate + time.Hour)
	calls := e.srv.Requests(productRoute)
	if _, _, ok := e.cache.Cached(client.GTIN(g)); ok {
		t.Error("Cached answered past the stale-while-revalidate window")
	}
	if n := e.srv.Requests(productRoute); n != calls {
		t.Error("Cached called the API past the window")
	}
}

// While the registry cannot be reached, an answer past its TTL is still
// served (stale-if-error), one by one and a page at a time, and says when
// the registry last confirmed it, so that a badge can say so too.
func TestAStaleAnswerSaysWhenItWasConfirmed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	g := e.demo(client.VerdictCommitted)
	fetched := e.clock.Now()
	if _, err := statusByGTIN(e.cache, context.Background(), g); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(cache.DefaultTTL + cache.DefaultStaleWhileRevalidate + time.Minute)
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 500})
	a, err := e.cache.Status(context.Background(), client.ProductKey{GTIN: g})
	if err != nil || a.Status == nil {
		t.Fatalf("Status in an outage = %v, %v; want the stale answer", a.Status, err)
	}
	if !a.Stale || !a.Fetched.Equal(fetched) || a.Status.Key.GTIN != g {
		t.Errorf("the stale answer: stale %v, confirmed at %v, of %v; want stale, confirmed at %v, of %s", a.Stale, a.Fetched, a.Status.Key, fetched, g)
	}
	cold := e.demo(client.VerdictInspectionFailed)
	got := e.cache.Statuses(context.Background(), []client.ProductKey{{GTIN: g}, {GTIN: cold}})
	if got[0].Err != nil || !got[0].Stale || !got[0].Fetched.Equal(fetched) {
		t.Errorf("Statuses, the warm product: %+v; want the stale answer, confirmed at %v", got[0], fetched)
	}
	if got[1].Err == nil || got[1].Status != nil {
		t.Errorf("Statuses, a product never seen: %+v; want an error and no status", got[1])
	}
}
