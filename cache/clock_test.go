package cache

import (
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// The lazy clock runs while hits read it, stops by itself when none do,
// starts again on the next read, and never again after Stop.
func TestLazyClockRunsOnlyWhileRead(t *testing.T) {
	c := newLazyClock()
	defer c.Stop()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		poll := time.NewTicker(100 * time.Microsecond)
		defer poll.Stop()
		deadline := time.Now().Add(timescale.Scale(5 * time.Second))
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			<-poll.C
		}
	}
	before := time.Now()
	if got := c.Now(); got.Before(before) {
		t.Fatalf("the first read %v is before %v", got, before)
	}
	if !c.running.Load() || c.now.Load() == nil {
		t.Fatal("a read did not start the ticker")
	}
	// It ticks: the time moves while it is read.
	first := c.now.Load()
	waitFor("the clock ticks while read", func() bool { c.Now(); return c.now.Load() != first })
	if got := c.Now(); got.After(time.Now()) {
		t.Errorf("the coarse time %v is ahead of the real one", got)
	}
	// Nobody reads: it stops by itself.
	waitFor("the ticker stops when nobody reads", func() bool { return c.now.Load() == nil && !c.running.Load() })
	// A read starts it again.
	c.Now()
	if !c.running.Load() {
		t.Fatal("a read after it stopped did not start it again")
	}
	c.Stop()
	if c.now.Load() != nil {
		t.Error("the coarse time is still served after Stop")
	}
	before = time.Now()
	if got := c.Now(); got.Before(before) || c.now.Load() != nil {
		t.Errorf("after Stop, Now = %v (before %v); want the precise clock, and no ticker", got, before)
	}
	c.Stop() // idempotent; goleak in TestMain checks the ticker is gone
}
