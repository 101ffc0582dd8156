package cache

import (
	"runtime"
	"sync"
	"weak"

	"github.com/qualitycommit/qcsdk/client"
)

// Every product of a maker carries the same enterprise record, and most
// the same commitment. Decoded one status at a time, each cached status
// would hold its own copy of both — three quarters of its memory. The
// interners below make the statuses share one copy per record id and
// version (a version names one content: the registry raises it on every
// change). They hold their records weakly, so a record no cached status
// uses any more is collected, and its slot with it.

type internKey struct {
	id      string
	version int64
}

type interner[T any] struct {
	mu sync.Mutex
	m  map[internKey]weak.Pointer[T]
}

type internSlot[T any] struct {
	key internKey
	ptr weak.Pointer[T]
}

// intern returns the copy already held for (id, version) if there is one,
// and otherwise starts holding p.
func (in *interner[T]) intern(id string, version int64, p *T) *T {
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

// forget frees the slot of a collected record, unless a newer copy took it.
// lookup returns the copy held for id and version, or nil.
func (in *interner[T]) lookup(id string, version int64) *T {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w, ok := in.m[internKey{id, version}]; ok {
		return w.Value()
	}
	return nil
}

func (in *interner[T]) forget(s internSlot[T]) {
	in.mu.Lock()
	if w, ok := in.m[s.key]; ok && w == s.ptr {
		delete(in.m, s.key)
	}
	in.mu.Unlock()
}

func (in *interner[T]) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}

// records interns the records of one registry. It belongs to a Cache or
// a Redis store — never to the process: two registries (a sandbox and
// production, or the parallel tests of this package) can each have a
// commitment of the same id and version with different content.
type records struct {
	enterprises interner[client.Enterprise]
	commitments interner[client.Commitment]
}

func (r *records) enterprise(e *client.Enterprise) *client.Enterprise {
	if e == nil {
		return nil
	}
	return r.enterprises.intern(e.ID, e.Version, e)
}

// status points a status the caller owns (just decoded) at the shared
// copies of its records.
func (r *records) status(st *client.ProductStatus) {
	if st == nil {
		return
	}
	st.Enterprise = r.enterprise(st.Enterprise)
	if c := st.Commitment; c != nil {
		st.Commitment = r.commitments.intern(c.ID, c.Version, c)
	}
}
