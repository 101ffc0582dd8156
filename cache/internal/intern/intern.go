// Package intern makes the records of cached statuses share one copy per
// record id and version, for the cache and for the stores that decode
// entries.
//
// Every product of a maker carries the same enterprise record, and most
// the same commitment. Decoded one status at a time, each cached status
// would hold its own copy of both — three quarters of its memory. The
// interners below make the statuses share one copy per record id and
// version (a version names one content: the registry raises it on every
// change), and one copy of each record's inclusion proof in the
// registry's log per checkpoint (Proofs). They hold them weakly, so a
// record or proof no cached status uses any more is collected, and its
// slot with it.
package intern

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"unsafe"
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
	key   internKey
	ptr   weak.Pointer[T]
	owner weak.Pointer[Interner[T]]
}

// A cleanup reaches its interner weakly. The interner lives inside what
// holds the records (a cache, a store), which holds them: a cleanup that
// held the interner would hold its own record alive through it, and a
// closed cache, with all it kept, for ever.
func forgetIntern[T any](s internSlot[T]) {
	if in := s.owner.Value(); in != nil {
		in.forget(s)
	}
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
	runtime.AddCleanup(p, forgetIntern[T], internSlot[T]{k, w, weak.Make(in)})
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
	Proofs      Proofs
	// statusProofs holds one copy of each status proof, by the shared
	// record proofs it names: the products of a maker without an
	// inspection of their own carry one proof, that of the maker's two
	// records.
	statusProofs statusProofs
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
	r.Proof(st)
}

// proofKey names one record's inclusion proof: the record, by kind, id
// and position, in the tree the checkpoint (the signed note itself)
// describes. One record has one proof per tree.
type proofKey struct {
	kind, id   string
	seq        int64
	checkpoint string
}

// proofRef is a held proof: its first hash, weakly, and how many hashes
// it has.
type proofRef struct {
	first weak.Pointer[client.LogHash]
	n     int
}

// proofSlot is what a collected proof's cleanup is handed.
type proofSlot struct {
	key   proofKey
	ptr   weak.Pointer[client.LogHash]
	owner weak.Pointer[Proofs] // weakly, as internSlot's
}

func forgetProof(s proofSlot) {
	if p := s.owner.Value(); p != nil {
		p.forget(s)
	}
}

// Proofs holds one copy of each record's inclusion proof per tree,
// weakly. Every product of a maker carries the maker's record, and its
// proof against one checkpoint is the same for all of them: a status
// keeping its own copy would hold most of a kilobyte per record.
type Proofs struct {
	mu sync.Mutex
	m  map[proofKey]proofRef
}

// intern returns the copy held for the proof of (kind, id, seq) against
// checkpoint, if there is one equal to hashes, and otherwise starts
// holding hashes. The weak pointer is to the proof's first hash, which
// keeps the whole array of hashes alive while any status refers to it.
func (p *Proofs) intern(kind, id string, seq int64, checkpoint string, hashes []client.LogHash) (_ []client.LogHash, held bool) {
	if len(hashes) == 0 || checkpoint == "" {
		return hashes, false
	}
	k := proofKey{kind, id, seq, checkpoint}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ref, ok := p.m[k]; ok {
		if first := ref.first.Value(); first != nil {
			// One tree gives one proof of a leaf; a copy that differs
			// was not verified against it, and is not shared.
			if ref.n != len(hashes) {
				return hashes, false
			}
			if held := unsafe.Slice(first, ref.n); slices.Equal(held, hashes) {
				return held, true
			}
			return hashes, false
		}
	}
	if p.m == nil {
		p.m = make(map[proofKey]proofRef)
	}
	w := weak.Make(&hashes[0])
	p.m[k] = proofRef{w, len(hashes)}
	runtime.AddCleanup(&hashes[0], forgetProof, proofSlot{k, w, weak.Make(p)})
	return hashes, true
}

