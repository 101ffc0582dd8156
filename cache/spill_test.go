package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// spillingServer is a web server of a fleet whose Tiered store spills
// what it has not flushed to Redis into a directory, and that can be
// stopped and started again on it, as a process is restarted.
type spillingServer struct {
	*webServer
	stop func()
}

func startSpillingServer(t *testing.T, api *client.Client, addr, prefix, dir string) *spillingServer {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	mem := must(cache.NewMemory())
	tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(50*time.Millisecond), cache.WithSpill(dir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	s := &spillingServer{webServer: &webServer{cache: c, tiered: tiered, shared: shared}}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		c.Close()
		tiered.Close()
		shared.Close()
		mem.Close()
		rdb.Close()
	}
	t.Cleanup(s.stop)
	return s
}

// A server restarted while cut off from Redis used to forget what it had
// learnt meanwhile: once Redis answered again it read Redis's older entry
// and showed a revoked commitment as committed again. With a spill
// directory, what was not yet in Redis is on disk: the restarted server
// loads it, serves nothing older, and writes it to Redis once Redis
// answers, so that the rest of the fleet moves forward with it.
func TestARestartCutOffFromRedisDoesNotForget(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv, api := newSandbox(t)
	prefix := "test:" + t.Name() + ":"
	dir := t.TempDir()
	a := startSpillingServer(t, api, proxy.Addr(), prefix, dir)
	b := newWebServer(t, api, rs.Addr(), prefix)
	ctx := context.Background()

	// B puts the committed answer in Redis, fresh for minutes.
	g := demoGTIN(t, srv, client.VerdictCommitted)
	st, err := statusByGTIN(b.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	// A, cut off, asks the registry and shows the revocation: it is
	// noted, to be written to Redis once Redis answers.
	awaitVerdict(t, a.cache, g, client.VerdictWithdrawn, 10*time.Second)
	revoked, err := statusByGTIN(a.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if n := a.tiered.Stats().Unflushed; n == 0 {
		t.Fatalf("A, cut off, noted nothing to write to Redis: %+v", a.tiered.Stats())
	}

	// A restarts, still cut off, on the same directory; then the link
	// heals.
	a.stop()
	a = startSpillingServer(t, api, proxy.Addr(), prefix, dir)
	proxy.Heal()

	// Until Redis holds the revocation, A must show nothing older.
	deadline := time.Now().Add(timescale.Scale(15 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st, err := statusByGTIN(a.cache, ctx, g)
		if err == nil && (st.Version < revoked.Version || client.Decide(st, time.Now(), 0).Verdict == client.VerdictCommitted) {
			t.Fatalf("A, restarted, went back from version %d to %d (%s)",
				revoked.Version, st.Version, client.Decide(st, time.Now(), 0).Verdict)
		}
		if e, _ := b.shared.Get(ctx, string(g)); e != nil && e.Version >= revoked.Version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis still does not hold what A learnt before its restart, 15s after the link healed")
		}
		<-tick.C
	}
	// The rest of the fleet moves forward with it, and never back.
	awaitVerdict(t, b.cache, g, client.VerdictWithdrawn, 10*time.Second)
	for _, s := range []*webServer{a.webServer, b} {
		for range 50 {
			st, err := statusByGTIN(s.cache, ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			if v := client.Decide(st, time.Now(), 0).Verdict; v != client.VerdictWithdrawn {
				t.Fatalf("after Redis learnt the revocation, a server shows %s", v)
			}
		}
	}

	// Flushed, the spill is gone: nothing is left to load.
	a.stop()
	if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
		t.Errorf("the spill directory holds %v (%v) after everything reached Redis; want nothing", left, err)
	}
}

// spillNode is a Tiered store that spills into dir, over a Redis behind
// proxy.
func spillNode(t *testing.T, proxy *faultproxy.Proxy, prefix, dir string, mem *cache.Memory) *cache.Tiered {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	shared := must(redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(testStoreTimeout)))
	if mem == nil {
		mem = must(cache.NewMemory())
	}
	tiered, err := cache.NewTiered(mem, shared, cache.WithCooldown(20*time.Millisecond), cache.WithSpill(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tiered.Close()
		shared.Close()
		mem.Close()
		rdb.Close()
	})
	return tiered
}

func startProxy(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	rs := redistest.Start(t)
	proxy, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return proxy
}

// spillLines is the spill file's lines, nil when there is no file.
func spillLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, cache.SpillFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// staleEntry is an entry at version v that is stale but may still be
// served for an hour: a copy of it read from any store is itself.
func staleEntry(v int64) *cache.Entry {
	e := entryAt(v, time.Now().Add(-2*time.Minute))
	e.Expires = time.Now().Add(time.Hour)
	return e
}

// A server whose Redis answers writes nothing to disk; what it learns
// while Redis fails is spilled, whole, and loaded again by the next
// store on the directory; once Redis has it, the file is gone.
func TestSpillOnlyWhileRedisFails(t *testing.T) {
	t.Parallel()
	proxy := startProxy(t)
	prefix := "test:" + t.Name() + ":"
	dir := filepath.Join(t.TempDir(), "spill") // NewTiered creates it
	ctx := context.Background()

	a := spillNode(t, proxy, prefix, dir, nil)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spill directory: %v, %v; want one of mode 0700", fi, err)
	}
	for v := range int64(50) {
		k := fmt.Sprintf("k%d", v)
		if _, err := a.Set(ctx, k, entryAt(v+1, time.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	a.Close() // waits for the spill writer
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Fatalf("a store whose Redis answered wrote %v to disk", left)
	}

	a = spillNode(t, proxy, prefix, dir, nil)
	proxy.Cut()
	// One key learnt again and again: the file stays bounded by what is
	// noted, not by how often it changed.
	var want *cache.Entry
	for v := range int64(300) {
		want = staleEntry(v + 1)
		if _, err := a.Set(ctx, "learnt", want); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.Stats(); s.Unflushed != 1 {
		t.Fatalf("Set while Redis is cut off noted %d entries; want 1: %+v", s.Unflushed, s)
	}
	a.Close()
	if got := spillLines(t, dir); len(got) == 0 || len(got) > 2+64 {
		t.Fatalf("spill file holds %d lines for 1 entry noted; want 1 to 66", len(got))
	}
	fi, err := os.Stat(filepath.Join(dir, cache.SpillFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("spill file: %v, %v; want one of mode 0600", fi, err)
	}

	// Restarted, still cut off: the entry is back, waiting for Redis.
	mem := must(cache.NewMemory())
	b := spillNode(t, proxy, prefix, dir, mem)
	if got, _ := mem.Get(ctx, "learnt"); !cmp.Equal(want, got) {
		t.Fatalf("loaded from the spill file (-want +got):\n%s", cmp.Diff(want, got))
	}
	if got, _ := b.Get(ctx, "learnt"); !cmp.Equal(want, got) {
		t.Fatalf("Get after the restart (-want +got):\n%s", cmp.Diff(want, got))
	}
	if s := b.Stats(); s.Unflushed != 1 || s.SpillErrors != 0 {
		t.Fatalf("after the restart: %+v; want one entry unflushed and no spill error", s)
	}

	proxy.Heal()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for b.Stats().Unflushed > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the spilled entry did not reach Redis within 10s of the heal: %+v", b.Stats())
		}
		<-tick.C
	}
	b.Close()
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("the spill directory holds %v after its entry reached Redis", left)
	}
	fresh := spillNode(t, proxy, prefix, t.TempDir(), nil)
	if got, _ := fresh.Get(ctx, "learnt"); got == nil || got.Version != want.Version {
		t.Errorf("Redis holds %+v under the spilled key; want version %d", got, want.Version)
	}
}

// A spill file is read line by line: lines that are not an entry (a line
// torn by a crash, garbage) are skipped and counted, expired entries are
// dropped, and no spilled entry replaces a newer one.
func TestSpillSkipsWhatItCannotUse(t *testing.T) {
	t.Parallel()
	proxy := startProxy(t)
	proxy.Cut() // so that nothing leaves for Redis
	prefix := "test:" + t.Name() + ":"
	dir := t.TempDir()
	ctx := context.Background()

	line := func(key string, e *cache.Entry) string {
		b, err := json.Marshal(map[string]any{"key": key, "entry": e})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	expired := entryAt(3, time.Now().Add(-2*time.Hour))
	torn := line("torn", staleEntry(4))
	file := strings.Join([]string{
		line("good", staleEntry(6)),
		line("good", staleEntry(5)), // older, later in the file
		"not json",
		`{"key":"","entry":{"version":1}}`,
		`{"key":"noexpiry","entry":{"version":1,"cursor":"x"}}`,
		line("old", expired),
		line("held", staleEntry(2)),
		"\x00\xff{",
		torn[:len(torn)/2], // no newline: the crash came mid-line
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, cache.SpillFile), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	mem := must(cache.NewMemory())
	newerHeld := staleEntry(9)
	if _, err := mem.Set(ctx, "held", newerHeld); err != nil {
		t.Fatal(err)
	}

	a := spillNode(t, proxy, prefix, dir, mem)
	if s := a.Stats(); s.SpillErrors != 5 || s.Unflushed != 1 {
		t.Fatalf("after loading: %+v; want 5 lines skipped and 1 entry unflushed", s)
	}
	for key, want := range map[string]int64{"good": 6, "held": 9, "old": 0, "torn": 0, "noexpiry": 0} {
		got, _ := a.Get(ctx, key)
		switch {
		case want == 0 && got != nil:
			t.Errorf("%s: Get = %+v; want nothing", key, got)
		case want != 0 && (got == nil || got.Version != want):
			t.Errorf("%s: Get = %+v; want version %d", key, got, want)
		}
	}
	if s := a.Stats(); cache.HandledErrors(a) != s.SharedErrors+s.SpillErrors {
		t.Errorf("StoreErrors = %d; want the Redis errors and the spill's (%+v)", cache.HandledErrors(a), s)
	}
	a.Close()
	// What was skipped is gone from the file: it holds what waits for
	// Redis, once.
	if got := spillLines(t, dir); len(got) != 1 || !strings.Contains(got[0], `"key":"good"`) {
		t.Errorf("spill file after loading holds %q; want the one good line", got)
	}
}

// A server that starts with Redis answering writes what its spill file
// holds to Redis at once, without waiting for a read of it; Redis keeps
// the newer of its entry and the spilled one, and so does every read.
func TestSpillIsFlushedWhenRedisAnswersAtStart(t *testing.T) {
	t.Parallel()
	proxy := startProxy(t)
	prefix := "test:" + t.Name() + ":"
	dir := t.TempDir()
	ctx := context.Background()

	// Another server already put a newer "older-in-spill" in Redis.
	other := spillNode(t, proxy, prefix, t.TempDir(), nil)
	if _, err := other.Set(ctx, "older-in-spill", staleEntry(8)); err != nil {
		t.Fatal(err)
	}
	var file []byte
	for key, v := range map[string]int64{"learnt": 5, "older-in-spill": 6} {
		b, err := json.Marshal(map[string]any{"key": key, "entry": staleEntry(v)})
		if err != nil {
			t.Fatal(err)
		}
		file = append(append(file, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, cache.SpillFile), file, 0o600); err != nil {
		t.Fatal(err)
	}

	a := spillNode(t, proxy, prefix, dir, nil)
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.Stats().Unflushed > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("what was spilled did not reach Redis within 10s of the start: %+v", a.Stats())
		}
		<-tick.C
	}
	a.Close()
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("the spill directory holds %v after its entries reached Redis", left)
	}
	fresh := spillNode(t, proxy, prefix, t.TempDir(), nil)
	for key, want := range map[string]int64{"learnt": 5, "older-in-spill": 8} {
		if got, _ := fresh.Get(ctx, key); got == nil || got.Version != want {
			t.Errorf("%s: Redis holds %+v; want version %d", key, got, want)
		}
	}
}
