package audit

import (
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/qualitycommit/qcsdk/client"
)

// AnswerStore keeps the answers a run no longer holds in memory, so that
// each distinct key is looked up once however many a catalogue has:
// Options.MaxKeys bounds the answers in memory, and the least recently
// used of them go to the store rather than being forgotten. Package
// audit/spill has one on disk.
//
// Run calls it from one goroutine. An error from either method ends the
// run.
type AnswerStore interface {
	// Get returns the answer stored for k, with ok false if none.
	Get(k client.ProductKey) (a Answer, ok bool, err error)
	// Put stores a, replacing any answer for its key.
	Put(a Answer) error
}

// memo is what a run remembers: up to max answers in memory, the least
// recently used past it in the store, or forgotten without one. Run uses
// it from one goroutine, so the LRU is golang-lru's unlocked one.
type memo struct {
	mem   *simplelru.LRU[client.ProductKey, *Answer]
	store AnswerStore // nil: forget
	// evicted is the answer the last put pushed out of memory, handed
	// over by the LRU's eviction callback: one Add evicts at most one.
	evicted *Answer
}

// newMemo returns a memo of at most n answers in memory (at least one).
func newMemo(n int, store AnswerStore) *memo {
	m := &memo{store: store}
	// NewLRU refuses only a size below one.
	m.mem, _ = simplelru.NewLRU(max(n, 1), func(_ client.ProductKey, a *Answer) { m.evicted = a })
	return m
}

func (m *memo) get(k client.ProductKey) (*Answer, bool, error) {
	if a, ok := m.mem.Get(k); ok || m.store == nil {
		return a, ok, nil
	}
	a, ok, err := m.store.Get(k)
	if err != nil || !ok {
		return nil, false, wrapStore(err)
	}
	// Back in memory: a key sold often is read from disk once a while.
	return &a, true, m.put(a)
}

// put remembers a, replacing any answer for its key, and hands the
// answer it pushed out of memory, if any, to the store.
func (m *memo) put(a Answer) error {
	m.evicted = nil
	m.mem.Add(a.Key, &a)
	evicted := m.evicted
	m.evicted = nil
	if evicted == nil || m.store == nil {
		return nil
	}
	return wrapStore(m.store.Put(*evicted))
}

func wrapStore(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("audit: remembering answers: %w", err)
}
