package client

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestUpstreamLimiterNeverSeesTimeGoBack: x/time/rate takes the time it is
// given as the present, and a time older than the last one it saw rolls
// its refill back, so that it grants the tokens of the time between
// twice. Calls that race hand it such times: one reads the clock, another
// reads it later and reaches the limiter first. Under -race that let
// TestUpstreamLimitCapsConcurrentCalls send a call more than the limit
// now and then. Here a clock that steps back plays the late reader, so
// that the double grant shows every time.
func TestUpstreamLimiterNeverSeesTimeGoBack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0.Add(time.Second)
	set := func(v time.Time) { mu.Lock(); now = v; mu.Unlock() }
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	// One token a second, a burst of one.
	c := newTestClient(t, WithUpstreamLimit(1, 1), WithClock(clock))
	admit := func(p Priority) error {
		ctx, cancel := context.WithTimeout(WithPriority(context.Background(), p), 100*time.Millisecond)
		defer cancel()
		return c.admit(ctx)
	}

	if err := admit(PriorityHigh); err != nil {
		t.Fatalf("first call: %v, want the burst's token", err)
	}
	set(t0) // a reading from before the first call's, arriving after it
	if err := admit(PriorityHigh); err == nil {
		t.Fatal("second call admitted with the burst spent and no time passed")
	}
	set(t0.Add(time.Second))
	if err := admit(PriorityHigh); err == nil {
		t.Fatal("a call admitted at the instant the only token was spent: the limiter granted the second before it twice")
	}
	if got := c.Stats().ThrottledHigh; got != 2 {
		t.Errorf("ThrottledHigh = %d, want 2", got)
	}
	// Time that really passes still refills it.
	set(t0.Add(2 * time.Second))
	if err := admit(PriorityHigh); err != nil {
		t.Errorf("a call a full second after the last token: %v, want it admitted", err)
	}
}
