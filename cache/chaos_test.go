package cache_test

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/redistest"
)

// A Jepsen-style test of a fleet: three web servers and two followers,
// each on its own link to one Redis, while a seeded schedule partitions
// them, kills the leading follower, restarts Redis empty, expires the
// change feed's cursors and publishes changes, and page views keep
// arriving on every server. It checks the two promises of the package
// doc: no server shows an older version of a product after a newer one,
// and once the faults heal the fleet converges on the registry's word
// through the feed, not through expiry (the TTLs are the default 5
// minutes). The seed is logged, and named in every failure: a schedule
// replays from it (the timing around it does not).
//
//	go test -race -run TestFleetUnderRandomFaults -v ./cache/ -chaos.seed 42 -chaos.duration 60s -chaos.history

var (
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of TestFleetUnderRandomFaults's schedule (0: from the time)")
	chaosDuration = flag.Duration("chaos.duration", 15*time.Second, "how long TestFleetUnderRandomFaults injects faults")
	chaosEvict    = flag.Bool("chaos.evict", true, "give one web server of TestFleetUnderRandomFaults a memory tier smaller than the working set")
	chaosHistory  = flag.Bool("chaos.history", false, "log TestFleetUnderRandomFaults's history even when it passes")
	chaosConverge = flag.Duration("chaos.converge", 2*time.Second, "how soon after the faults heal every server must show the registry's version")
)

const (
	chaosFollowers = 2
	chaosProducts  = 20
	chaosLeaseTTL  = 300 * time.Millisecond
)

