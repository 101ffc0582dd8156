package audit

import (
	"fmt"

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
// recently used past it in the store, or forgotten without one.
type memo struct {
	mem   *lru
	store AnswerStore // nil: forget
}

func (m *memo) get(k client.ProductKey) (*Answer, bool, error) {
	if a, ok := m.mem.get(k); ok || m.store == nil {
		return a, ok, nil
	}
	a, ok, err := m.store.Get(k)
	if err != nil || !ok {
		return nil, false, wrapStore(err)
	}
	// Back in memory: a key sold often is read from disk once a while.
	return &a, true, m.put(a)
}

func (m *memo) put(a Answer) error {
	evicted := m.mem.put(a)
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
