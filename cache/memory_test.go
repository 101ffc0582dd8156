package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

func newMemory(t *testing.T, max int, clk *fakeClock) *cache.Memory {
	t.Helper()
	m := must(cache.NewMemory(cache.WithMemoryMaxEntries(max), cache.WithMemoryClock(clk.Now), cache.WithSweepInterval(-1)))
	t.Cleanup(func() { m.Close() })
	return m
}

func entry(v int64, now time.Time, ttl time.Duration) *cache.Entry {
	return &cache.Entry{
		Status: &client.ProductStatus{Version: v},
		AsOf:   v, Version: v, Fetched: now, FreshUntil: now.Add(ttl), Expires: now.Add(2 * ttl),
	}
}

func TestMemoryExpiresByItsClock(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, 10, clk)
	ctx := context.Background()
	e := entry(1, clk.Now(), time.Minute)
	if _, err := m.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2*time.Minute - time.Nanosecond)
	if got, _ := m.Get(ctx, "k"); got != e {
		t.Fatal("entry gone before it expired")
	}
	clk.Advance(time.Nanosecond)
	if got, _ := m.Get(ctx, "k"); got != nil {
		t.Fatal("entry served at its expiry time")
	}
	if _, err := m.Set(ctx, "k", &cache.Entry{Version: 1}); err == nil {
		t.Error("an entry without an expiry time was accepted")
	}
}

func TestMemorySetKeepsTheNewerVersion(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, 10, clk)
	ctx := context.Background()
	now := clk.Now()
	v5 := entry(5, now, time.Minute)
	m.Set(ctx, "k", v5)
	if won, _ := m.Set(ctx, "k", entry(4, now.Add(time.Second), time.Minute)); won != v5 {
		t.Errorf("an answer from an earlier position replaced a later one, though fetched later: %+v", won)
	}
	if won, _ := m.Set(ctx, "k", entry(5, now, time.Minute)); won != v5 {
		t.Errorf("an equal copy replaced the entry: %+v; equal is not newer", won)
	}
	renewed := entry(5, now.Add(time.Second), time.Minute)
	if won, _ := m.Set(ctx, "k", renewed); won != renewed {
		t.Error("a revalidation at the same position with a later TTL did not renew the entry")
	}
	tomb := &cache.Entry{AsOf: 6, Version: 6, Fetched: now, Expires: now.Add(time.Hour)}
	if won, _ := m.Set(ctx, "k", tomb); won != tomb || !won.Tombstone() {
		t.Error("a tombstone of a later change did not replace the entry")
	}
	if won, _ := m.Set(ctx, "k", entry(5, now.Add(30*time.Second), time.Minute)); won != tomb {
		t.Error("an answer from before the change replaced the tombstone, because it was fetched later")
	}
	// The change may concern a record this product's status does not carry,
	// so an answer at or past its position counts whatever its version.
	after := entry(3, now, time.Minute)
	after.AsOf = 6
	if won, _ := m.Set(ctx, "k", after); won != after {
		t.Error("an answer at the tombstone's position did not replace it")
	}
	// A delisting: the registry at a later position answers a lower
	// version (a status of no records), and it is the registry's word.
	delisted := entry(0, now, time.Minute)
	delisted.AsOf = 9
	if won, _ := m.Set(ctx, "k", delisted); won != delisted {
		t.Error("an answer from a later position was refused for its lower version")
	}
}

func TestMemoryBoundHoldsForAnyKeyPattern(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	ctx := context.Background()
	const max = 100
	patterns := map[string]func(i int) string{
		"distinct keys":      func(i int) string { return fmt.Sprint("k", i) },
		"one key again":      func(int) string { return "same" },
		"few keys in a loop": func(i int) string { return fmt.Sprint("k", i%7) },
	}
	for name, key := range patterns {
		m := newMemory(t, max, clk)
		for i := range 20 * max {
			now := clk.Now()
			m.Set(ctx, key(i), entry(int64(i+1), now, time.Minute))
			if n := m.Len(); n > max {
				t.Fatalf("%s: %d entries after %d sets, bound %d", name, n, i+1, max)
			}
		}
	}
	// Keys that expire and come back do not leak bookkeeping either.
	m := newMemory(t, max, clk)
	for round := range 50 {
		for i := range max {
			m.Set(ctx, fmt.Sprint("r", i), entry(int64(round+1), clk.Now(), time.Millisecond))
		}
		clk.Advance(time.Second)
		m.Delete(ctx, "r0")
	}
	if n := m.Len(); n > max {
		t.Errorf("%d entries, bound %d", n, max)
	}
}

