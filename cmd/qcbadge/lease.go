package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
)

// leaseStore is the shared store the follower runs on: it elects one
// replica by a lease, and announces changes to the others.
type leaseStore interface {
	cache.Store
	cache.Leaser
	cache.Notifier
}

// leaseWatch is the follower's store, keeping what Redis last said of
// the lease, so that readiness can tell a replica standing by for
// another from one that has not heard from Redis about it at all.
type leaseWatch struct {
	leaseStore
	last   atomic.Pointer[leaseFinding] // nil: no answer yet
	errors atomic.Int64                 // calls Redis failed
}

// leaseFinding is the outcome of the last call for the lease.
type leaseFinding struct {
	held  bool   // by this replica
	other bool   // another replica holds it (or took it from this one)
	err   string // Redis failed: the error's first line
}

func (l *leaseWatch) Lease(ctx context.Context, token int64, ttl time.Duration) (int64, error) {
	t, err := l.leaseStore.Lease(ctx, token, ttl)
	f := &leaseFinding{}
	switch {
	case err == nil:
		f.held = true
	case errors.Is(err, cache.ErrLeaseHeld), errors.Is(err, cache.ErrLeaseLost):
		f.other = true
	case ctx.Err() != nil:
		return t, err // the follower stopping: nothing learnt
	default:
		// Counted with the cache's store errors: the follower asks for the
		// lease about every second while Redis fails, so the count moves
		// for as long as the outage lasts, where the cache stops asking
		// Redis after a few failures in a row.
		l.errors.Add(1)
		f.err = errorLine(err)
	}
	l.last.Store(f)
	return t, err
}

// followerCheck is /readyz's follower check: leading says whether this
// replica's follower applies the feed, caughtUp when it last reached the
// feed's head (0: not yet), and lease what Redis last said of the lease
// (nil without Redis).
func followerCheck(following, leading bool, caughtUp int64, lease *leaseWatch) check {
	switch {
	case !following:
		return check{OK: true, Reason: "off"}
	case leading || lease == nil:
		if caughtUp == 0 {
			return check{Reason: "catching up"}
		}
		return check{OK: true, Reason: "caught up"}
	}
	f := lease.last.Load()
	switch {
	case f == nil:
		return check{Reason: "starting: Redis has not answered for the follower's lease yet"}
	case f.other:
		return check{OK: true, Reason: "standby: another replica holds the lease"}
	case f.held:
		// Taken a moment ago; the follower is about to say it leads.
		return check{Reason: "catching up"}
	}
	return check{Reason: "no lease: Redis fails: " + f.err}
}
