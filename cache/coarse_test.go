package cache

import (
	"context"
	"testing"
	"time"
)

func TestCoarseClockRunsWhileAStoreIsOpen(t *testing.T) {
	m := NewMemory(MemoryOptions{JanitorInterval: -1})
	coarse := m.rough
	if coarse == nil || coarse.now.Load() == nil {
		t.Fatal("no coarse time while a store on the real clock is open")
	}
	// It moves: the next tick replaces the time.
	first := coarse.now.Load()
	poll := time.NewTicker(100 * time.Microsecond)
	defer poll.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for coarse.now.Load() == first {
		if time.Now().After(deadline) {
			t.Fatal("the coarse clock did not tick in 5s")
		}
		<-poll.C
	}

	// An entry expires by it: never early, and not long after.
	ctx := context.Background()
	exp := time.Now().Add(5 * time.Millisecond)
	if _, err := m.Set(ctx, "k", &Entry{Version: 1, Fetched: time.Now(), FreshUntil: exp, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	for {
		e, _ := m.Get(ctx, "k")
		now := time.Now()
		if e == nil {
			if now.Before(exp) {
				t.Fatalf("the entry was gone %v before its expiry", exp.Sub(now))
			}
			break
		}
		if now.After(deadline) {
			t.Fatal("the entry was still served 5s after its expiry")
		}
		<-poll.C
	}

	// Close stops the ticker (goleak checks the goroutine), and Get then
	// reads the precise clock.
	m.Close()
	if coarse.now.Load() != nil {
		t.Fatal("the coarse clock still runs after Close")
	}
	before := time.Now()
	if got := coarse.Now(); got.Before(before) {
		t.Fatalf("coarse.Now() = %v after close; want the precise time (≥ %v)", got, before)
	}
}
