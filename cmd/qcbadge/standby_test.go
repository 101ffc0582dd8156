package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// The follower is "standby" only when another replica holds its lease:
// not while this replica has yet to hear from Redis about it, and not
// while Redis cannot be reached, when nobody may hold it at all.
func TestReadinessSaysStandbyOnlyWhenAnotherReplicaLeads(t *testing.T) {
	t.Run("redis down", func(t *testing.T) {
		srv := redistest.Start(t)
		addr := srv.Addr()
		srv.Kill()
		_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+addr+"/0")
		deadline := time.Now().Add(timescale.Scale(10 * time.Second))
		for {
			code, r, _ := readyzOnce(t, hs.URL)
			if strings.Contains(r.Follower.Reason, "another replica") || code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with Redis down: %d, follower %+v; want unready, and no other replica named", code, r.Follower)
			}
			if strings.Contains(r.Follower.Reason, "Redis") {
				if r.Follower.OK {
					t.Errorf("follower %+v with Redis down; want not ok", r.Follower)
				}
				return // it says the lease cannot be asked for
			}
			if time.Now().After(deadline) {
				t.Fatalf("the follower check never said Redis fails within 10 s: %+v", r.Follower)
			}
			time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
		}
	})
	t.Run("redis silent", func(t *testing.T) {
		// The lease is asked for and no answer comes: this replica does
		// not know who leads.
		_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+blackhole(t)+"/0")
		_, r, _ := readyzOnce(t, hs.URL)
		if strings.Contains(r.Follower.Reason, "another replica") || r.Follower.OK {
			t.Errorf("follower %+v while the lease is yet to be answered; want not ok, and no other replica named", r.Follower)
		}
	})
	t.Run("two replicas", func(t *testing.T) {
		srv := redistest.Start(t)
		url := "redis://" + srv.Addr() + "/0"
		_, a := newTestService(t, "QC_REDIS_URL", url)
		ready(t, a)
		_, b := newTestService(t, "QC_REDIS_URL", url)
		if r := ready(t, b); r.Follower.Reason != "standby: another replica holds the lease" || !r.Follower.OK {
			t.Errorf("the second replica's follower: %+v; want ok, standing by", r.Follower)
		}
	})
}

// Each state of the follower reads as what it is.
func TestFollowerCheckSaysWhatTheLeaseIs(t *testing.T) {
	watch := func(f *leaseFinding) *leaseWatch {
		l := &leaseWatch{}
		if f != nil {
			l.last.Store(f)
		}
		return l
	}
	for _, c := range []struct {
		name      string
		following bool
		leading   bool
		caughtUp  int64
		lease     *leaseWatch
		ok        bool
		reason    string
	}{
		{"off", false, false, 0, nil, true, "off"},
		{"memory, catching up", true, false, 0, nil, false, "catching up"},
		{"memory, caught up", true, false, 1, nil, true, "caught up"},
		{"leading, catching up", true, true, 0, watch(&leaseFinding{held: true}), false, "catching up"},
		{"leading, caught up", true, true, 1, watch(&leaseFinding{held: true}), true, "caught up"},
		{"no answer yet", true, false, 0, watch(nil), false, "starting: Redis has not answered for the follower's lease yet"},
		{"another leads", true, false, 0, watch(&leaseFinding{other: true}), true, "standby: another replica holds the lease"},
		{"just taken", true, false, 0, watch(&leaseFinding{held: true}), false, "catching up"},
		{"redis fails", true, false, 1, watch(&leaseFinding{err: "dial tcp: connection refused"}), false, "no lease: Redis fails: dial tcp: connection refused"},
	} {
		if got := followerCheck(c.following, c.leading, c.caughtUp, c.lease); got != (check{OK: c.ok, Reason: c.reason}) {
			t.Errorf("%s: %+v; want ok %v, %q", c.name, got, c.ok, c.reason)
		}
	}
}
