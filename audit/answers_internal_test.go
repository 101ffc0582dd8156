package audit

import (
	"fmt"
	"slices"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// mapStore is an AnswerStore in a map, recording the order of its puts.
type mapStore struct {
	m    map[client.ProductKey]Answer
	puts []client.ProductKey
}

func (s *mapStore) Get(k client.ProductKey) (Answer, bool, error) {
	a, ok := s.m[k]
	return a, ok, nil
}

func (s *mapStore) Put(a Answer) error {
	s.m[a.Key] = a
	s.puts = append(s.puts, a.Key)
	return nil
}

func answerFor(i int) Answer {
	return Answer{Key: client.ProductKey{USCC: "91350100M000100Y43", Brand: fmt.Sprint("b", i)}, Verdict: client.VerdictCommitted,
		Reason: fmt.Sprint("r", i)}
}

// The memo holds at most its bound in memory; each answer it pushes out
// goes to the store, least recently used first, and is found there.
func TestMemoBoundSpillsLeastRecentlyUsed(t *testing.T) {
	const bound = 3
	store := &mapStore{m: map[client.ProductKey]Answer{}}
	m := newMemo(bound, store)
	for i := range 5 {
		if err := m.put(answerFor(i)); err != nil {
			t.Fatal(err)
		}
		if n := m.mem.Len(); n > bound {
			t.Fatalf("after %d puts, %d answers in memory; the bound is %d", i+1, n, bound)
		}
	}
	if want := []client.ProductKey{answerFor(0).Key, answerFor(1).Key}; !slices.Equal(store.puts, want) {
		t.Fatalf("stored %v; want the two least recently used, oldest first: %v", store.puts, want)
	}

	// A get makes an answer recent: 2 stays, 3 goes at the next put.
	if a, ok, err := m.get(answerFor(2).Key); err != nil || !ok || a.Reason != "r2" {
		t.Fatalf("get 2: %+v, %v, %v; want it from memory", a, ok, err)
	}
	// Replacing a remembered answer evicts nothing.
	if err := m.put(answerFor(4)); err != nil || len(store.puts) != 2 {
		t.Fatalf("replacing 4: err %v, %d stored; want nothing more stored", err, len(store.puts))
	}
	if err := m.put(answerFor(5)); err != nil {
		t.Fatal(err)
	}
	if got := store.puts[len(store.puts)-1]; got != answerFor(3).Key {
		t.Fatalf("the put of 5 stored %v; want 3, the least recently used", got)
	}

	// An answer read back from the store returns to memory, and pushes
	// the least recently used out in its place.
	if a, ok, err := m.get(answerFor(0).Key); err != nil || !ok || a.Reason != "r0" {
		t.Fatalf("get 0: %+v, %v, %v; want it from the store", a, ok, err)
	}
	if !m.mem.Contains(answerFor(0).Key) || m.mem.Len() != bound {
		t.Fatalf("after reading 0 back: in memory %v, %d answers; want it there, %d in all", m.mem.Contains(answerFor(0).Key), m.mem.Len(), bound)
	}
	if got := store.puts[len(store.puts)-1]; got != answerFor(2).Key {
		t.Fatalf("reading 0 back stored %v; want 2, the least recently used", got)
	}
}

// Without a store, answers past the bound are forgotten.
func TestMemoWithoutStoreForgets(t *testing.T) {
	m := newMemo(2, nil)
	for i := range 3 {
		if err := m.put(answerFor(i)); err != nil {
			t.Fatal(err)
		}
	}
	if a, ok, err := m.get(answerFor(0).Key); err != nil || ok || a != nil {
		t.Fatalf("get of the evicted answer: %+v, %v, %v; want none", a, ok, err)
	}
	if m.mem.Len() != 2 {
		t.Fatalf("%d answers in memory; the bound is 2", m.mem.Len())
	}
}
