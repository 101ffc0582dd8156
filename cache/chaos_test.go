package cache_test

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"log/slog"
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
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A Jepsen-style test of a fleet: three web servers and two followers,
// each on its own link to one Redis and on its own clock (skewed by up to
// ±2 s from the others'), while a seeded schedule partitions them, kills
// the leading follower, restarts Redis empty, expires the change feed's
// cursors, loses changes from the feed and publishes changes, and page
// views keep arriving on every server. It checks the promises of the
// package doc: no server shows an older version of a product after a
// newer one, whatever its clock; a change the feed lost is shown by every
// server soon after the follower resynchronises (the one-clock rule: the
// resynchronisation's position, not a machine's time, says what to
// revalidate); and once the faults heal the fleet converges on the
// registry's word through the feed, not through expiry (the TTLs are the
// default 5 minutes). The seed is logged, and named in every failure: a
// schedule replays from it (the timing around it does not).
//
//	QCSDK_HEAVY=1 go test -race -run TestFleetUnderRandomFaults -v ./cache/ -chaos.seed 42 -chaos.duration 60s -chaos.history

var (
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of TestFleetUnderRandomFaults's schedule (0: from the time)")
	chaosDuration = flag.Duration("chaos.duration", 15*time.Second, "how long TestFleetUnderRandomFaults injects faults")
	chaosEvict    = flag.Bool("chaos.evict", true, "give one web server of TestFleetUnderRandomFaults a memory tier smaller than the working set")
	chaosHistory  = flag.Bool("chaos.history", false, "log TestFleetUnderRandomFaults's history even when it passes")
	chaosConverge = flag.Duration("chaos.converge", 2*time.Second, "how soon after the faults heal every server must show the registry's version, "+
		"and after a resynchronisation (or its own link healing, if later) a change the feed lost")
	chaosSkew = flag.Duration("chaos.skew", 2*time.Second, "each web server's and follower's clock of TestFleetUnderRandomFaults is off by up to this, either way")
)

const (
	chaosFollowers = 2
	chaosProducts  = 20
	chaosLeaseTTL  = 300 * time.Millisecond
)