func (p *Proofs) forget(s proofSlot) {
	p.mu.Lock()
	if ref, ok := p.m[s.key]; ok && ref.first == s.ptr {
		delete(p.m, s.key)
	}
	p.mu.Unlock()
}

// Len is how many proofs are held.
func (p *Proofs) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// recordKinds are the kinds a status's records are of, so that each
// status's proof names them with the one copy of each string.
var recordKinds = map[string]string{"enterprise": "enterprise", "commitment": "commitment", "inspection": "inspection"}

// Proof points a status's proof at the shared copies of its records'
// proofs, and of their kinds and ids.
func (r *Records) Proof(st *client.ProductStatus) {
	p := st.Proof
	if p == nil {
		return
	}
	ids := make([]string, 0, 2+len(st.Inspections))
	if st.Enterprise != nil {
		ids = append(ids, st.Enterprise.ID)
	}
	if st.Commitment != nil {
		ids = append(ids, st.Commitment.ID)
	}
	for i := range st.Inspections {
		ids = append(ids, st.Inspections[i].ID)
	}
	shared := len(p.Records) > 0
	for i := range p.Records {
		rp := &p.Records[i]
		if k, ok := recordKinds[rp.Kind]; ok {
			rp.Kind = k
		}
		if i < len(ids) && ids[i] == rp.ID {
			rp.ID = ids[i]
		}
		var held bool
		rp.Proof, held = r.Proofs.intern(rp.Kind, rp.ID, rp.Seq, p.Checkpoint, rp.Proof)
		shared = shared && held
	}
	if shared && p.Consistency == nil {
		st.Proof = r.statusProofs.intern(p)
	}
}

// statusProofs holds status proofs weakly, by the record proofs they
// name. Each record proof held (see Proofs) stands for one record in one
// tree, so its address, while a proof naming it is alive, names both:
// the key is the addresses of a proof's record proofs, in order.
type statusProofs struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[client.StatusProof]
}

type statusProofSlot struct {
	key   string
	ptr   weak.Pointer[client.StatusProof]
	owner weak.Pointer[statusProofs] // weakly, as internSlot's
}

func forgetStatusProof(slot statusProofSlot) {
	if s := slot.owner.Value(); s != nil {
		s.forget(slot)
	}
}

// intern returns the copy held of a proof equal to p, if there is one,
// and otherwise starts holding p. Every record proof of p must be one
// Proofs holds.
func (s *statusProofs) intern(p *client.StatusProof) *client.StatusProof {
	key := make([]byte, 0, 8*len(p.Records))
	for _, rp := range p.Records {
		key = binary.LittleEndian.AppendUint64(key, uint64(uintptr(unsafe.Pointer(&rp.Proof[0]))))
	}
	k := string(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[k]; ok {
		if held := w.Value(); held != nil && sameProof(held, p) {
			return held
		}
	}
	if s.m == nil {
		s.m = make(map[string]weak.Pointer[client.StatusProof])
	}
	w := weak.Make(p)
	s.m[k] = w
	runtime.AddCleanup(p, forgetStatusProof, statusProofSlot{k, w, weak.Make(s)})
	return p
}

func (s *statusProofs) forget(slot statusProofSlot) {
	s.mu.Lock()
	if w, ok := s.m[slot.key]; ok && w == slot.ptr {
		delete(s.m, slot.key)
	}
	s.mu.Unlock()
}

// sameProof reports whether two status proofs say the same: the one
// checkpoint, and the same records with the same (shared) proofs.
func sameProof(a, b *client.StatusProof) bool {
	if a.Checkpoint != b.Checkpoint || len(a.Records) != len(b.Records) || a.Consistency != nil || b.Consistency != nil {
		return false
	}
	for i := range a.Records {
		x, y := &a.Records[i], &b.Records[i]
		if x.Kind != y.Kind || x.ID != y.ID || x.Seq != y.Seq || len(x.Proof) != len(y.Proof) || &x.Proof[0] != &y.Proof[0] {
			return false
		}
	}
	return true
}
