package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// flights coalesces the fetches of a key: while one is in flight, every
// other lookup of the key waits for its answer instead of calling the API.
// It does what x/sync's singleflight does, with what the batch path needs
// besides: join says at once whether the caller leads the fetch, so that
// Statuses can queue all the fetches it leads into one batch call before
// any of them starts; and a flight counts the callers waiting for it, so
// that a fetch nobody waits for any more is never sent.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// A flight is one fetch of a key; done is closed once e and err are set.
type flight struct {
	done chan struct{}
	e    *Entry
	err  error

	// Under flights.mu:
	waiters int  // callers in await
	keep    bool // a background refresh: sent whether anyone waits or not
	landed  bool
	// deadline is the latest of its waiters' deadlines, and unbounded
	// whether one waits with none: how long the answer is worth waiting
	// for. A background refresh is unbounded too.
	deadline  time.Time
	unbounded bool
	// calls are the batch calls that carry it, for the last waiter to
	// leave to cancel the slow ones nobody needs.
	calls []*batchCall

	// high is set once a caller at the client's high priority (the
	// platform's own pages) waits: the call that fetches it is then high.
	high atomic.Bool
}

// join returns the flight of key in progress, or starts one that the
// caller leads: the caller must then land it (or drop it). A caller that
// will wait for the answer says so, with its deadline (zero for none),
// and must leave when it stops waiting; one that will not (a background
// refresh) makes the flight one to send whether or not anyone waits.
func (f *flights) join(key string, waits bool, deadline time.Time) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl = f.m[key]
	if fl == nil {
		if f.m == nil {
			f.m = make(map[string]*flight)
		}
		fl = &flight{done: make(chan struct{})}
		f.m[key] = fl
		leader = true
	}
	switch {
	case !waits:
		fl.keep, fl.unbounded = true, true
	case deadline.IsZero():
		fl.waiters++
		fl.unbounded = true
	default:
		fl.waiters++
		if deadline.After(fl.deadline) {
			fl.deadline = deadline
		}
	}
	return fl, leader
}

// until is how long fl's answer is worth waiting for: the latest deadline
// of its waiters, with ok unset when one waits without a deadline or it
// is a background refresh.
func (f *flights) until(fl *flight) (deadline time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fl.deadline, !fl.unbounded
}

// carry records that bc carries fl.
func (f *flights) carry(fl *flight, bc *batchCall) {
	f.mu.Lock()
	if !fl.landed {
		fl.calls = append(fl.calls, bc)
	}
	f.mu.Unlock()
}

// leave says that a caller stopped waiting for fl. The last to leave a
// flight nobody else needs cancels the slow calls that carry it, once
// none of their keys is wanted any more.
func (f *flights) leave(fl *flight) {
	f.mu.Lock()
	fl.waiters--
	var calls []*batchCall
	if fl.waiters == 0 && !fl.keep && !fl.landed {
		calls = fl.calls
	}
	f.mu.Unlock()
	for _, bc := range calls {
		bc.abandon(f)
	}
}

// wanted reports whether fl's answer is still awaited: it has not landed,
// and someone waits for it or it is a background refresh.
func (f *flights) wanted(fl *flight) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !fl.landed && (fl.waiters > 0 || fl.keep)
}

// drop ends fl with err if nobody waits for it, and reports whether it
// did: the fetch it stood for need not be sent. A lookup of key that
// comes after starts a flight of its own.
func (f *flights) drop(key string, fl *flight, err error) bool {
	return f.end(key, fl, nil, err, true)
}

// land ends a flight with its answer and wakes its waiters, and reports
// whether it did: a flight lands once, whichever of its fetches (a
// hedged batch sends some twice) answers first. Lookups that come after
// it start a flight of their own.
func (f *flights) land(key string, fl *flight, e *Entry, err error) bool {
	return f.end(key, fl, e, err, false)
}

// end ends fl with e and err unless it has ended, or, if unwanted only,
// unless someone waits for it.
func (f *flights) end(key string, fl *flight, e *Entry, err error, unwantedOnly bool) bool {
	f.mu.Lock()
	if fl.landed || unwantedOnly && (fl.waiters > 0 || fl.keep) {
		f.mu.Unlock()
		return false
	}
	fl.landed = true
	fl.calls = nil
	if f.m[key] == fl {
		delete(f.m, key)
	}
	f.mu.Unlock()
	fl.e, fl.err = e, err
	close(fl.done)
	return true
}

// isLanded reports whether fl has its answer.
func (f *flights) isLanded(fl *flight) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fl.landed
}