// ofMaker is e marked as a record of maker.
func ofMaker(e *cache.Entry, maker string) *cache.Entry {
	e.Maker = maker
	return e
}

func TestMemoryStampReachesEveryEntryOfItsMaker(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, 10, clk)
	ctx := context.Background()
	for i := range 5 {
		m.Set(ctx, fmt.Sprint("p", i), ofMaker(entry(1, clk.Now(), time.Minute), "A"))
	}
	m.Delete(ctx, "p1")
	m.Set(ctx, "p1", ofMaker(entry(1, clk.Now(), time.Minute), "B"))
	// The change is at position 2. Clocks say nothing: an answer at
	// position 1 fetched a second after the change was learnt of still
	// predates it.
	if err := m.Stamp(ctx, cache.Stamp{Maker: "A", Seq: 2}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	for _, k := range []string{"p0", "p3", "p4"} {
		if e, _ := m.Get(ctx, k); e == nil || !e.Tombstone() || e.AsOf != 2 {
			t.Errorf("%s after its maker's stamp = %+v; want a tombstone at position 2", k, e)
		}
	}
	if e, _ := m.Get(ctx, "p1"); e == nil || e.Tombstone() {
		t.Errorf("another maker's entry = %+v; want it untouched", e)
	}
	if held, _ := m.Set(ctx, "p5", ofMaker(entry(1, clk.Now(), time.Minute), "A")); !held.Tombstone() {
		t.Errorf("an answer from before the change, stored after the stamp, was stored as %+v; want a tombstone", held)
	}
	if held, _ := m.Set(ctx, "p3", ofMaker(entry(2, clk.Now(), time.Minute), "A")); held.Tombstone() {
		t.Error("an answer at the change's position was refused")
	}
	late := ofMaker(entry(1, clk.Now(), time.Minute), "A")
	late.AsOf = 5 // a later answer whose records did not change (version 1)
	if held, _ := m.Set(ctx, "p4", late); held.Tombstone() {
		t.Error("an answer past the stamp's position was refused for its lower version")
	}
	// An older stamp recorded late changes nothing.
	if err := m.Stamp(ctx, cache.Stamp{Maker: "A", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if e, _ := m.Get(ctx, "p3"); e == nil || e.Tombstone() {
		t.Errorf("after an older stamp: %+v; want the answer at position 2", e)
	}

	// A resynchronisation at position 4 makes every entry below it stale,
	// without a scan, and leaves those at or past it fresh.
	if err := m.Stamp(ctx, cache.Stamp{Seq: 4}); err != nil {
		t.Fatal(err)
	}
	if e, _ := m.Get(ctx, "p1"); e == nil || e.FreshUntil.After(clk.Now()) {
		t.Errorf("after a resynchronisation: %+v; want it stale", e)
	}
	if e, _ := m.Get(ctx, "p4"); e == nil || !e.FreshUntil.After(clk.Now()) {
		t.Errorf("an entry past the resynchronisation's position: %+v; want it fresh", e)
	}
	m.Set(ctx, "p1", ofMaker(entry(4, clk.Now(), time.Minute), "B"))
	if e, _ := m.Get(ctx, "p1"); e == nil || !e.FreshUntil.After(clk.Now()) {
		t.Errorf("an answer at the resynchronisation's position: %+v; want it fresh", e)
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, 50, clk)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint("k", (i*7+w)%80)
				switch i % 4 {
				case 0, 1:
					m.Set(ctx, k, entry(int64(i), clk.Now(), time.Minute))
				case 2:
					if e, _ := m.Get(ctx, k); e != nil && e.Status.Version != e.Version {
						t.Errorf("torn entry %+v", e)
					}
				case 3:
					m.Stamp(ctx, cache.Stamp{Maker: "s", Seq: int64(i)})
				}
			}
		})
	}
	wg.Wait()
	if n := m.Len(); n > 50 {
		t.Errorf("%d entries, bound 50", n)
	}
}