func TestFleetUnderRandomFaults(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -chaos.seed %d), faults for %v", seed, seed, *chaosDuration)

	rs := redistest.Start(t)
	srv, api := newSandbox(t)
	prefix := "chaos:" + t.Name() + ":"
	hist := &chaosLog{start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() || *chaosHistory {
			t.Logf("seed %d; what happened, in order:\n%s", seed, hist)
		}
	})

	// Each web server and each follower reaches Redis through a proxy of
	// its own, so that any one of them can be partitioned alone.
	newProxy := func() *faultproxy.Proxy {
		p, err := faultproxy.New(rs.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	// The servers differ as a fleet's do: page views arrive at different
	// rates, and the last server's memory tier holds fewer products than
	// the working set, so that it reads through to Redis all the time and
	// what it learns while cut off can be evicted before Redis hears of it.
	webs := []*chaosWeb{
		{every: 500 * time.Microsecond},
		{every: 2 * time.Millisecond},
		{every: time.Millisecond},
	}
	if *chaosEvict {
		webs[2].maxEntries = chaosProducts / 3
	}
	for _, w := range webs {
		w.proxy = newProxy()
		w.start(t, api, prefix)
	}
	followers := make([]*chaosFollower, chaosFollowers)
	spy := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { spy.Close() })
	// The lease's key is the Redis store's business; the test reads it
	// only to tell, in the history, which token each leader holds.
	leaders := chaosLeaders{spy: spy, key: prefix + "{follow}:lease", tokens: map[string]string{}}
	for i := range followers {
		p := newProxy()
		rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true,
			DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
		f := &chaosFollower{t: t, name: fmt.Sprintf("follower %d", i), api: api, proxy: p, hist: hist,
			leaders: &leaders, store: redisstore.New(rdb, redisstore.WithPrefix(prefix))}
		t.Cleanup(func() {
			f.stop()
			f.store.Close()
			rdb.Close()
		})
		f.start()
		followers[i] = f
	}

	// The working set: the first product of makers 11 on, each with a
	// commitment to revoke and reinstate.
	ctx := context.Background()
	var products []*chaosProduct
	for e := 11; len(products) < chaosProducts && e < 200; e++ {
		p, ok := srv.Product(e, 0)
		if !ok {
			t.Fatalf("the sandbox has no product of enterprise %d", e)
		}
		st, _, err := api.Products.ByGTIN(ctx, string(p.GTIN), nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Commitment == nil {
			continue
		}
		products = append(products, &chaosProduct{gtin: p.GTIN, commitment: st.Commitment.ID,
			revoked: st.Commitment.Status == client.CommitmentRevoked})
	}
	if len(products) < chaosProducts {
		t.Fatalf("found %d products with a commitment; want %d", len(products), chaosProducts)
	}
	gtins := make([]client.GTIN, len(products))
	for i, p := range products {
		gtins[i] = p.gtin
	}
	chk := newChaosChecker(hist, seed)
	for i, w := range webs {
		for _, g := range gtins {
			st, err := w.cache.StatusByGTIN(ctx, g)
			chk.read(i, g, st, err)
			if err != nil {
				t.Fatalf("server %d, warm lookup of %s: %v", i, g, err)
			}
		}
	}

	// Page views on every server, all through the faults.
	stop := make(chan struct{})
	var views sync.WaitGroup
	stopViews := sync.OnceFunc(func() {
		close(stop)
		views.Wait()
	})
	defer stopViews() // a fatal step ends them too
	for i, w := range webs {
		views.Go(func() {
			tick := time.NewTicker(w.every)
			defer tick.Stop()
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				g := gtins[n%len(gtins)]
				lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				st, err := w.cache.StatusByGTIN(lctx, g)
				cancel()
				chk.read(i, g, st, err)
			}
		})
	}

	// The schedule: a step every 100–300 ms, drawn from the seed.
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	steps := map[string]int{}
	step := func(kind, format string, args ...any) {
		steps[kind]++
		hist.add("step %-22s "+format, append([]any{kind}, args...)...)
	}
	pickStopped := func() *chaosFollower {
		var idle []*chaosFollower
		for _, f := range followers {
			if !f.running() {
				idle = append(idle, f)
			}
		}
		if len(idle) == 0 {
			return nil
		}
		return idle[rng.IntN(len(idle))]
	}
	change := func() {
		p := products[rng.IntN(len(products))]
		switch rng.IntN(4) {
		case 0, 1:
			if p.revoked {
				c, err := srv.SetCommitmentStatus(p.commitment, client.CommitmentActive, nil)
				if err != nil {
					t.Fatal(err)
				}
				p.revoked = false
				step("change:reinstate", "%s (commitment %s, version %d)", p.gtin, p.commitment, c.Version)
			} else {
				c, err := srv.Revoke(p.commitment)
				if err != nil {
					t.Fatal(err)
				}
				p.revoked = true
				step("change:revoke", "%s (commitment %s, version %d)", p.gtin, p.commitment, c.Version)
			}
		case 2:
			in, err := srv.PublishInspection(p.gtin, client.InspectionFail)
			if err != nil {
				t.Fatal(err)
			}
			step("change:inspection-fail", "%s (%s, version %d)", p.gtin, in.ID, in.Version)
		default:
			in, err := srv.PublishInspection(p.gtin, client.InspectionPass)
			if err != nil {
				t.Fatal(err)
			}
			step("change:inspection-pass", "%s (%s, version %d)", p.gtin, in.ID, in.Version)
		}
	}
	toggleWeb := func() {
		i := rng.IntN(len(webs))
		w := webs[i]
		switch {
		case w.partitioned:
			w.proxy.Heal()
			w.partitioned = false
			step("web:heal", "server %d", i)
		case rng.IntN(2) == 0:
			w.proxy.Cut()
			w.partitioned = true
			step("web:cut", "server %d", i)
		default:
			w.proxy.Blackhole()
			w.partitioned = true
			step("web:blackhole", "server %d", i)
		}
	}
	deadline := time.Now().Add(*chaosDuration)
	masked := deadline.Add(-*chaosDuration / 4)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for time.Now().Before(deadline) {
		<-pace.C
		switch r := rng.IntN(100); {
		case r < 47: // a change of the registry
			change()
		case r < 63: // partition a web server, or heal it
			toggleWeb()
		case r < 73: // partition a follower, or heal it
			f := followers[rng.IntN(len(followers))]
			switch {
			case f.partitioned:
				f.proxy.Heal()
				f.partitioned = false
				step("follower:heal", "%s", f.name)
			case rng.IntN(2) == 0:
				f.proxy.Cut()
				f.partitioned = true
				step("follower:cut", "%s", f.name)
			default:
				f.proxy.Blackhole()
				f.partitioned = true
				step("follower:blackhole", "%s", f.name)
			}
		case r < 78: // kill the leading follower
			var leader *chaosFollower
			for _, f := range followers {
				if f.running() && f.leading.Load() {
					leader = f
				}
			}
			if leader == nil {
				step("follower:kill-none", "no follower leads now")
				break
			}
			leader.stop()
			step("follower:kill-leader", "%s", leader.name)
		case r < 83: // start a follower in place of a killed one
			if f := pickStopped(); f != nil {
				f.start()
				step("follower:start", "%s", f.name)
			}
		case r < 93 && time.Now().After(masked):
			// Late in the run, no step that makes every server revalidate
			// everything: it would mask a change that failed to propagate.
			change()
		case r < 88:
			rs.Restart()
			step("redis:restart", "Redis is back, empty")
		case r < 93:
			// A change first, so that the leader's cursor is behind the
			// newest event, and the leader must resynchronise.
			change()
			n := srv.ExpireFeed()
			step("feed:expire", "%d events dropped: every cursor issued so far is rejected", n)
		default: // a quiet step
		}
		if rng.IntN(4) == 0 {
			// Soon after, racing what the step set off on its way through
			// the feed, the follower and pub/sub (a few ms).
			pace.Reset(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))
			<-pace.C
			toggleWeb()
		}
		pace.Reset(100*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond))))
	}

	// The changes stop: the registry's word is final. Then every fault
	// heals.
	truth := make(map[client.GTIN]int64, len(gtins))
	for _, g := range gtins {
		st, _, err := api.Products.ByGTIN(ctx, string(g), nil)
		if err != nil {
			t.Fatal(err)
		}
		truth[g] = st.Version
	}
	for _, w := range webs {
		w.proxy.Heal()
		w.partitioned = false
	}
	for _, f := range followers {
		f.proxy.Heal()
		f.partitioned = false
	}
	if slices.IndexFunc(followers, (*chaosFollower).running) < 0 {
		followers[0].start()
		step("follower:start", "%s (none was running)", followers[0].name)
	}
	healed := time.Now()
	hist.add("every fault healed; waiting for the fleet to converge")
	stopViews()
	faultErrors := chk.errors.Load()

	// Convergence: each server learns when a page asks, so poll every
	// product on every server until it shows the registry's version.
	limit := *chaosConverge
	giveUp := max(10*time.Second, 3*limit)
	type lag struct {
		server int
		gtin   client.GTIN
		took   time.Duration
		last   int64 // the version last shown
		done   bool
	}
	var (
		lmu  sync.Mutex
		lags []lag
	)
	var polls sync.WaitGroup
	for i, w := range webs {
		polls.Go(func() {
			pending := slices.Clone(gtins)
			last := map[client.GTIN]int64{}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for len(pending) > 0 && time.Since(healed) < giveUp {
				pending = slices.DeleteFunc(pending, func(g client.GTIN) bool {
					lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					st, err := w.cache.StatusByGTIN(lctx, g)
					cancel()
					chk.read(i, g, st, err)
					if err != nil {
						return false
					}
					last[g] = st.Version
					if st.Version != truth[g] {
						return false
					}
					lmu.Lock()
					lags = append(lags, lag{server: i, gtin: g, took: time.Since(healed), last: st.Version, done: true})
					lmu.Unlock()
					return true
				})
				<-tick.C
			}
			lmu.Lock()
			for _, g := range pending {
				lags = append(lags, lag{server: i, gtin: g, took: time.Since(healed), last: last[g]})
			}
			lmu.Unlock()
		})
	}
	polls.Wait()
	convergeErrors := chk.errors.Load() - faultErrors

	// Converged: no lookup may fail now, and every one shows the truth.
	lateErrors := 0
	for round := range 3 {
		for i, w := range webs {
			for _, g := range gtins {
				st, err := w.cache.StatusByGTIN(ctx, g)
				chk.read(i, g, st, err)
				switch {
				case err != nil:
					lateErrors++
					t.Errorf("seed %d: server %d, %s after convergence (round %d): %v", seed, i, g, round, err)
				case st.Version != truth[g]:
					t.Errorf("seed %d: server %d shows %s at version %d after convergence (round %d); the registry has %d",
						seed, i, g, st.Version, round, truth[g])
				}
			}
		}
	}

	// The report.
	var took []time.Duration
	for _, l := range lags {
		took = append(took, l.took)
		switch {
		case !l.done:
			t.Errorf("seed %d: server %d still shows %s at version %d %v after the faults healed; the registry has %d",
				seed, l.server, l.gtin, l.last, giveUp, truth[l.gtin])
		case l.took > limit:
			t.Errorf("seed %d: server %d took %v to show %s at the registry's version %d; want within %v",
				seed, l.server, l.took.Round(time.Millisecond), l.gtin, truth[l.gtin], limit)
		}
	}
	slowest := slices.MaxFunc(lags, func(a, b lag) int { return cmp.Compare(a.took, b.took) })
	slices.Sort(took)
	q := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))].Round(100 * time.Microsecond) }
	var kinds []string
	nChanges, nFaults := 0, 0
	for k, n := range steps {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		if strings.HasPrefix(k, "change:") {
			nChanges += n
		} else {
			nFaults += n
		}
	}
	slices.Sort(kinds)
	t.Logf("seed %d: %d steps over %v: %d changes, %d faults and heals (%s)",
		seed, nChanges+nFaults, *chaosDuration, nChanges, nFaults, strings.Join(kinds, " "))
	t.Logf("reads: %d, %d of them failed during the faults, %d while converging, %d after (must be 0); backwards reads: %d (must be 0)",
		chk.reads.Load(), faultErrors, convergeErrors, lateErrors, chk.backwards.Load())
	t.Logf("convergence of %d product×server pairs after the last fault healed: p50 %v, p99 %v, max %v (server %d, %s; limit %v)",
		len(took), q(0.5), q(0.99), q(1), slowest.server, slowest.gtin, limit)
	for i, w := range webs {
		cs, ts := w.cache.Stats(), w.tiered.Stats()
		t.Logf("server %d: upstream %d, errors %d, stale served %d, Redis errors %d, subscriptions lost %d, flushed %d",
			i, cs.Upstream, cs.Errors, cs.StaleServed, ts.SharedErrors, ts.Lost, ts.Flushed)
	}
	for _, f := range followers {
		t.Logf("%s: started %d times, took the lease %d times, applied %d events, %d resyncs, %d feed errors",
			f.name, f.starts, f.stats.Leases.Load(), f.stats.Applied.Load(), f.stats.Resyncs.Load(), f.stats.FeedErrors.Load())
	}
	t.Logf("a follower took the lease while another still led %d times; %d of them with the same token",
		leaders.overlaps, leaders.shared)
	if n := chk.backwards.Load(); n > 0 {
		t.Errorf("seed %d: %d reads went backwards; the first of each server and product:\n%s", seed, n, strings.Join(chk.reports, "\n"))
	}
}

