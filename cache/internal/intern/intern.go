// Package intern makes the records of cached statuses share one copy per
// record id and version, for the cache and for the stores that decode
// entries.
//
// Every product of a maker carries the same enterprise record, and most
// the same commitment. Decoded one status at a time, each cached status
// would hold its own copy of both — three quarters of its memory. The
// interners below make the statuses share one copy per record id and
// version (a version names one content: the registry raises it on every
// change). They hold their records weakly, so a record no cached status
// uses any more is collected, and its slot with it.
package intern

import (
	"runtime"
	"sync"
	"weak"

	"github.com/qualitycommit/qcsdk/client"
)

type internKey struct {
	id      string
	version int64
}

// An Interner holds one copy of a record per id and version, weakly.
type Interner[T any] struct {
	mu sync.Mutex
	m  map[internKey]weak.Pointer[T]
}

type internSlot[T any] struct {
	key internKey
	ptr weak.Pointer[T]
}

// Intern returns the copy already held for (id, version) if there is one,
// and otherwise starts holding p.
func (in *Interner[T]) Intern(id string, version int64, p *T) *T {
	if p == nil || id == "" {
		return p
	}
	k := internKey{id, version}
	in.mu.Lock()
	defer in.mu.Unlock()
	if w, ok := in.m[k]; ok {
		if held := w.Value(); held != nil {
			return held
		}
	}
	if in.m == nil {
		in.m = make(map[internKey]weak.Pointer[T])
	}
	w := weak.Make(p)
	in.m[k] = w
	runtime.AddCleanup(p, in.forget, internSlot[T]{k, w})
	return p
}

// Lookup returns the copy held for id and version, or nil.
func (in *Interner[T]) Lookup(id string, version int64) *T {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w, ok := in.m[internKey{id, version}]; ok {
		return w.Value()
	}
	return nil
}

// forget frees the slot of a collected record, unless a newer copy took it.
func (in *Interner[T]) forget(s internSlot[T]) {
	in.mu.Lock()
	if w, ok := in.m[s.key]; ok && w == s.ptr {
		delete(in.m, s.key)
	}
	in.mu.Unlock()
}

// Len is how many records are held.
func (in *Interner[T]) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}

// Records interns the records of one registry. It belongs to a Cache or
// a Redis store — never to the process: two registries (a sandbox and
// production, or the parallel tests of this package) can each have a
// commitment of the same id and version with different content.
type Records struct {
	Enterprises Interner[client.Enterprise]
	Commitments Interner[client.Commitment]
}

// Enterprise returns the shared copy of e.
func (r *Records) Enterprise(e *client.Enterprise) *client.Enterprise {
	if e == nil {
		return nil
	}
	return r.Enterprises.Intern(e.ID, e.Version, e)
}

// Status points a status the caller owns (just decoded) at the shared
// copies of its records.
func (r *Records) Status(st *client.ProductStatus) {
	if st == nil {
		return
	}
	st.Enterprise = r.Enterprise(st.Enterprise)
	if c := st.Commitment; c != nil {
		st.Commitment = r.Commitments.Intern(c.ID, c.Version, c)
	}
}
