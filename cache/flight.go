package cache

import "sync"

// flights coalesces the fetches of a key: while one is in flight, every
// other lookup of the key waits for its answer instead of calling the API.
// It does what x/sync's singleflight does, with one difference the batch
// path needs: join says at once whether the caller leads the fetch, so
// that Statuses can queue all the fetches it leads into one batch call
// before any of them starts.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// A flight is one fetch of a key; done is closed once e and err are set.
type flight struct {
	done chan struct{}
	e    *Entry
	err  error
}

// join returns the flight of key in progress, or starts one that the
// caller leads: the caller must then land it.
func (f *flights) join(key string) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		return fl, false
	}
	if f.m == nil {
		f.m = make(map[string]*flight)
	}
	fl = &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

// land ends a flight with its answer and wakes its waiters. Lookups that
// come after it start a flight of their own.
func (f *flights) land(key string, fl *flight, e *Entry, err error) {
	f.mu.Lock()
	if f.m[key] == fl {
		delete(f.m, key)
	}
	f.mu.Unlock()
	fl.e, fl.err = e, err
	close(fl.done)
}