// chaosWeb is a web server of the fleet and its link to Redis.
type chaosWeb struct {
	every      time.Duration // between page views
	maxEntries int           // of the memory tier; 0 for the default

	proxy       *faultproxy.Proxy
	cache       *cache.Cache
	tiered      *cache.Tiered
	partitioned bool // by the schedule's goroutine only
}

// start builds the server's cache on a Tiered store over its own
// connection pool through its proxy, with the memory tier bounded to
// w.maxEntries.
func (w *chaosWeb) start(t *testing.T, api *client.Client, prefix string) {
	ws := newWebServerSized(t, api, w.proxy.Addr(), prefix, w.maxEntries)
	w.cache, w.tiered = ws.cache, ws.tiered
}

// chaosProduct is a product of the working set, as the schedule changed it.
type chaosProduct struct {
	gtin       client.GTIN
	commitment string
	revoked    bool
}

// chaosFollower is a slot that runs Follow over a link of its own; the
// schedule kills it and starts it again.
type chaosFollower struct {
	t       *testing.T
	name    string
	api     *client.Client
	proxy   *faultproxy.Proxy
	store   *redisstore.Store
	hist    *chaosLog
	leaders *chaosLeaders
	stats   cache.FollowStats

	partitioned bool // by the schedule's goroutine only
	starts      int
	leading     atomic.Bool
	cancel      context.CancelFunc // nil when not running
	done        chan error
}

