// Package storetest checks that a cache.Store keeps the rules the cache
// relies on to never show an answer older than one already seen: entries
// ordered by the registry's position and never by a machine's clock, a
// tie that writes nothing, and stamps that reach exactly the entries
// below them. It is to a Store what testing/fstest is to an fs.FS: the
// stores of this module run it, and so can a store of one's own.
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) cache.Store { return newMyStore(t) })
//	}
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

// Run checks the store newStore builds, one new store for each rule, so
// that a resynchronisation in one cannot hide a mistake in another. The
// store must judge expiry by a clock within a minute of the real one, and
// start empty; Run closes it.
//
// A store that writes many entries at once (cache.MultiSetter) is checked
// twice: once by Set, once with every write made by SetMany.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			r.check(t, &checker{t: t, s: s, ctx: context.Background(), now: time.Now()})
		})
		t.Run(r.name+"/SetMany", func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			ms, ok := s.(cache.MultiSetter)
			if !ok {
				t.Skip("the store has no SetMany")
			}
			r.check(t, &checker{t: t, s: viaSetMany{s, ms}, ctx: context.Background(), now: time.Now()})
		})
	}
}

// viaSetMany is a store whose Set is its SetMany of one key.
type viaSetMany struct {
	cache.Store
	ms cache.MultiSetter
}

func (v viaSetMany) Set(ctx context.Context, key string, e *cache.Entry) (*cache.Entry, error) {
	held, err := v.ms.SetMany(ctx, []string{key}, []*cache.Entry{e})
	if err != nil {
		return nil, err
	}
	return held[0], nil
}

type checker struct {
	t   *testing.T
	s   cache.Store
	ctx context.Context
	now time.Time
}

// answer is a status of maker at position asOf and version v, fresh for an
// hour by the checker's clock.
func (c *checker) answer(maker string, asOf, v int64) *cache.Entry {
	return &cache.Entry{
		Status: &client.ProductStatus{Listed: true, Version: v},
		Maker:  maker, AsOf: asOf, Version: v, ETag: fmt.Sprintf(`"%d-%d"`, asOf, v),
		Fetched: c.now, FreshUntil: c.now.Add(time.Hour), Expires: c.now.Add(2 * time.Hour),
	}
}

func (c *checker) set(key string, e *cache.Entry) *cache.Entry {
	c.t.Helper()
	held, err := c.s.Set(c.ctx, key, e)
	if err != nil {
		c.t.Fatalf("Set(%q): %v", key, err)
	}
	return held
}

