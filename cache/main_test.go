package cache_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test leaves a goroutine behind: sweeps, refreshes, batchers,
// subscriptions and followers all stop with Close or their context.
//
// One of go-redis's is let through: after a failed dial, a client's pool
// probes the server once a second from a goroutine that sees the pool
// closed only when it wakes, up to a second after Close — longer than
// goleak waits. The tests that kill Redis leave one such.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
