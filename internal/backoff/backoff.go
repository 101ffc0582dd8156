package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exponential is a capped exponential backoff with full jitter. Its zero
// value waits the least it can, 1 ns: set both fields.
type Exponential struct {
	// Base is the ceiling of the first wait; each failure in a row
	// doubles it. Zero or less: every ceiling is Max.
	Base time.Duration
	// Max caps the ceiling, below Base too.
	Max time.Duration
}

// Wait is the wait after n failures in a row, counted from 0 (a negative
// n counts as 0): a uniformly random duration in [1 ns, min(Max,
// Base·2ⁿ)), and 1 ns when that ceiling is 1 ns or less. Base·2ⁿ past
// the largest Duration is taken as Max, whatever the shift wraps to. Wait
// is safe for concurrent use.
func (e Exponential) Wait(n int) time.Duration {
	n = max(n, 0)
	ceiling := e.Max
	if n < 63 {
		if d := e.Base << n; d > 0 && d>>n == e.Base && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 1 {
		return 1
	}
	return 1 + rand.N(ceiling-1)
}

// Sleep waits d, or until ctx is done, and reports whether d passed. A d
// of zero or less passes at once unless ctx is already done.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
