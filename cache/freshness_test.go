package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The regressions of the fleet's freshness: each of these failed before
// the change it names.

// awaitVerdict polls c until the product shows want, or fails after
// within. Polling is the measurement: a cache learns of a change when a
// page asks.
func awaitVerdict(t *testing.T, c *cache.Cache, g client.GTIN, want client.Verdict, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(within))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var got client.Verdict
	for {
		st, err := statusByGTIN(c, context.Background(), g)
		if err == nil {
			if got = client.Decide(st, time.Now(), 0).Verdict; got == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still shows %s (last error %v) %v after the change; want %s", g, got, err, within, want)
		}
		<-tick.C
	}
}

// newSandbox starts a sandbox and a client of it with retries off, so
// that a test sees the cache's behaviour, not the client's.
func newSandbox(tb testing.TB) (*sandbox.Server, *client.Client) {
	tb.Helper()
	srv := sandbox.NewServer(tb, sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(api.CloseIdleConnections)
	return srv, api
}

// A follower whose cursor the registry rejects (400 invalid_cursor) used
// to log a warning forever and apply nothing: the fleet silently stopped
// receiving pushed changes. Now it resynchronises by itself.
func TestFollowRecoversFromARejectedCursor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	g := e.demo(client.VerdictCommitted)
	st, err := statusByGTIN(e.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	// A cursor this registry never issued: saved by a follower of another
	// registry, say, or one from before the registry was rebuilt.
	now := e.clock.Now()
	if _, err := e.cache.Store().Set(ctx, cache.CursorKey, &cache.Entry{
		Cursor: "not-a-cursor", Version: 1, Fetched: now, FreshUntil: now, Expires: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second) // the resync comes after the warm lookup
	startFollowerAt(t, e.api, e.cache.Store(), e.clock)

	if _, err := e.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	awaitVerdict(t, e.cache, g, client.VerdictWithdrawn, 10*time.Second)
	cur, err := e.cache.Store().Get(ctx, cache.CursorKey)
	if err != nil || cur == nil || cur.Cursor == "not-a-cursor" {
		t.Errorf("the follower's cursor is %+v (%v); want one the registry issued", cur, err)
	}
}

// failingIndex is a store whose index writes fail, as they did in brief
// Redis errors while the entries themselves were written.
type failingIndex struct{ cache.Store }

func (failingIndex) Index(context.Context, string, string) error {
	return errors.New("redis: i/o timeout")
}

// A change used to reach only the entries a per-maker index listed; an
// entry whose index write failed kept its old answer until its TTL ran out.
func TestAChangeReachesEntriesWhoseIndexWriteFailed(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix)))
	mem := must(cache.NewMemory())
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api, cache.WithStore(failingIndex{tiered}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		tiered.Close()
		shared.Close()
		mem.Close()
	})

	ctx := context.Background()
	g := demoGTIN(t, srv, client.VerdictCommitted)
	st, err := statusByGTIN(c, ctx, g)
	if err != nil {
		t.Fatal(err)
	}

	frdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { frdb.Close() })
	fshared := must(redisstore.New(frdb, redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { fshared.Close() })
	startFollower(t, api, fshared)

	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	awaitVerdict(t, c, g, client.VerdictWithdrawn, 10*time.Second)
}

// webServer is one server of a fleet: a cache on a Tiered store over its
// own connection to Redis at addr.
type webServer struct {
	cache  *cache.Cache
	tiered *cache.Tiered
	shared *redisstore.Store
}

func newWebServer(t *testing.T, api *client.Client, addr, prefix string) *webServer {
	t.Helper()
	return newWebServerSized(t, api, addr, prefix, 0)
}

// newWebServerSized is newWebServer with a memory tier of at most
// maxEntries (0 for the default).
func newWebServerSized(t *testing.T, api *client.Client, addr, prefix string, maxEntries int) *webServer {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix)))
	var mopts []cache.MemoryOption
	if maxEntries > 0 {
		mopts = append(mopts, cache.WithMemoryMaxEntries(maxEntries))
	}
	mem := must(cache.NewMemory(mopts...))
	tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		tiered.Close()
		shared.Close()
		mem.Close()
		rdb.Close()
	})
	return &webServer{cache: c, tiered: tiered, shared: shared}
}

