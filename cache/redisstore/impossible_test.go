package redisstore

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// A value no registry answer could be — a position and version far past
// the head the fleet has seen, written around the store (another
// environment on the prefix, a forged write, a registry restored from a
// backup) — is read as a miss, never served; the registry's next answer
// replaces it, whatever it claims; and it is counted and logged once.
func TestAValueBeyondTheHeadIsRefusedAndReplaced(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	var logs testio.Buffer
	r := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second)), WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))))
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()
	now := time.Now()
	answer := func(asOf, v int64) *cache.Entry {
		return &cache.Entry{Status: &client.ProductStatus{Listed: true, Version: v}, Maker: "ent_1",
			AsOf: asOf, Version: v, Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(24 * time.Hour)}
	}
	// The follower has seen the registry at position 196.
	if err := r.Stamp(ctx, cache.Stamp{Maker: "ent_0", Seq: 196}); err != nil {
		t.Fatal(err)
	}
	forge := func(key string, e *cache.Entry) {
		t.Helper()
		body, _, err := r.encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, "t:"+key, header(e)+string(body), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	forge("a", answer(100_083, 100_083))
	forge("b", answer(150, 100_083)) // a version no answer at 150 can hold
	forge("c", answer(190, 190))     // within the head: an ordinary entry

	got, err := r.GetMany(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil || got[1] != nil {
		t.Errorf("GetMany served values beyond the head: %+v, %+v; want misses", got[0], got[1])
	}
	if got[2] == nil || got[2].AsOf != 190 {
		t.Errorf("GetMany of an ordinary entry = %+v; want it", got[2])
	}
	if n := r.Stats().Impossible; n != 0 {
		t.Errorf("Impossible = %d before the registry answered; want 0 (a value may be another server's, just written)", n)
	}

	// The registry answers, at position 197: its answer replaces both.
	for _, k := range []string{"a", "b"} {
		fresh := answer(197, 197)
		if held, err := r.Set(ctx, k, fresh); err != nil || held != fresh {
			t.Fatalf("Set(%q) of the registry's answer = %+v, %v; want it to replace the impossible value", k, held, err)
		}
		if e, err := r.Get(ctx, k); err != nil || e == nil || e.AsOf != 197 {
			t.Fatalf("Get(%q) after = %+v, %v; want the registry's answer", k, e, err)
		}
	}
	if n := r.Stats().Impossible; n != 2 {
		t.Errorf("Impossible = %d; want 2", n)
	}
	if n := strings.Count(logs.String(), "beyond the registry's head"); n != 1 {
		t.Errorf("logged %d times; want once:\n%s", n, logs.String())
	}

	// A value ahead of what this server saw, written by another server
	// with a later answer, is not taken for an impossible one: the
	// registry's answer to this server shows the head past it.
	forge("d", answer(198, 198))
	if e, _ := r.Get(ctx, "d"); e != nil {
		t.Fatalf("Get of an entry past the known head = %+v; want a miss until the registry answers", e)
	}
	if held, err := r.Set(ctx, "d", answer(199, 198)); err != nil || held.AsOf != 199 {
		t.Fatalf("Set = %+v, %v", held, err)
	}
	if n := r.Stats().Impossible; n != 2 {
		t.Errorf("Impossible = %d after an entry that was only ahead; want 2", n)
	}
}

// A registry restored from a backup answers from an earlier position than
// the fleet has seen. The follower's resynchronisation reads its head and
// brings the fleet's down to it, so that what was cached from the lost
// future is refused and replaced, not served for as long as it lives.
func TestAResyncBringsTheHeadBackToTheRegistrys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	follower := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	server := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { follower.Close(); server.Close() })
	ctx := context.Background()
	now := time.Now()
	e := &cache.Entry{Status: &client.ProductStatus{Listed: true, Version: 4800}, Maker: "ent_1",
		AsOf: 5000, Version: 4800, Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(24 * time.Hour)}
	if _, err := server.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	if got, err := server.Get(ctx, "k"); err != nil || got == nil {
		t.Fatalf("Get = %+v, %v; want the entry", got, err)
	}
	// The registry is restored to position 4000.
	if err := follower.Stamp(ctx, cache.Stamp{Seq: 4000}); err != nil {
		t.Fatal(err)
	}
	cold := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { cold.Close() })
	for name, s := range map[string]*Store{"the follower": follower, "a new server": cold} {
		if got, err := s.Get(ctx, "k"); err != nil || got != nil {
			t.Errorf("%s read %+v, %v after the registry went back to 4000; want a miss", name, got, err)
		}
	}
	answer := *e
	answer.AsOf, answer.Version, answer.Status = 4001, 3900, &client.ProductStatus{Listed: true, Version: 3900}
	if held, err := cold.Set(ctx, "k", &answer); err != nil || held != &answer {
		t.Errorf("the restored registry's answer was refused: %+v, %v", held, err)
	}
}

// The replacement is of the value found, and only that: when another
// server writes a later answer under the key after this one found a value
// there beyond what it knew, this server's older answer does not replace
// the later one.
func TestOnlyTheValueFoundBeyondTheHeadIsReplaced(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	r := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	other := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { r.Close(); other.Close() })
	ctx := context.Background()
	now := time.Now()
	answer := func(asOf, v int64) *cache.Entry {
		return &cache.Entry{Status: &client.ProductStatus{Listed: true, Version: v}, Maker: "ent_1",
			AsOf: asOf, Version: v, Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(24 * time.Hour)}
	}
	if err := r.Stamp(ctx, cache.Stamp{Maker: "ent_0", Seq: 100}); err != nil {
		t.Fatal(err)
	}
	body, _, err := r.encode(answer(5000, 5000))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "t:k", header(answer(5000, 5000))+string(body), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if e, _ := r.Get(ctx, "k"); e != nil {
		t.Fatalf("Get of a value beyond the head = %+v; want a miss", e)
	}
	// Meanwhile another server finds it too and replaces it with the
	// registry's answer at 102; this one's answer, at 101, lands after.
	if e, _ := other.Get(ctx, "k"); e != nil {
		t.Fatalf("the other server's Get = %+v; want a miss", e)
	}
	if held, err := other.Set(ctx, "k", answer(102, 102)); err != nil || held.AsOf != 102 {
		t.Fatalf("the other server's Set = %+v, %v", held, err)
	}
	if _, err := r.Set(ctx, "k", answer(101, 101)); err != nil {
		t.Fatal(err)
	}
	if e, _ := other.Get(ctx, "k"); e == nil || e.AsOf != 102 {
		t.Errorf("Redis holds %+v; want the later answer, at 102", e)
	}
}
