package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
)

// clusterLeaseTTL is the followers' lease on the cluster: longer than
// TestFleetUnderRandomFaults's, because six redis-servers and a failover
// share the machine, and a lease that lapses under load would stand for a
// fault the schedule did not make.
const clusterLeaseTTL = time.Second

// TestFleetUnderRandomFaults's schedule on a Redis Cluster (3 masters, a
// replica each), where the fault is the one a cluster adds: a master is
// killed, at random moments, while changes are published and pages
// viewed on three web servers, each on a clock skewed by up to
// ±chaos.skew, and two followers share the lease (the leader's process
// restarts now and then). The first kill is of
// the master holding the follower's lease and cursor ({follow}), the
// second of another; more follow at random, each once the cluster is
// whole again, the killed node restarted as a replica. It checks that no
// server shows an older version of a product after a newer one; that no
// lookup fails once the faults heal; and that each change shows on every
// server within chaos.converge and two seconds of its publication, or of the
// replica's promotion if a master was down then. It logs how long the changes
// published while a master was down took to show everywhere, counted
// from their publication, for the {follow} shard and for the others.
//
//	QCSDK_HEAVY=1 go test -race -run TestClusterFleetUnderRandomMasterKills -v ./cache/ -chaos.seed 42 -chaos.duration 60s
func TestClusterFleetUnderRandomMasterKills(t *testing.T) {
	t.Parallel()
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -chaos.seed %d), faults for %v", seed, seed, *chaosDuration)

	cl := redistest.StartCluster(t, 3, 1)
	srv, api := newSandbox(t)
	prefix := "chaos:cluster:"
	hist := &chaosLog{start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() || *chaosHistory {
			t.Logf("seed %d; what happened, in order:\n%s", seed, hist)
		}
	})
	skews := rand.New(rand.NewPCG(seed, seed^0x51ce5eed))
	skew := func() time.Duration {
		if *chaosSkew <= 0 {
			return 0
		}
		return time.Duration(skews.Int64N(int64(2**chaosSkew)+1)) - *chaosSkew
	}

	webs := []*chaosWeb{{every: 500 * time.Microsecond}, {every: 2 * time.Millisecond}, {every: time.Millisecond}}
	for i, w := range webs {
		w.skew = skew()
		now := skewedClock(w.skew)
		shared := must(redisstore.New(newClusterClient(t, cl), redisstore.WithPrefix(prefix), redisstore.WithClock(now)))
		mem := must(cache.NewMemory(cache.WithMemoryClock(now)))
		tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(tiered), cache.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); tiered.Close(); shared.Close(); mem.Close() })
		w.cache, w.tiered = c, tiered
		hist.add("server %d: clock off by %v", i, w.skew)
	}
	leaseKey := prefix + "{follow}:lease"
	leaders := chaosLeaders{spy: newClusterClient(t, cl), key: leaseKey, tokens: map[string]string{}}
	resynced := make(chan struct{}, 1)
	applied := make(chan int64, 1024)
	followers := make([]*chaosFollower, chaosFollowers)
	for i := range followers {
		sk := skew()
		f := &chaosFollower{t: t, name: fmt.Sprintf("follower %d", i), api: api, hist: hist, leaseTTL: clusterLeaseTTL,
			leaders: &leaders, clock: skewedClock(sk), resynced: resynced, applied: applied,
			store: must(redisstore.New(newClusterClient(t, cl), redisstore.WithPrefix(prefix), redisstore.WithClock(skewedClock(sk))))}
		hist.add("%s: clock off by %v", f.name, sk)
		t.Cleanup(func() { f.stop(); f.store.Close() })
		f.start()
		followers[i] = f
	}

	ctx := context.Background()
	products, gtins := chaosWorkingSet(t, srv, api)
	chk := newChaosChecker(hist, seed, len(webs))
	chk.warm(t, webs, gtins)
	stopViews := chk.views(webs, gtins)
	defer stopViews()

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	steps := map[string]int{}
	step := func(kind, format string, args ...any) {
		steps[kind]++
		hist.add("step %-22s "+format, append([]any{kind}, args...)...)
	}
	// A kill in progress: the node killed, and whether it held the
	// follower's lease and cursor. The changes published while it is
	// down are measured apart.
	type kill struct {
		addr   string
		follow bool
		at     time.Time
	}
	var (
		down      *kill
		during    = map[*chaosLost]bool{} // published while a master was down: true for {follow}'s
		wholeFrom = time.Now()            // when the cluster was last whole again
	)
	change := func() {
		p := products[rng.IntN(len(products))]
		var kind string
		switch rng.IntN(3) {
		case 0:
			if p.revoked {
				if _, err := srv.SetCommitmentStatus(p.commitment, client.CommitmentActive, nil); err != nil {
					t.Fatal(err)
				}
				p.revoked, kind = false, "change:reinstate"
			} else {
				if _, err := srv.Revoke(p.commitment); err != nil {
					t.Fatal(err)
				}
				p.revoked, kind = true, "change:revoke"
			}
		case 1:
			if _, err := srv.PublishInspection(p.gtin, client.InspectionFail); err != nil {
				t.Fatal(err)
			}
			kind = "change:inspection-fail"
		default:
			if _, err := srv.PublishInspection(p.gtin, client.InspectionPass); err != nil {
				t.Fatal(err)
			}
			kind = "change:inspection-pass"
		}
		st, resp, err := api.Products.ByGTIN(ctx, p.gtin, nil)
		if err != nil {
			t.Fatal(err)
		}
		step(kind, "%s (version %d, position %d)", p.gtin, st.Version, resp.AsOf)
		l := chk.expect(p.gtin, st.Version, false)
		if down != nil {
			during[l] = down.follow
		}
	}
	killMaster := func(follow bool) {
		if err := cl.Healthy(); err != nil {
			step("cluster:kill-none", "not whole yet: %v", err)
			return
		}
		leaseMaster := cl.MasterOf(leaseKey)
		victim := leaseMaster
		if !follow {
			others := slices.DeleteFunc(cl.Masters(), func(a string) bool { return a == leaseMaster })
			victim = others[rng.IntN(len(others))]
		}
		cl.Kill(victim)
		down = &kill{addr: victim, follow: follow, at: time.Now()}
		// Until a replica is promoted, what the dead shard held may be
		// out of reach: each change's time starts again at the promotion.
		for i := range webs {
			chk.link(i, false)
		}
		what := "a master"
		if follow {
			what = "the master of {follow} (the lease and cursor)"
		}
		step("cluster:kill", "%s, %s", what, victim)
	}
	promoted := func() bool {
		if down == nil || cl.Healthy() != nil {
			return false
		}
		for i := range webs {
			chk.link(i, true)
		}
		step("cluster:promoted", "%s's replica serves its slots, %v after the kill", down.addr, time.Since(down.at).Round(time.Millisecond))
		cl.Restart(down.addr)
		step("cluster:restart", "%s, to rejoin as a replica", down.addr)
		down, wholeFrom = nil, time.Now()
		return true
	}

	deadline := time.Now().Add(*chaosDuration)
	start := time.Now()
	forced := []struct {
		at     time.Time
		follow bool
	}{
		{start.Add(*chaosDuration / 5), true},
		{start.Add(*chaosDuration * 3 / 5), false},
	}
	pace := time.NewTimer(0)
	defer pace.Stop()
	for time.Now().Before(deadline) {
		<-pace.C
		pace.Reset(100*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond))))
		if promoted() {
			continue
		}
		if down == nil && len(forced) > 0 && time.Now().After(forced[0].at) {
			killMaster(forced[0].follow)
			forced = forced[1:]
			continue
		}
		switch r := rng.IntN(100); {
		case r < 70:
			change()
		case r < 76:
			// The leading follower's process restarts: the other takes
			// the lease once it lapses, or the restarted one does.
			// (TestFleetUnderRandomFaults leaves the fleet with no
			// follower for a while; here a change's delay is the
			// cluster's.)
			for _, f := range followers {
				if f.leading.Load() {
					f.stop()
					f.start()
					step("follower:restart-leader", "%s", f.name)
					break
				}
			}
		case r < 85 && down == nil && time.Since(wholeFrom) > time.Second && len(forced) == 0:
			killMaster(rng.IntN(3) == 0)
		default: // a quiet step
		}
	}

	// The changes stop; every fault heals.
	truth := make(map[client.GTIN]int64, len(gtins))
	for _, g := range gtins {
		st, _, err := api.Products.ByGTIN(ctx, g, nil)
		if err != nil {
			t.Fatal(err)
		}
		truth[g] = st.Version
	}
	if down != nil {
		cl.WaitHealthy(t)
		promoted()
	}
	healed := time.Now()
	hist.add("every fault healed; waiting for the fleet to converge")
	stopViews()
	faultErrors := chk.errors.Load()

	// Two seconds more than on one Redis: after a promotion the cluster's
	// clients find the new master at their next reload of its slots
	// (ClusterStateReloadInterval, a second), a change recorded meanwhile
	// waits in the follower's backlog (its retries back off to a second),
	// and under -race with the rest of the suite on two cores a server
	// showed one 3.06 s after its publication. The goals are measured by
	// BenchmarkRevocationThroughFailover; this bound catches a change
	// that is lost, or waits for something else.
	limit := *chaosConverge + 2*time.Second
	giveUp := max(10*time.Second, 3*limit)
	var polls sync.WaitGroup
	for i, w := range webs {
		polls.Go(func() {
			pending := slices.Clone(gtins)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for len(pending) > 0 && time.Since(healed) < giveUp {
				pending = slices.DeleteFunc(pending, func(g client.GTIN) bool {
					st, err := chk.view(i, w, g)
					return err == nil && st.Version == truth[g]
				})
				<-tick.C
			}
			for _, g := range pending {
				t.Errorf("seed %d: server %d does not show %s at the registry's version %d %v after the faults healed",
					seed, i, g, truth[g], giveUp)
			}
		})
	}
	polls.Wait()
	converged := time.Since(healed)
	for i, w := range webs {
		for _, g := range gtins {
			st, err := chk.view(i, w, g)
			switch {
			case err != nil:
				t.Errorf("seed %d: server %d, %s after convergence: %v", seed, i, g, err)
			case st.Version != truth[g]:
				t.Errorf("seed %d: server %d shows %s at version %d after convergence; the registry has %d", seed, i, g, st.Version, truth[g])
			}
		}
	}

	// Each change on every server within the limit of its publication,
	// or of the promotion that ended the kill it was published in.
	var byFollow, byOther []time.Duration
	for i, l := range chk.lostChanges() {
		published := chk.lost[i] // the same change, whose identity keys during
		everywhere := time.Duration(0)
		for s := range webs {
			switch {
			case !l.done[s]:
				t.Errorf("seed %d: server %d never showed %s at version %d (published at %.3fs)", seed, s, l.gtin, l.version, l.at.Seconds())
			case l.took[s] > limit:
				t.Errorf("seed %d: server %d took %v to show %s at version %d (published at %.3fs); want within %v",
					seed, s, l.took[s].Round(time.Millisecond), l.gtin, l.version, l.at.Seconds(), limit)
			}
			everywhere = max(everywhere, l.shown[s]-l.at)
		}
		if follow, ok := during[published]; ok && !slices.Contains(l.done, false) {
			if follow {
				byFollow = append(byFollow, everywhere)
			} else {
				byOther = append(byOther, everywhere)
			}
		}
	}
	var kinds []string
	for k, n := range steps {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(kinds)
	t.Logf("seed %d: %s", seed, strings.Join(kinds, " "))
	t.Logf("reads: %d, %d of them failed during the faults; backwards reads: %d (must be 0); converged %v after the last heal",
		chk.reads.Load(), faultErrors, chk.backwards.Load(), converged.Round(time.Millisecond))
	for _, s := range []struct {
		what string
		took []time.Duration
	}{
		{"the master of {follow} (the lease and cursor)", byFollow},
		{"another master", byOther},
	} {
		if len(s.took) == 0 {
			continue
		}
		t.Logf("changes published while %s was down, shown on every server: max %v after publication (%d changes)",
			s.what, slices.Max(s.took).Round(time.Millisecond), len(s.took))
	}
	if steps["cluster:kill"] < 2 {
		t.Errorf("seed %d: the schedule killed %d masters; want the two it forces", seed, steps["cluster:kill"])
	}
	if n := chk.backwards.Load(); n > 0 {
		t.Errorf("seed %d: %d reads went backwards; the first of each server and product:\n%s", seed, n, strings.Join(chk.reports, "\n"))
	}
}