func TestFleetUnderRandomFaults(t *testing.T) {
	heavy.Suite(t, "the randomized fleet run")
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

	// Each machine runs on a clock of its own, off by up to ±chaos.skew:
	// freshness is judged by the registry's positions, and the clocks
	// only time local TTLs. The offsets are drawn from the seed, apart
	// from the schedule's draws.
	skews := rand.New(rand.NewPCG(seed, seed^0x51ce5eed))
	skew := func() time.Duration {
		if *chaosSkew <= 0 {
			return 0
		}
		return time.Duration(skews.Int64N(int64(2**chaosSkew)+1)) - *chaosSkew
	}

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
	for i, w := range webs {
		w.proxy = newProxy()
		w.skew = skew()
		w.start(t, api, prefix)
		hist.add("server %d: clock off by %v", i, w.skew)
	}
	followers := make([]*chaosFollower, chaosFollowers)
	spy := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { spy.Close() })
	// The lease's key is the Redis store's business; the test reads it
	// only to tell, in the history, which token each leader holds.
	leaders := chaosLeaders{spy: spy, key: prefix + "{follow}:lease", tokens: map[string]string{}}
	resynced := make(chan struct{}, 1) // a follower resynchronised
	applied := make(chan int64, 1024)  // the positions of the events followers applied
	for i := range followers {
		p := newProxy()
		rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true,
			DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
		sk := skew()
		f := &chaosFollower{t: t, name: fmt.Sprintf("follower %d", i), api: api, proxy: p, hist: hist,
			leaders: &leaders, clock: skewedClock(sk), resynced: resynced, applied: applied,
			store: must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(skewedClock(sk))))}
		hist.add("%s: clock off by %v", f.name, sk)
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
	products, gtins := chaosWorkingSet(t, srv, api)
	chk := newChaosChecker(hist, seed, len(webs))
	chk.warm(t, webs, gtins)
	// Page views on every server, all through the faults.
	stopViews := chk.views(webs, gtins)
	defer stopViews() // a fatal step ends them too

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
	// quietUntil ends the window after an episode (see below) in which no
	// step revalidates everything and no change touches the episode's
	// product: either would show the change on the servers whether or not
	// the stamps did, and hide a stamp that is not read.
	var (
		quietUntil time.Time
		lostGTIN   client.GTIN
	)
	quiet := func() bool { return time.Now().Before(quietUntil) }
	frozen := false // no server is cut or healed while quiet: a forced episode probes one path
	change := func() {
		p := products[rng.IntN(len(products))]
		if quiet() && p.gtin == lostGTIN {
			step("quiet:skip-change", "%s, whose change only stamps carry until the window closes", p.gtin)
			return
		}
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
	// poison writes a forgery into Redis, as whoever reaches it could: a
	// product's status with its commitment's state flipped, or another
	// product's genuine status, each under a version past any the registry
	// has, so that Redis keeps it over the genuine one. No server may
	// serve it (see chaosChecker.read).
	poisoner := must(redisstore.New(spy, redisstore.WithPrefix(prefix)))
	t.Cleanup(func() { poisoner.Close() })
	poisonN := int64(0)
	poison := func() {
		p := products[rng.IntN(len(products))]
		st, _, err := api.Products.ByGTIN(ctx, p.gtin, nil)
		if err != nil {
			step("poison:skip", "%s: %v", p.gtin, err)
			return
		}
		forged, kind := *st, "its commitment's state flipped"
		if q := products[rng.IntN(len(products))]; q != p && rng.IntN(2) == 0 {
			other, _, err := api.Products.ByGTIN(ctx, q.gtin, nil)
			if err != nil {
				step("poison:skip", "%s: %v", q.gtin, err)
				return
			}
			forged, kind = *other, "the status of "+string(q.gtin)
		} else {
			cm := *st.Commitment
			cm.Status = client.CommitmentActive
			if cm.Status == st.Commitment.Status {
				cm.Status = client.CommitmentRevoked
			}
			forged.Commitment = &cm
		}
		poisonN++
		forged.Version = chaosForgedVersion + poisonN
		now := time.Now()
		e := &cache.Entry{Status: &forged, Version: forged.Version, AsOf: forged.Version, Maker: forged.Enterprise.ID,
			Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
		if _, err := poisoner.Set(ctx, string(p.gtin), e); err != nil {
			step("poison:skip", "%s: %v", p.gtin, err)
			return
		}
		_ = poisoner.Publish(ctx, string(p.gtin))
		step("poison", "%s: %s, at version %d", p.gtin, kind, forged.Version)
	}
	toggleWeb := func() {
		i := rng.IntN(len(webs))
		w := webs[i]
		switch {
		case w.held, frozen && quiet():
			return // by an episode, until its window closes
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
		chk.link(i, !w.partitioned)
	}
	// episode makes a change that only stamps carry to the servers, and
	// expects it on every server within chaos.converge of the follower
	// recording it, or of the server's link healing if that is later.
	//
	// With lost set, the feed loses the change: it is published while
	// every follower is stopped and dropped from the feed; then one
	// follower starts, finds its cursor rejected, and resynchronises at
	// the feed's head, and the servers learn the change only by
	// revalidating what predates the resynchronisation's position.
	// Otherwise the follower applies it from the feed, as a stamp of its
	// maker.
	//
	// The servers with a full memory tier are cut from Redis meanwhile —
	// each by a coin — and healed just after, so that they miss the
	// stamp's announcement and must learn it from the stamp Redis holds
	// when they read it again. A forced episode (cutAll or cutNone) probes
	// one path for sure: every such server misses the announcement
	// (cutAll), or every one hears it (cutNone: healed first, and the
	// change waits until its subscription is back, of a product whose
	// copy it holds confirmed), and none is cut or healed again until the
	// window closes.
	//
	// A server whose memory tier is smaller than the working set reads
	// through to Redis and the API all the time: it would learn the
	// change from the API, write it to Redis and announce it, showing the
	// others the way whether or not they read the stamps. It is held cut
	// off until the window closes.
	episode := func(lost, cutAll, cutNone bool) {
		var hold, cut []int
		for i, w := range webs {
			switch {
			case w.maxEntries > 0:
				hold = append(hold, i)
				w.held = true
			case cutAll:
				cut = append(cut, i) // healed below, if partitioned before
			case cutNone && w.partitioned:
				was := w.tiered.Stats().Lost
				w.proxy.Heal()
				w.partitioned = false
				chk.link(i, true)
				step("web:heal", "server %d, to hear of the change", i)
				// Polling is the observation: the subscription comes back
				// on a goroutine of the store's.
				for end := time.Now().Add(timescale.Scale(10 * time.Second)); w.tiered.Stats().Lost == was; {
					if time.Now().After(end) {
						t.Fatalf("seed %d: server %d did not subscribe again within 10s of its heal", seed, i)
					}
					<-time.NewTimer(time.Millisecond).C
				}
			case !cutNone && !w.partitioned && rng.IntN(2) == 0:
				cut = append(cut, i)
			}
		}
		frozen = cutAll || cutNone
		if lost {
			var stopped []string
			for _, f := range followers {
				if f.running() {
					f.stop()
					stopped = append(stopped, f.name)
				}
			}
			step("follower:stop-all", "%s", strings.Join(stopped, ", "))
		} else {
			// A follower that leads, and reaches Redis.
			for _, f := range followers {
				if f.partitioned {
					f.proxy.Heal()
					f.partitioned = false
				}
			}
			if slices.IndexFunc(followers, (*chaosFollower).running) < 0 {
				f := followers[rng.IntN(len(followers))]
				f.start()
				step("follower:start", "%s", f.name)
			}
		}
		for _, i := range append(slices.Clone(hold), cut...) {
			if w := webs[i]; !w.partitioned {
				w.proxy.Cut()
				w.partitioned = true
				chk.link(i, false)
			}
		}
		step("web:cut", "servers %v, held until the window closes, and %v", hold, cut)
		// The product: one the servers show committed, revoked now. With
		// cutNone, one whose copy every server holds confirmed, as at
		// steady state, so that none reads Redis for it unless the stamp
		// tells it to. (Polling is the observation: copies are confirmed
		// as page views read them.)
		confirmed := func(p *chaosProduct) bool {
			for _, w := range webs {
				if _, _, ok := cache.ReadLocal(w.tiered, string(p.gtin)); w.maxEntries == 0 && !ok {
					return false
				}
			}
			return true
		}
		k := rng.IntN(len(products))
		for end := time.Now().Add(5 * time.Second); ; {
			j := slices.IndexFunc(products, func(p *chaosProduct) bool { return !p.revoked && confirmed(p) })
			if !cutNone || j >= 0 {
				if j >= 0 {
					k = j
				}
				break
			}
			if time.Now().After(end) {
				step("episode:unconfirmed", "no committed product is confirmed on every server; the probe is weaker")
				break
			}
			<-time.NewTimer(time.Millisecond).C
		}
		for range products {
			if !products[k].revoked {
				break
			}
			k = (k + 1) % len(products)
		}
		p := products[k]
	drain:
		for {
			select {
			case <-resynced:
			case <-applied:
			default:
				break drain
			}
		}
		var kind string
		if p.revoked { // every one of them is: reinstate one
			if _, err := srv.SetCommitmentStatus(p.commitment, client.CommitmentActive, nil); err != nil {
				t.Fatal(err)
			}
			p.revoked, kind = false, "reinstated"
		} else {
			if _, err := srv.Revoke(p.commitment); err != nil {
				t.Fatal(err)
			}
			p.revoked, kind = true, "revoked"
		}
		st, resp, err := api.Products.ByGTIN(ctx, p.gtin, nil)
		if err != nil {
			t.Fatal(err)
		}
		wait := time.NewTimer(timescale.Scale(10 * time.Second))
		defer wait.Stop()
		if lost {
			n := srv.ExpireFeed()
			step("feed:lose", "%s %s (version %d), and the feed dropped it with %d other events", p.gtin, kind, st.Version, n-1)
			f := followers[rng.IntN(len(followers))]
			if f.partitioned {
				f.proxy.Heal()
				f.partitioned = false
			}
			f.start()
			select {
			case <-resynced:
				step("follower:resync", "%s resynchronised", f.name)
			case <-wait.C:
				t.Errorf("seed %d: %s did not resynchronise within 10s of the lost change", seed, f.name)
			}
		} else {
			step("change:unheard", "%s %s (version %d, position %d)", p.gtin, kind, st.Version, resp.AsOf)
		await:
			for {
				select {
				case seq := <-applied:
					if seq >= resp.AsOf {
						step("follower:applied", "position %d", seq)
						break await
					}
				case <-resynced:
					// A follower that just started, on a cursor the feed
					// had expired, resynchronised: its stamp of the head
					// covers the change, or it reads the change next.
					step("follower:resync", "after the change")
					break await
				case <-wait.C:
					t.Errorf("seed %d: no follower applied position %d within 10s", seed, resp.AsOf)
					break await
				}
			}
		}
		chk.expect(p.gtin, st.Version, lost)
		lostGTIN, quietUntil = p.gtin, time.Now().Add(*chaosConverge)
		if len(cut) > 0 {
			<-time.NewTimer(time.Duration(rng.Int64N(int64(30 * time.Millisecond)))).C
			for _, i := range cut {
				if webs[i].partitioned {
					webs[i].proxy.Heal()
					webs[i].partitioned = false
					chk.link(i, true)
				}
			}
			step("web:heal", "servers %v", cut)
		}
	}
	deadline := time.Now().Add(*chaosDuration)
	masked := deadline.Add(-*chaosDuration / 4)
	// Three episodes whatever the draws, before the masked quarter: a
	// change the feed lost, that every server with a full memory tier
	// misses the resynchronisation of, and then one they all hear of; and
	// a change applied from the feed, whose stamp they all miss.
	start := time.Now()
	forced := []struct {
		at                    time.Time
		lost, cutAll, cutNone bool
	}{
		{start.Add(*chaosDuration / 5), true, true, false},
		{start.Add(*chaosDuration * 2 / 5), true, false, true},
		{start.Add(*chaosDuration * 3 / 5), false, true, false},
	}
	pace := time.NewTimer(0)
	defer pace.Stop()
	for time.Now().Before(deadline) {
		<-pace.C
		if !quiet() {
			for i, w := range webs {
				if w.held {
					w.held = false
					w.proxy.Heal()
					w.partitioned = false
					chk.link(i, true)
					step("web:heal", "server %d, held by the episode", i)
				}
			}
		}
		if len(forced) > 0 && time.Now().After(forced[0].at) && !quiet() {
			e := forced[0]
			forced = forced[1:]
			episode(e.lost, e.cutAll, e.cutNone)
			pace.Reset(100*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond))))
			continue
		}
		switch r := rng.IntN(100); {
		case r < 47: // a change of the registry
			change()
		case r < 51: // a forgery in Redis
			poison()
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
		case r < 96 && (time.Now().After(masked) || quiet()):
			// Late in the run, no step that makes every server revalidate
			// everything: it would mask a change that failed to propagate.
			// Nor soon after a lost change: it would mask that.
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
		case r < 96:
			episode(rng.IntN(2) == 0, false, false)
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
		st, _, err := api.Products.ByGTIN(ctx, g, nil)
		if err != nil {
			t.Fatal(err)
		}
		truth[g] = st.Version
	}
	for i, w := range webs {
		w.proxy.Heal()
		w.partitioned, w.held = false, false
		chk.link(i, true)
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
	// Each product of each server is polled on a goroutine of its own,
	// so that a slow answer for one does not delay asking for another.
	var polls sync.WaitGroup
	for i, w := range webs {
		for _, g := range gtins {
			polls.Go(func() {
				var last int64
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for time.Since(healed) < giveUp {
					lctx, cancel := context.WithTimeout(ctx, timescale.Scale(3*time.Second))
					began := time.Now()
					st, err := statusByGTIN(w.cache, lctx, g)
					cancel()
					chk.read(i, g, began, st, err)
					if err == nil {
						last = st.Version
						if st.Version == truth[g] {
							lmu.Lock()
							lags = append(lags, lag{server: i, gtin: g, took: max(0, began.Sub(healed)), last: last, done: true})
							lmu.Unlock()
							return
						}
					}
					<-tick.C
				}
				lmu.Lock()
				lags = append(lags, lag{server: i, gtin: g, took: time.Since(healed), last: last})
				lmu.Unlock()
			})
		}
	}
	polls.Wait()
	convergeErrors := chk.errors.Load() - faultErrors

	// Converged: no lookup may fail now, and every one shows the truth.
	lateErrors := 0
	for round := range 3 {
		for i, w := range webs {
			for _, g := range gtins {
				st, err := chk.view(i, w, g)
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
	// Each change only stamps carried: on every server within the limit
	// of the follower recording it, or of the server's link healing if
	// later.
	var byFeed, byStamp []time.Duration
	for _, l := range chk.lostChanges() {
		what := "a change only its maker's stamp carried (recorded"
		if l.byFeed {
			what = "a change the feed lost (resynchronised"
		}
		for i := range webs {
			switch {
			case !l.done[i]:
				t.Errorf("seed %d: server %d never showed %s at version %d, %s at %.3fs)",
					seed, i, l.gtin, l.version, what, l.at.Seconds())
			case l.took[i] > limit:
				t.Errorf("seed %d: server %d took %v to show %s at version %d, %s at %.3fs); want within %v",
					seed, i, l.took[i].Round(time.Millisecond), l.gtin, l.version, what, l.at.Seconds(), limit)
			}
			if l.byFeed {
				byFeed = append(byFeed, l.took[i])
			} else {
				byStamp = append(byStamp, l.took[i])
			}
		}
	}
	for _, s := range []struct {
		what string
		took []time.Duration
	}{
		{"changes the feed lost, after the resynchronisation", byFeed},
		{"changes only a maker's stamp carried, after the follower recorded them", byStamp},
	} {
		if len(s.took) == 0 {
			t.Errorf("seed %d: the schedule made no %s", seed, strings.SplitN(s.what, ",", 2)[0])
			continue
		}
		slices.Sort(s.took)
		lq := func(p float64) time.Duration {
			return s.took[int(p*float64(len(s.took)-1))].Round(100 * time.Microsecond)
		}
		t.Logf("%s (or the server's heal, if later), shown on every server: p50 %v, p99 %v, max %v over %d product×server pairs (limit %v)",
			s.what, lq(0.5), lq(0.99), lq(1), len(s.took), limit)
	}
	for i, w := range webs {
		cs, ts := w.cache.Stats(), w.tiered.Stats()
		t.Logf("server %d: clock off by %v; upstream %d, errors %d, stale served %d, Redis errors %d, subscriptions lost %d, flushed %d",
			i, w.skew, cs.Upstream, cs.Errors, cs.StaleServed, ts.SharedErrors, ts.Lost, ts.Flushed)
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
	var refused int64
	for _, w := range webs {
		refused += w.cache.Stats().Refused
	}
	t.Logf("forgeries written to Redis: %d; read and refused by the servers: %d; served: %d (must be 0)",
		steps["poison"], refused, chk.forged.Load())
	if n := chk.forged.Load(); n > 0 {
		chk.mu.Lock()
		first := chk.forgedFirst
		chk.mu.Unlock()
		t.Errorf("seed %d: %d reads served a forgery; the first:\n%s", seed, n, first)
	}
	if steps["poison"] > 0 && refused == 0 {
		t.Errorf("seed %d: %d forgeries were written and no server refused one: the step does not reach the servers", seed, steps["poison"])
	}
}

// chaosForgedVersion is past any version the sandbox reaches in a run:
// a status shown at it or above is a forgery.
const chaosForgedVersion = 1 << 40

// A server cut off from Redis while the follower resynchronises misses
// the resynchronisation's announcement. When its link heals it checks
// every memory copy against Redis, which reads the copy as stale (its
// position is below the resynchronisation's); the server must then
// revalidate it, as a server that heard the announcement does, so that a
// change the feed lost shows on it too. TestFleetUnderRandomFaults found
// this: a server that missed the announcement showed the old badge until
// something else (Redis restarting empty) revalidated it.
func TestAResyncReachesAServerThatMissedItsAnnouncement(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	prefix := "test:" + t.Name() + ":"
	a := newWebServer(t, api, rs.Addr(), prefix)
	b := newWebServer(t, api, proxy.Addr(), prefix) // cut off below
	followerStore := must(redisstore.New(newRedisClient(t, rs), redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { followerStore.Close() })
	first := startFollower(t, api, followerStore)
	first.started(t)

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

	// The follower stops; the revocation is published and the feed loses
	// it; b is cut off while the next follower resynchronises.
	first.stop()
	if _, err := srv.Revoke(cmt); err != nil {
		t.Fatal(err)
	}
	srv.ExpireFeed()
	proxy.Cut()
	lost := b.tiered.Stats().Lost
	second := startFollower(t, api, followerStore)
	second.started(t)
	awaitUnconfirmed(t, a.tiered, string(g)) // the announcement reached a
	proxy.Heal()
	// b notices its subscription came back (anything may have changed);
	// from then on it cannot know less than Redis does.
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for b.tiered.Stats().Lost == lost {
		if time.Now().After(deadline) {
			t.Fatal("b's subscription did not come back within 10s of the heal")
		}
		// Polling is the observation: b resubscribes on a goroutine of
		// its own.
		<-time.After(time.Millisecond)
	}

	// b first: once a revalidated, b would read a's answer from Redis.
	for _, ws := range []struct {
		name string
		*webServer
	}{{"b", b}, {"a", a}} {
		name := ws.name
		deadline := time.Now().Add(timescale.Scale(2 * time.Second))
		for views := 1; ; views++ {
			st, err := statusByGTIN(ws.cache, ctx, g)
			if err != nil {
				t.Fatalf("server %s: %v", name, err)
			}
			if st.Commitment.Status == client.CommitmentRevoked {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s still shows the change the feed lost as not made after %d views in 2s", name, views)
			}
		}
	}
}

// chaosWorkingSet is the products the randomized tests change and view:
// the first product of makers 11 on, each with a commitment to revoke and
// reinstate.
func chaosWorkingSet(t *testing.T, srv *sandbox.Server, api *client.Client) ([]*chaosProduct, []client.GTIN) {
	t.Helper()
	var products []*chaosProduct
	for e := 11; len(products) < chaosProducts && e < 200; e++ {
		p, ok := srv.Product(e, 0)
		if !ok {
			t.Fatalf("the sandbox has no product of enterprise %d", e)
		}
		st, _, err := api.Products.ByGTIN(context.Background(), p.GTIN, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Commitment != nil {
			products = append(products, &chaosProduct{gtin: p.GTIN, commitment: st.Commitment.ID,
				revoked: st.Commitment.Status == client.CommitmentRevoked})
		}
	}
	if len(products) < chaosProducts {
		t.Fatalf("found %d products with a commitment; want %d", len(products), chaosProducts)
	}
	gtins := make([]client.GTIN, len(products))
	for i, p := range products {
		gtins[i] = p.gtin
	}
	return products, gtins
}

// view looks g up on server i, as a page view does, and records it.
func (c *chaosChecker) view(i int, w *chaosWeb, g client.GTIN) (*client.ProductStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(3*time.Second))
	defer cancel()
	began := time.Now()
	st, err := statusByGTIN(w.cache, ctx, g)
	c.read(i, g, began, st, err)
	return st, err
}

// warm views every product on every server once; each must answer.
func (c *chaosChecker) warm(t *testing.T, webs []*chaosWeb, gtins []client.GTIN) {
	t.Helper()
	for i, w := range webs {
		for _, g := range gtins {
			if _, err := c.view(i, w, g); err != nil {
				t.Fatalf("server %d, warm lookup of %s: %v", i, g, err)
			}
		}
	}
}

// views starts page views on every server, each at its own pace, and
// returns what stops them and waits for them (once; later calls return).
func (c *chaosChecker) views(webs []*chaosWeb, gtins []client.GTIN) (stop func()) {
	done := make(chan struct{})
	var views sync.WaitGroup
	for i, w := range webs {
		views.Go(func() {
			tick := time.NewTicker(w.every)
			defer tick.Stop()
			for n := i; ; n++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				_, _ = c.view(i, w, gtins[n%len(gtins)])
			}
		})
	}
	return sync.OnceFunc(func() { close(done); views.Wait() })
}

// chaosWeb is a web server of the fleet and its link to Redis.
type chaosWeb struct {
	every      time.Duration // between page views
	maxEntries int           // of the memory tier; 0 for the default
	skew       time.Duration // of its clock from the real one

	proxy       *faultproxy.Proxy
	cache       *cache.Cache
	tiered      *cache.Tiered
	partitioned bool // by the schedule's goroutine only
	held        bool // partitioned by an episode, which heals it
}

// start builds the server's cache on a Tiered store over its own
// connection pool through its proxy, with the memory tier bounded to
// w.maxEntries, every part of it on the server's skewed clock.
func (w *chaosWeb) start(t *testing.T, api *client.Client, prefix string) {
	t.Helper()
	now := skewedClock(w.skew)
	rdb := redis.NewClient(&redis.Options{Addr: w.proxy.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithClock(now)))
	mopts := []cache.MemoryOption{cache.WithMemoryClock(now)}
	if w.maxEntries > 0 {
		mopts = append(mopts, cache.WithMemoryMaxEntries(w.maxEntries))
	}
	mem := must(cache.NewMemory(mopts...))
	tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api, cache.WithStore(tiered), cache.WithClock(now))
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
	w.cache, w.tiered = c, tiered
}

// skewedClock is the real clock off by skew: a machine whose NTP is
// wrong, or not running.
func skewedClock(skew time.Duration) func() time.Time {
	if skew == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(skew) }
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
	clock   func() time.Time // skewed
	// leaseTTL is the lease's time to live; chaosLeaseTTL when zero.
	leaseTTL time.Duration
	// resynced hears of each resynchronisation of any follower, without
	// blocking it.
	resynced chan<- struct{}
	// applied hears of the position of each event any follower applied,
	// without blocking it.
	applied chan<- int64

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
			LeaseTTL:      cmp.Or(f.leaseTTL, chaosLeaseTTL),
			Clock:         f.clock,
			Stats:         &f.stats,
			Logger:        slog.New(slog.NewTextHandler(histWriter{f.hist, fmt.Sprintf("%s (run %d)", f.name, run)}, nil)),
			FollowOptions: client.FollowOptions{Wait: time.Second, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			Leading: func(on bool) {
				f.leading.Store(on)
				f.hist.add("%s (run %d) leading=%v %s", f.name, run, on, f.leaders.lead(f.name, on))
			},
			Applied: func(ev client.Event) {
				f.hist.add("%s (run %d) recorded position %d", f.name, run, ev.Seq)
				select {
				case f.applied <- ev.Seq:
				default:
				}
			},
			Resynced: func(cause error) {
				f.hist.add("%s (run %d) resynchronised: %v", f.name, run, cause)
				select {
				case f.resynced <- struct{}{}:
				default:
				}
			},
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
	spy redis.Cmdable // straight to Redis, past every proxy
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

// histWriter writes what a logger says into the history, one line each.
type histWriter struct {
	l    *chaosLog
	name string
}

func (w histWriter) Write(p []byte) (int, error) {
	w.l.add("%s says: %s", w.name, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *chaosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// chaosChecker records the version each server showed of each product,
// and every time one went backwards; and, for each change the feed lost,
// how long each server took to show it.
type chaosChecker struct {
	hist *chaosLog
	seed uint64

	reads, errors, backwards, forged atomic.Int64
	forgedFirst                      string // under mu

	mu       sync.Mutex
	seen     map[chaosKey]chaosSeen
	wentBack map[chaosKey]bool
	reports  []string // the first backwards read of each server and product
	// linked says which servers reach Redis now, by the schedule.
	linked []bool
	lost   []*chaosLost
}

// chaosLost is a change that only stamps carried, which every server
// must show once the follower has recorded it (resynchronised, when the
// feed lost it) — by the time that server reaches Redis again, if it was
// cut off then: it cannot learn of the stamp before.
type chaosLost struct {
	gtin    client.GTIN
	version int64 // the registry's version of the product after the change
	byFeed  bool  // lost by the feed: a resynchronisation carried it
	at      time.Duration
	// Per server: since when it must show the change (its clock stops
	// while the server is cut off, and starts again when it heals: -1
	// while cut off); and, once it showed it, how long that took.
	from []time.Duration
	took []time.Duration
	done []bool
	// shown is when each server first showed it, since the start.
	shown []time.Duration
}

type chaosKey struct {
	server int
	gtin   client.GTIN
}

type chaosSeen struct {
	version int64
	at      time.Duration
}

func newChaosChecker(hist *chaosLog, seed uint64, servers int) *chaosChecker {
	c := &chaosChecker{hist: hist, seed: seed, seen: make(map[chaosKey]chaosSeen), wentBack: make(map[chaosKey]bool),
		linked: make([]bool, servers)}
	for i := range c.linked {
		c.linked[i] = true
	}
	return c
}

// link records that a server's link to Redis went down or came back.
func (c *chaosChecker) link(server int, up bool) {
	now := time.Since(c.hist.start)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.linked[server] = up
	for _, l := range c.lost {
		if l.done[server] {
			continue
		}
		if up {
			l.from[server] = now
		} else {
			l.from[server] = -1
		}
	}
}

// expect records that the follower just recorded a change that brought g
// to version (lost: by resynchronising after the feed lost it): every
// server must show it (or a later version) from now on.
func (c *chaosChecker) expect(g client.GTIN, version int64, lost bool) *chaosLost {
	now := time.Since(c.hist.start)
	n := len(c.linked)
	l := &chaosLost{gtin: g, version: version, byFeed: lost, at: now,
		from: make([]time.Duration, n), took: make([]time.Duration, n), done: make([]bool, n),
		shown: make([]time.Duration, n)}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, up := range c.linked {
		l.from[i] = -1
		if up {
			l.from[i] = now
		}
	}
	c.lost = append(c.lost, l)
	return l
}

// lostChanges returns the changes only stamps carried, as shown so far.
func (c *chaosChecker) lostChanges() []chaosLost {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]chaosLost, len(c.lost))
	for i, l := range c.lost {
		out[i] = *l
		out[i].from, out[i].took, out[i].done = slices.Clone(l.from), slices.Clone(l.took), slices.Clone(l.done)
		out[i].shown = slices.Clone(l.shown)
	}
	return out
}

// read records one lookup, asked at began; a failed one is only counted.
// A lookup counts as of when it was asked: it shows what the server knew
// then, and on a loaded machine its answer may take a while to come back.
func (c *chaosChecker) read(server int, g client.GTIN, began time.Time, st *client.ProductStatus, err error) {
	c.reads.Add(1)
	if err != nil {
		c.errors.Add(1)
		return
	}
	now := began.Sub(c.hist.start)
	k := chaosKey{server, g}
	if st.Version >= chaosForgedVersion || st.Key.GTIN != g {
		msg := fmt.Sprintf("FORGED seed %d: server %d showed %s as %s's status at version %d at %.3fs", c.seed, server, g, st.Key.GTIN, st.Version, now.Seconds())
		if c.forged.Add(1) == 1 {
			c.hist.add("%s", msg)
			c.mu.Lock()
			c.forgedFirst = msg
			c.mu.Unlock()
		}
		return
	}
	c.mu.Lock()
	for _, l := range c.lost {
		if l.gtin != g || l.done[server] || st.Version < l.version {
			continue
		}
		// Shown. A server shows it while cut off only if it learnt it
		// some other way (from the API): that took it no time.
		l.done[server] = true
		l.shown[server] = now
		if l.from[server] >= 0 {
			l.took[server] = max(0, now-l.from[server])
		}
		c.hist.add("server %d shows %s at version %d, which only stamps carried, %v after it must", server, g, st.Version,
			l.took[server].Round(100*time.Microsecond))
	}
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