func (f *chaosFollower) running() bool { return f.cancel != nil }

func (f *chaosFollower) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	f.starts++
	run := f.starts
	go func() {
		f.done <- cache.Follow(ctx, f.api, f.store, &cache.FollowOptions{
			LeaseTTL:      chaosLeaseTTL,
			Stats:         &f.stats,
			FollowOptions: client.FollowOptions{Wait: time.Second, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			Leading: func(on bool) {
				f.leading.Store(on)
				f.hist.add("%s (run %d) leading=%v %s", f.name, run, on, f.leaders.lead(f.name, on))
			},
			Resynced: func(cause error) { f.hist.add("%s (run %d) resynchronised: %v", f.name, run, cause) },
		})
	}()
}

// stop cancels the follower and waits until Follow has returned.
func (f *chaosFollower) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	if err := <-f.done; !errors.Is(err, context.Canceled) {
		f.t.Errorf("%s: Follow = %v; want context.Canceled", f.name, err)
	}
	f.cancel, f.done = nil, nil
}

// chaosLeaders tracks the followers that lead at once, and the lease
// token each read when it took the lease. Two leaders for a while are
// allowed (a partitioned holder stops only once its renewals have failed
// for most of the lease's time) and harmless (applying is idempotent, and
// the cursor is fenced by the token); two leaders with the same token are
// a fence that no longer separates them. Both are counted, to be seen.
type chaosLeaders struct {
	spy *redis.Client // straight to Redis, past every proxy
	key string        // the lease's key

	mu       sync.Mutex
	tokens   map[string]string // leader → the token it read
	overlaps int
	shared   int
}