// Expired entries are swept by a write once the interval has passed, in
// a goroutine of the write's that ends with the sweep: an idle store has
// none (goleak in TestMain checks that nothing outlives Close).
func TestMemorySweepsOnAWriteOncePerInterval(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := must(cache.NewMemory(cache.WithMemoryClock(clk.Now), cache.WithSweepInterval(time.Minute)))
	ctx := context.Background()
	m.Set(ctx, "old", entry(1, clk.Now(), time.Second))
	clk.Advance(30 * time.Second) // "old" expired; no sweep is due yet
	m.Set(ctx, "a", entry(1, clk.Now(), time.Hour))
	if n := m.Len(); n != 2 {
		t.Fatalf("%d entries before a sweep is due; want 2", n)
	}
	clk.Advance(time.Minute)
	m.Set(ctx, "b", entry(1, clk.Now(), time.Hour)) // starts the sweep
	if err := m.Close(); err != nil {               // and waits for it
		t.Fatal(err)
	}
	if n := m.Len(); n != 2 {
		t.Errorf("%d entries after the sweep; want 2 (the expired one gone)", n)
	}
	if e, _ := m.Get(ctx, "old"); e != nil {
		t.Errorf("the expired entry is still served: %+v", e)
	}
	m.Close() // idempotent
}

// A hit reads a table in front of go-cache without its lock. Whatever the
// keys that share a slot of it, a read answers for its own key only, never
// with a version older than one it has read, and never with an entry that
// was deleted or replaced before it began.
func TestMemoryReadsTheEntryHeldNow(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	// A bound of 4 keeps a front table of 4 slots for 16 keys: they share
	// slots, and are evicted, all the time.
	m := newMemory(t, 4, clk)
	ctx := context.Background()
	keyed := func(k string, v int64) *cache.Entry {
		e := entry(v, clk.Now(), time.Hour)
		e.ETag = k
		return e
	}
	var wg sync.WaitGroup
	// Each key has one writer, which stores ever higher versions of it
	// and now and then deletes it: a key's versions only go up.
	for w := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				k := fmt.Sprint("k", w*4+i%4)
				v := int64(i + 1)
				if i%10 == 9 {
					m.Delete(ctx, k)
					if e, _ := m.Get(ctx, k); e != nil {
						t.Errorf("%s read as version %d after its Delete", k, e.Version)
					}
					continue
				}
				m.Set(ctx, k, keyed(k, v))
				if e, _ := m.Get(ctx, k); e != nil && e.Version < v {
					t.Errorf("%s read as version %d after version %d was stored", k, e.Version, v)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			seen := map[string]int64{}
			for i := range 20000 {
				k := fmt.Sprint("k", i%16)
				e, _ := m.Get(ctx, k)
				if e == nil {
					continue
				}
				if e.ETag != k {
					t.Errorf("Get(%s) answered with %s's entry", k, e.ETag)
				}
				if e.Version < seen[k] {
					t.Errorf("%s read as version %d after %d", k, e.Version, seen[k])
				}
				seen[k] = e.Version
			}
		})
	}
	wg.Wait()
}

// The smallest store still keeps its one entry, and reads it.
func TestMemoryOfOneEntry(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, 1, clk)
	ctx := context.Background()
	for i, k := range []string{"06910000100003", "k", "06910000100010"} {
		e := entry(int64(i+1), clk.Now(), time.Minute)
		if _, err := m.Set(ctx, k, e); err != nil {
			t.Fatal(err)
		}
		if got, _ := m.Get(ctx, k); got != e {
			t.Errorf("Get(%s) = %v, want the entry just stored", k, got)
		}
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d entries, bound 1", n)
	}
}
