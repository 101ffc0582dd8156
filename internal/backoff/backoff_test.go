package backoff

import (
	"context"
	"math"
	"testing"
	"time"
)

// samples is how many waits a test draws for one n: enough that a wait
// above half the ceiling is missed with probability 2⁻⁴⁰⁰.
const samples = 400

// Every wait lies in [1 ns, ceiling), and the waits reach the upper half
// of the ceiling: the jitter is full, and the ceiling doubles per failure
// up to Max.
func TestWaitStaysUnderItsCeiling(t *testing.T) {
	e := Exponential{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for n, ceiling := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second} {
		var top time.Duration
		for range samples {
			w := e.Wait(n)
			if w < 1 || w >= ceiling {
				t.Fatalf("Wait(%d) = %v; want it in [1ns, %v)", n, w, ceiling)
			}
			top = max(top, w)
		}
		if top < ceiling/2 {
			t.Errorf("Wait(%d): the longest of %d waits was %v; want some in the upper half of %v", n, samples, top, ceiling)
		}
	}
}

// However many failures, the wait stays under Max: a shift past the
// largest Duration, which may wrap to any value, is not taken as the
// ceiling.
func TestWaitDoesNotOverflow(t *testing.T) {
	cases := []struct {
		e Exponential
		n int
	}{
		{Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second}, 40},
		{Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second}, 62},
		{Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second}, 63},
		{Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second}, math.MaxInt},
		// 5·2⁶² wraps to 2⁶², a positive Duration far under the true
		// ceiling, MaxInt64.
		{Exponential{Base: 5, Max: math.MaxInt64}, 62},
	}
	for _, c := range cases {
		var top time.Duration
		for range samples {
			w := c.e.Wait(c.n)
			if w < 1 || w >= c.e.Max {
				t.Fatalf("%+v.Wait(%d) = %v; want it in [1ns, %v)", c.e, c.n, w, c.e.Max)
			}
			top = max(top, w)
		}
		if top < c.e.Max/2 {
			t.Errorf("%+v.Wait(%d): the longest of %d waits was %v; want some in the upper half of Max", c.e, c.n, samples, top)
		}
	}
}

// A wait is never zero, and a negative count is the first failure.
func TestWaitEdges(t *testing.T) {
	for _, e := range []Exponential{{}, {Base: 1, Max: 1}, {Base: -time.Second, Max: 0}, {Base: time.Second, Max: -1}} {
		if w := e.Wait(0); w != 1 {
			t.Errorf("%+v.Wait(0) = %v; want 1ns", e, w)
		}
	}
	e := Exponential{Base: 10 * time.Millisecond, Max: time.Second}
	for range samples {
		if w := e.Wait(-5); w < 1 || w >= 10*time.Millisecond {
			t.Fatalf("Wait(-5) = %v; want the first failure's, in [1ns, 10ms)", w)
		}
	}
	// Zero Base: every ceiling is Max.
	z := Exponential{Max: time.Second}
	var top time.Duration
	for range samples {
		top = max(top, z.Wait(0))
	}
	if top < 500*time.Millisecond {
		t.Errorf("zero Base: the longest of %d first waits was %v; want some over half of Max", samples, top)
	}
}

func TestSleepPasses(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep with a live context reported it was cut short")
	}
	if !Sleep(context.Background(), 0) {
		t.Error("Sleep(0) with a live context reported it was cut short")
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep on a done context reported an hour passed")
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) on a done context reported it passed")
	}

	// Cancelled while it sleeps: it returns, false.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- Sleep(ctx, time.Hour) }()
	cancel()
	if <-done {
		t.Error("Sleep cancelled part way reported an hour passed")
	}
}