// A server cut off from Redis learns of a revocation from the API; when
// the link heals it used to empty its memory tier and take Redis's older
// entry as the fleet's word, showing "committed" again. Now it keeps the
// newer answer, writes it to Redis and announces it, so that the fleet
// moves forward with it.
func TestAPartitionedServerNeverGoesBackwardsWhenItHeals(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	a := newWebServer(t, api, proxy.Addr(), prefix)
	b := newWebServer(t, api, rs.Addr(), prefix)
	ctx := context.Background()

	// B puts the committed answer in Redis, fresh for minutes.
	g := demoGTIN(t, srv, client.VerdictCommitted)
	st, err := statusByGTIN(b.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	// A, cut off, asks the API and shows the revocation.
	awaitVerdict(t, a.cache, g, client.VerdictWithdrawn, 10*time.Second)
	revoked, err := statusByGTIN(a.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Heal()
	// Until Redis holds the revocation, A must show nothing older.
	deadline := time.Now().Add(timescale.Scale(15 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st, err := statusByGTIN(a.cache, ctx, g)
		if err == nil && st.Version < revoked.Version {
			t.Fatalf("after the link healed, A went back from version %d to %d (%s)",
				revoked.Version, st.Version, client.Decide(st, time.Now(), 0).Verdict)
		}
		if e, _ := b.shared.Get(ctx, string(g)); e != nil && e.Version >= revoked.Version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis still does not hold what A learnt while cut off, 15s after the link healed")
		}
		<-tick.C
	}
	// And the rest of the fleet moves forward with it.
	awaitVerdict(t, b.cache, g, client.VerdictWithdrawn, 10*time.Second)
}

// Every server may run Follow on the shared store: one holds the lease
// and applies the feed; when it stops, another takes over within the
// lease's time, from the saved cursor, and the old holder's token can no
// longer move the cursor.
func TestOneFollowerLeadsAndAnotherTakesOver(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	const ttl = 300 * time.Millisecond

	type runner struct {
		store   *redisstore.Store
		stats   cache.FollowStats
		leading chan bool
		applied chan client.Event
		cancel  context.CancelFunc
		done    chan error
	}
	start := func() *runner {
		rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
		r := &runner{
			store:   must(redisstore.New(rdb, redisstore.WithPrefix(prefix))),
			leading: make(chan bool, 10),
			applied: make(chan client.Event, 100),
			done:    make(chan error, 1),
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() {
			r.done <- cache.Follow(ctx, api, r.store, &cache.FollowOptions{
				LeaseTTL:      ttl,
				Stats:         &r.stats,
				FollowOptions: client.FollowOptions{Wait: time.Second, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
				Leading:       func(on bool) { r.leading <- on },
				Applied:       func(ev client.Event) { r.applied <- ev },
			})
		}()
		t.Cleanup(func() {
			cancel()
			<-r.done
			r.store.Close()
			rdb.Close()
		})
		return r
	}
	// waitLeading waits until a or b (b may be nil) takes the lease.
	waitLeading := func(a, b *runner) *runner {
		t.Helper()
		var bl chan bool
		if b != nil {
			bl = b.leading
		}
		timeout := time.After(timescale.Scale(10 * time.Second))
		for {
			select {
			case on := <-a.leading:
				if on {
					return a
				}
			case on := <-bl:
				if on {
					return b
				}
			case <-timeout:
				t.Fatal("no follower took the lease within 10s")
				return nil
			}
		}
	}

	a, b := start(), start()
	leader := waitLeading(a, b)
	standby := a
	if leader == a {
		standby = b
	}
	ids := []string{}
	for _, d := range srv.Demo()[:3] {
		st, _, err := api.Products.ByGTIN(context.Background(), d.GTIN, nil)
		if err == nil && st.Commitment != nil {
			ids = append(ids, st.Commitment.ID)
		}
	}
	if _, err := srv.Revoke(ids[0]); err != nil {
		t.Fatal(err)
	}
	first := <-leader.applied
	if n := standby.stats.Applied.Load(); n != 0 {
		t.Fatalf("the standby follower applied %d events while the other held the lease", n)
	}

	// The leader stops; the standby takes over, from the saved cursor.
	stopped := time.Now()
	leader.cancel()
	<-leader.done
	leader.done <- context.Canceled
	waitLeading(standby, nil)
	t.Logf("failover took %v (lease %v; the old holder released it)", time.Since(stopped), ttl)
	if _, err := srv.Revoke(ids[1]); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-standby.applied:
		if ev.ID == first.ID {
			t.Errorf("the new leader applied %s again: it did not resume from the saved cursor", ev.ID)
		}
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("the new leader applied nothing within 10s")
	}

	// A holder whose lease was taken over cannot move the cursor.
	ctx := context.Background()
	cur, err := standby.store.Cursor(ctx)
	if err != nil || cur == "" {
		t.Fatalf("cursor %q, %v", cur, err)
	}
	if err := standby.store.SaveCursor(ctx, 1, "c0"); !errors.Is(err, cache.ErrLeaseLost) {
		t.Errorf("a stale token saved the cursor: %v; want ErrLeaseLost", err)
	}
	if got, _ := standby.store.Cursor(ctx); got != cur {
		t.Errorf("the cursor moved from %q to %q", cur, got)
	}
	if _, err := standby.store.Lease(ctx, 0, ttl); !errors.Is(err, cache.ErrLeaseHeld) {
		t.Errorf("taking a held lease = %v; want ErrLeaseHeld", err)
	}
}

// BenchmarkFollowerFailover measures how long a fleet goes without a
// follower when the one holding the lease vanishes without releasing it
// (its link to Redis blackholed, as a crashed or partitioned machine): the
// time until the standby takes the lease, with a lease of 1 s. The bound
// is the lease's time to live plus a third of it (the standby's polling).
//
//	go test -run '^$' -bench BenchmarkFollowerFailover -benchtime 5x ./cache/
func BenchmarkFollowerFailover(b *testing.B) {
	rs := redistest.Start(b)
	_, api := newSandbox(b)
	const ttl = time.Second
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		prefix := fmt.Sprintf("bench:failover:%d:", i)
		type side struct {
			proxy   *faultproxy.Proxy
			leading chan bool
		}
		ctx, cancel := context.WithCancel(context.Background())
		var sides []*side
		var done []chan error
		for range 2 {
			p, err := faultproxy.New(rs.Addr())
			if err != nil {
				b.Fatal(err)
			}
			rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, DialTimeout: 100 * time.Millisecond})
			store := must(redisstore.New(rdb, redisstore.WithPrefix(prefix)))
			s := &side{proxy: p, leading: make(chan bool, 10)}
			d := make(chan error, 1)
			go func() {
				d <- cache.Follow(ctx, api, store, &cache.FollowOptions{
					LeaseTTL:      ttl,
					FollowOptions: client.FollowOptions{Wait: time.Second, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond},
					Leading:       func(on bool) { s.leading <- on },
				})
				store.Close()
				rdb.Close()
			}()
			sides, done = append(sides, s), append(done, d)
		}
		var leader, standby *side
		select {
		case <-sides[0].leading:
			leader, standby = sides[0], sides[1]
		case <-sides[1].leading:
			leader, standby = sides[1], sides[0]
		case <-time.After(timescale.Scale(10 * time.Second)):
			b.Fatal("no follower took the lease")
		}
		start := time.Now()
		leader.proxy.Blackhole()
		for on := false; !on; {
			select {
			case on = <-standby.leading:
			case <-time.After(timescale.Scale(10 * time.Second)):
				b.Fatal("the standby did not take the lease within 10s")
			}
		}
		lat = append(lat, time.Since(start))
		cancel()
		leader.proxy.Close()
		standby.proxy.Close()
		for _, d := range done {
			<-d
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64(ttl.Milliseconds()), "lease-ms")
}

// What a server learns while cut off from Redis is kept until it reaches
// Redis, even when its memory tier evicts it meanwhile: otherwise, once
// Redis answers again, the server would read Redis's older entry and go
// back.
func TestWhatAServerLearnsCutOffSurvivesEviction(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	a := newWebServerSized(t, api, proxy.Addr(), prefix, 1) // a memory tier of one entry
	b := newWebServer(t, api, rs.Addr(), prefix)
	ctx := context.Background()

	g := demoGTIN(t, srv, client.VerdictCommitted)
	others := []client.GTIN{demoGTIN(t, srv, client.VerdictInspectionFailed), demoGTIN(t, srv, client.VerdictWithdrawn)}
	st, err := statusByGTIN(b.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	awaitVerdict(t, a.cache, g, client.VerdictWithdrawn, 10*time.Second)
	revoked, _ := statusByGTIN(a.cache, ctx, g)
	// Views of other products while cut off: Redis fails, and A stops
	// asking it for a while (its breaker opens); each evicts the last.
	for i := range 4 {
		if _, err := statusByGTIN(a.cache, ctx, others[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if !a.tiered.Stats().SharedDown {
		t.Fatalf("A still asks Redis after it failed: %+v", a.tiered.Stats())
	}
	proxy.Heal()

	// Page views of other products, until A's subscription is back and
	// Redis answers A again.
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if _, err := statusByGTIN(a.cache, ctx, others[i%2]); err != nil {
			t.Fatal(err)
		}
		if s := a.tiered.Stats(); s.Lost > 0 && !s.SharedDown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's link to Redis did not come back within 10s: %+v", a.tiered.Stats())
		}
		<-tick.C
	}
	if got, err := statusByGTIN(a.cache, ctx, g); err != nil || got.Version < revoked.Version {
		t.Fatalf("after the link healed, A shows %s at %+v (%v); it had shown version %d", g, got, err, revoked.Version)
	}
	if e, _ := b.shared.Get(ctx, string(g)); e == nil || e.Version < revoked.Version {
		t.Errorf("Redis holds %+v; want version %d or newer", e, revoked.Version)
	}
}

// A follower whose cursor fell out of the feed's retention (it was
// stopped while more changes were published than the feed keeps)
// resynchronises: it says so once at error level, counts it, tells the
// caller why, marks what is cached as to be revalidated, and applies the
// changes published after it.
func TestFollowRecoversFromAnExpiredCursor(t *testing.T) {
	t.Parallel()
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithFeedRetention(1))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	clk := newFakeClock()
	c, err := cache.New(api, cache.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	var cmts []string
	var gtins []client.GTIN
	for _, d := range srv.Demo() {
		if st, err := statusByGTIN(c, ctx, d.GTIN); err == nil && st.Commitment != nil && st.Commitment.Status == client.CommitmentActive {
			cmts, gtins = append(cmts, st.Commitment.ID), append(gtins, d.GTIN)
		}
	}
	if len(cmts) < 3 {
		t.Fatalf("%d demo products with an active commitment; want 3", len(cmts))
	}

	run := func(stats *cache.FollowStats, logs *testio.Buffer, resynced chan<- error, applied chan<- client.Event) func() {
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- cache.Follow(fctx, api, c.Store(), &cache.FollowOptions{
				Clock:         clk.Now,
				Logger:        slog.New(slog.NewTextHandler(logs, nil)),
				Stats:         stats,
				FollowOptions: client.FollowOptions{Wait: time.Second, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
				Resynced:      func(err error) { resynced <- err },
				Applied:       func(ev client.Event) { applied <- ev },
			})
		}()
		return func() { cancel(); <-done }
	}

	// A first follower: no cursor, so it starts by marking what is cached.
	var stats1 cache.FollowStats
	var logs1 testio.Buffer
	resynced, applied := make(chan error, 10), make(chan client.Event, 10)
	stop := run(&stats1, &logs1, resynced, applied)
	if err := <-resynced; err != nil {
		t.Fatalf("a first start resynchronised because of %v; want nil (no cursor)", err)
	}
	clk.Advance(time.Second)
	if _, err := srv.Revoke(cmts[0]); err != nil {
		t.Fatal(err)
	}
	<-applied
	stop()

	// Two changes while no follower runs; the feed keeps one.
	for _, id := range cmts[1:3] {
		if _, err := srv.Revoke(id); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	var stats2 cache.FollowStats
	var logs2 testio.Buffer
	stop = run(&stats2, &logs2, resynced, applied)
	defer stop()
	select {
	case err := <-resynced:
		if !client.IsCursorRejected(err) {
			t.Fatalf("resynchronised because of %v; want the rejected cursor", err)
		}
	case ev := <-applied:
		t.Fatalf("applied %s from an expired cursor", ev.ID)
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("no resynchronisation within 10s")
	}
	if n := stats2.Resyncs.Load(); n != 1 {
		t.Errorf("Resyncs = %d; want 1", n)
	}
	if n := strings.Count(logs2.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines; want 1:\n%s", n, logs2.String())
	}
	// The change the feed dropped shows: the cached answer is revalidated.
	awaitVerdict(t, c, gtins[1], client.VerdictWithdrawn, 10*time.Second)
	// And the follower applies what comes after.
	if _, err := srv.SetCommitmentStatus(cmts[0], client.CommitmentActive, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-applied:
		if ev.Commitment == nil || ev.Commitment.ID != cmts[0] {
			t.Errorf("applied %+v; want the reinstatement of %s", ev, cmts[0])
		}
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("nothing applied after the resynchronisation within 10s")
	}
}

// A server blackholed from Redis — packets vanish, nothing resets —
// while the follower stamps a maker misses the stamp's announcement. When
// the link heals, its subscription comes back (the connection that lived
// through the blackhole is reset and go-redis subscribes again), and that
// must reach its memory tier as a lost subscription, so that its copy is
// checked against Redis's stamp on the next view: it shows the change
// within the next few views, not at its TTL.
func TestAServerBlackholedThroughAStampShowsItOnceHealed(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	a := newWebServer(t, api, rs.Addr(), prefix)
	b := newWebServer(t, api, proxy.Addr(), prefix) // blackholed below
	followerStore := must(redisstore.New(newRedisClient(t, rs), redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { followerStore.Close() })
	f := startFollower(t, api, followerStore)
	f.started(t)

	ctx := context.Background()
	g := demoGTIN(t, srv, client.VerdictCommitted)
	var cmt string
	for _, ws := range []*webServer{a, b} {
		st, err := statusByGTIN(ws.cache, ctx, g)
		if err != nil || st.Commitment == nil || st.Commitment.Status != client.CommitmentActive {
			t.Fatalf("before: %+v, %v; want an active commitment", st, err)
		}
		cmt = st.Commitment.ID
	}
	// b's copy confirmed against Redis, as at steady state: only an
	// announcement, or a lost subscription, makes it read Redis again.
	awaitConfirmed(t, b.tiered, string(g))

	lost := b.tiered.Stats().Lost
	proxy.Blackhole()
	if _, err := srv.Revoke(cmt); err != nil {
		t.Fatal(err)
	}
	f.next(t)                                // the follower stamped the maker
	awaitUnconfirmed(t, a.tiered, string(g)) // and a heard of it
	proxy.Heal()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for b.tiered.Stats().Lost == lost {
		if time.Now().After(deadline) {
			t.Fatal("b's subscription did not come back within 10s of the heal")
		}
		<-time.After(time.Millisecond) // polling is the observation
	}
	awaitVerdict(t, b.cache, g, client.VerdictWithdrawn, 2*time.Second)
}

// awaitConfirmed reads key through s until its memory copy is confirmed
// against Redis, as page views at steady state leave it.
func awaitConfirmed(t *testing.T, s *cache.Tiered, key string) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		if _, _, ok := cache.ReadLocal(s, key); ok {
			return
		}
		if _, err := s.Get(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy of %q is not confirmed after 10s of views", key)
		}
	}
}