// lead records that a follower took or gave up the lease, and returns
// what to note in the history, if anything.
func (l *chaosLeaders) lead(name string, on bool) string {
	if !on {
		l.mu.Lock()
		delete(l.tokens, name)
		l.mu.Unlock()
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	token, err := l.spy.Get(ctx, l.key).Result()
	cancel()
	if err != nil {
		token = "? (" + err.Error() + ")"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	note := "token " + token
	if len(l.tokens) > 0 {
		l.overlaps++
		for other, t := range l.tokens {
			note += fmt.Sprintf("; %s leads too, token %s", other, t)
			if err == nil && t == token {
				l.shared++
				note += " (the same token: the fence does not separate them)"
			}
		}
	}
	l.tokens[name] = token
	return note
}

// chaosLog is the history of a run, each line stamped with the time since
// the start, printed when the test fails.
type chaosLog struct {
	start time.Time
	mu    sync.Mutex
	lines []string
}

func (l *chaosLog) add(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", time.Since(l.start).Seconds()) + fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *chaosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// chaosChecker records the version each server showed of each product,
// and every time one went backwards.
type chaosChecker struct {
	hist *chaosLog
	seed uint64

	reads, errors, backwards atomic.Int64

	mu       sync.Mutex
	seen     map[chaosKey]chaosSeen
	wentBack map[chaosKey]bool
	reports  []string // the first backwards read of each server and product
}

type chaosKey struct {
	server int
	gtin   client.GTIN
}

type chaosSeen struct {
	version int64
	at      time.Duration
}

func newChaosChecker(hist *chaosLog, seed uint64) *chaosChecker {
	return &chaosChecker{hist: hist, seed: seed, seen: make(map[chaosKey]chaosSeen), wentBack: make(map[chaosKey]bool)}
}

// read records one lookup; a failed one is only counted.
func (c *chaosChecker) read(server int, g client.GTIN, st *client.ProductStatus, err error) {
	c.reads.Add(1)
	if err != nil {
		c.errors.Add(1)
		return
	}
	now := time.Since(c.hist.start)
	k := chaosKey{server, g}
	c.mu.Lock()
	prev, ok := c.seen[k]
	if !ok || st.Version >= prev.version {
		c.seen[k] = chaosSeen{version: st.Version, at: now}
		c.mu.Unlock()
		return
	}
	first := !c.wentBack[k]
	c.wentBack[k] = true
	c.mu.Unlock()
	c.backwards.Add(1)
	if !first {
		return // the history notes the first of each server and product
	}
	msg := fmt.Sprintf("BACKWARDS seed %d: server %d showed %s at version %d (%s) at %.3fs, after showing version %d as late as %.3fs",
		c.seed, server, g, st.Version, client.Decide(st, time.Now(), 0).Verdict, now.Seconds(), prev.version, prev.at.Seconds())
	c.hist.add("%s", msg)
	c.mu.Lock()
	if len(c.reports) < 20 {
		c.reports = append(c.reports, msg)
	}
	c.mu.Unlock()
}