func (c *checker) get(key string) *cache.Entry {
	c.t.Helper()
	e, err := c.s.Get(c.ctx, key)
	if err != nil {
		c.t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

func (c *checker) stamp(s cache.Stamp) {
	c.t.Helper()
	if err := c.s.Stamp(c.ctx, s); err != nil {
		c.t.Fatalf("Stamp(%+v): %v", s, err)
	}
}

// want checks that key holds an answer at position asOf and version v.
func (c *checker) want(key string, asOf, v int64, why string) {
	c.t.Helper()
	e := c.get(key)
	switch {
	case e == nil:
		c.t.Errorf("%s: Get(%q) = nil; want the answer at position %d, version %d", why, key, asOf, v)
	case e.Tombstone() || e.AsOf != asOf || e.Version != v:
		c.t.Errorf("%s: Get(%q) = position %d, version %d (tombstone %v); want the answer at position %d, version %d",
			why, key, e.AsOf, e.Version, e.Tombstone(), asOf, v)
	}
}

func (c *checker) wantTombstone(key string, why string) {
	c.t.Helper()
	if e := c.get(key); e != nil && !e.Tombstone() {
		c.t.Errorf("%s: Get(%q) = an answer at position %d; want a tombstone or nothing", why, key, e.AsOf)
	}
}

func (c *checker) fresh(key string) bool {
	c.t.Helper()
	e := c.get(key)
	return e != nil && time.Now().Before(e.FreshUntil)
}

var rules = []struct {
	name  string
	check func(t *testing.T, c *checker)
}{
	{"LaterPositionWins", func(t *testing.T, c *checker) {
		c.set("k", c.answer("m", 10, 10))
		later := c.answer("m", 12, 12)
		if held := c.set("k", later); held == nil || held.AsOf != 12 {
			t.Errorf("Set of an answer at a later position returned %+v; want it", held)
		}
		c.want("k", 12, 12, "after a later answer")
	}},
	{"EarlierPositionLoses", func(t *testing.T, c *checker) {
		c.set("k", c.answer("m", 12, 12))
		old := c.answer("m", 10, 10)
		old.Fetched, old.FreshUntil, old.Expires = c.now.Add(time.Minute), c.now.Add(2*time.Hour), c.now.Add(3*time.Hour)
		if held := c.set("k", old); held == old || held == nil || held.AsOf != 12 {
			t.Errorf("Set of an answer from an earlier position, fetched later by the clock, returned %+v; want the held one", held)
		}
		c.want("k", 12, 12, "after an earlier answer")
	}},
	{"LaterPositionWinsOverHigherVersion", func(t *testing.T, c *checker) {
		// A maker delisted: the registry answers "not listed", a status
		// of no records (version 0), at a later position.
		c.set("k", c.answer("m", 15, 15))
		c.set("k", c.answer("", 20, 0))
		c.want("k", 20, 0, "after the registry's later answer of a lower version")
	}},
	{"EqualIsNotNewer", func(t *testing.T, c *checker) {
		e := c.answer("m", 10, 10)
		c.set("k", e)
		copy := *e
		if held := c.set("k", &copy); held == &copy {
			t.Error("Set of an equal copy stored it: equal is not newer, and a tie writes nothing")
		}
		c.want("k", 10, 10, "after an equal copy")
	}},
	{"RenewalAtOnePosition", func(t *testing.T, c *checker) {
		c.set("k", c.answer("m", 10, 10))
		renewed := c.answer("m", 10, 10)
		renewed.FreshUntil, renewed.Expires = c.now.Add(3*time.Hour), c.now.Add(4*time.Hour)
		if held := c.set("k", renewed); held == nil || !held.FreshUntil.Equal(renewed.FreshUntil) {
			t.Errorf("Set of a revalidated copy (same position, later TTL) returned %+v; want it", held)
		}
	}},
	{"TombstoneOrder", func(t *testing.T, c *checker) {
		c.set("k", c.answer("m", 10, 10))
		tomb := &cache.Entry{Maker: "m", AsOf: 12, Version: 12, Fetched: c.now, Expires: c.now.Add(time.Hour)}
		c.set("k", tomb)
		c.wantTombstone("k", "after a tombstone of a later change")
		c.set("k", c.answer("m", 11, 11))
		c.wantTombstone("k", "after an answer from before the change")
		c.set("k", c.answer("m", 12, 9))
		c.want("k", 12, 9, "an answer at the change's position carries it, whatever its version")
	}},
	{"MakerStamp", func(t *testing.T, c *checker) {
		for _, k := range []struct {
			key   string
			maker string
			asOf  int64
		}{{"before", "m", 9}, {"at", "m", 10}, {"after", "m", 11}, {"other", "o", 9}} {
			c.set(k.key, c.answer(k.maker, k.asOf, k.asOf))
		}
		c.stamp(cache.Stamp{Maker: "m", Seq: 10})
		c.wantTombstone("before", "an answer of the maker from before its change")
		c.want("at", 10, 10, "an answer at the change's position")
		c.want("after", 11, 11, "an answer from after the change")
		c.want("other", 9, 9, "another maker's answer")
		// An answer in flight when the stamp was recorded, stored after it.
		c.set("late", c.answer("m", 9, 9))
		c.wantTombstone("late", "an answer from before the change, stored after the stamp")
		c.stamp(cache.Stamp{Maker: "m", Seq: 8})
		c.want("at", 10, 10, "after an older stamp recorded late")
		c.wantTombstone("before", "after an older stamp recorded late")
	}},
	{"StampIgnoresClocks", func(t *testing.T, c *checker) {
		// Fetched by a server whose clock leads by an hour, a minute
		// before the change: still before it, by the registry's clock.
		e := c.answer("m", 9, 9)
		e.Fetched = c.now.Add(time.Hour)
		c.set("lead", e)
		lag := c.answer("m", 10, 10)
		lag.Fetched = c.now.Add(-time.Hour)
		c.set("lag", lag)
		c.stamp(cache.Stamp{Maker: "m", Seq: 10})
		c.wantTombstone("lead", "an answer from before the change, dated after it by a leading clock")
		c.want("lag", 10, 10, "an answer at the change, dated before it by a lagging clock")
	}},
	{"Resync", func(t *testing.T, c *checker) {
		c.set("below", c.answer("m", 9, 9))
		c.set("at", c.answer("m", 10, 10))
		c.stamp(cache.Stamp{Seq: 10})
		c.set("above", c.answer("o", 11, 3)) // fetched after the resynchronisation
		if c.fresh("below") {
			t.Error("an answer from before the resynchronisation's position is still fresh: it must be revalidated")
		}
		if e := c.get("below"); e == nil || e.Tombstone() {
			t.Errorf("an answer from before the resynchronisation = %+v; want it served, stale", e)
		}
		if !c.fresh("at") || !c.fresh("above") {
			t.Error("an answer at or past the resynchronisation's position was made stale")
		}
		c.set("below", c.answer("m", 10, 9))
		if !c.fresh("below") {
			t.Error("the revalidated answer, at the resynchronisation's position, is not fresh")
		}
	}},
}
