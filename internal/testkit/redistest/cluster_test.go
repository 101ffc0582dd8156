package redistest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

func TestClusterFailover(t *testing.T) {
	t0 := time.Now()
	c := StartCluster(t, 3, 1)
	t.Logf("3 masters + 3 replicas healthy in %v", time.Since(t0).Round(time.Millisecond))
	if n := len(c.Addrs()); n != 6 {
		t.Fatalf("Addrs: %d nodes, want 6", n)
	}
	masters := c.Masters()
	if len(masters) != 3 {
		t.Fatalf("Masters: %v, want 3", masters)
	}

	ctx := t.Context()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() }) // runs before the cluster stops

	const keys = 50
	for i := range keys {
		if err := rdb.Set(ctx, key(i), i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key(i), err)
		}
	}
	used := map[string]bool{}
	for i := range keys {
		m := c.MasterOf(key(i))
		used[m] = true
		node, err := rdb.MasterForKey(ctx, key(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := node.Options().Addr; got != m {
			t.Errorf("%s: client wrote to %s, MasterOf says %s", key(i), got, m)
		}
		// The key is there on that very node: no MOVED from a plain client.
		if got := getFrom(t, m, key(i)); got != fmt.Sprint(i) {
			t.Errorf("GET %s from %s: %q, want %d", key(i), m, got, i)
		}
	}
	if len(used) != 3 {
		t.Errorf("%d keys landed on %d masters, want all 3", keys, len(used))
	}

	victim := key(0)
	old := c.MasterOf(victim)
	waitReplicated(t, rdb, victim)
	c.Kill(old)
	t1 := time.Now()
	c.WaitHealthy(t)
	t.Logf("failover healthy in %v", time.Since(t1).Round(time.Millisecond))

	promoted := c.MasterOf(victim)
	if promoted == old {
		t.Fatalf("MasterOf(%s) still the killed %s", victim, old)
	}
	if m := c.Masters(); len(m) != 3 || slices.Contains(m, old) || !slices.Contains(m, promoted) {
		t.Errorf("Masters after failover: %v; want 3, with %s and without %s", m, promoted, old)
	}
	// The same client follows the cluster to the promoted replica once it
	// reloads its slot map: it gets no MOVED from a dead node, only a
	// refused dial, and left alone it reloads every 10 s.
	waitClientSees(t, rdb, victim, promoted)
	if got, err := rdb.Get(ctx, victim).Result(); err != nil || got != "0" {
		t.Fatalf("GET %s after failover: %q, %v; want \"0\"", victim, got, err)
	}
	if err := rdb.Set(ctx, victim, "after", 0).Err(); err != nil {
		t.Fatalf("SET %s after failover: %v", victim, err)
	}
	if got := getFrom(t, promoted, victim); got != "after" {
		t.Errorf("GET %s from %s: %q, want \"after\"", victim, promoted, got)
	}

	// The killed master comes back as it was, finds itself outvoted and
	// serves as a replica of the node that took over.
	c.Restart(old)
	t2 := time.Now()
	c.WaitHealthy(t)
	t.Logf("rejoin healthy in %v", time.Since(t2).Round(time.Millisecond))
	if m := c.Masters(); len(m) != 3 || slices.Contains(m, old) {
		t.Errorf("Masters after restart: %v; want 3, without %s", m, old)
	}
	if role := infoField(t, old, "role"); role != "slave" {
		t.Errorf("restarted %s: role:%s, want slave", old, role)
	}
	if got := getFrom(t, promoted, victim); got != "after" {
		t.Errorf("GET %s from %s after the rejoin: %q, want \"after\"", victim, promoted, got)
	}
}

func key(i int) string { return fmt.Sprintf("key:%d", i) }

// waitReplicated returns when a replica holds key's last write.
// Replication is asynchronous, and WAIT counts only the writes of the
// connection it runs on: so write key again on one connection to its
// master, and WAIT there (the replication stream is ordered, so the
// earlier writes are in too).
func waitReplicated(t *testing.T, rdb *redis.ClusterClient, key string) {
	t.Helper()
	ctx := t.Context()
	node, err := rdb.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	conn := node.Conn()
	defer conn.Close()
	v, err := conn.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, key, v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT 1 on %s: %d replicas, %v", node.Options().Addr, n, err)
	}
}

// waitClientSees asks rdb to reload its slot map until it routes key to
// addr. The reload runs in rdb's own goroutine and says nothing when done:
// so poll, as for a process we do not control.
func waitClientSees(t *testing.T, rdb *redis.ClusterClient, key, addr string) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		rdb.ReloadState(ctx)
		node, err := rdb.MasterForKey(ctx, key)
		if err == nil && node.Options().Addr == addr {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client does not route %s to %s within 10s (last: %v, %v)", key, addr, node, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getFrom reads key from the node at addr alone: a plain client does not
// follow MOVED, so this fails unless addr holds the key.
func getFrom(t *testing.T, addr, key string) string {
	t.Helper()
	r := redis.NewClient(&redis.Options{Addr: addr})
	defer r.Close()
	v, err := r.Get(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("GET %s from %s: %v", key, addr, err)
	}
	return v
}

func infoField(t *testing.T, addr, name string) string {
	t.Helper()
	info, err := do(addr, "INFO", "replication")
	if err != nil {
		t.Fatal(err)
	}
	return field(info, name)
}

func TestParseNodes(t *testing.T) {
	// A reply with a node not yet met (no ip), a failed master, a slot
	// being migrated, and a hostname after the bus port.
	const reply = "" +
		"aaa :7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-bbb]\n" +
		"bbb 127.0.0.1:7001@17001,host1 master - 0 0 2 connected 5461 5462-16383\n" +
		"ccc 127.0.0.1:7002@17002 slave,fail aaa 0 0 1 disconnected\n"
	v, err := parseNodes("127.0.0.1:7000", reply)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		ID, Addr                           string
		Myself, Master, Failing, Connected bool
		Slots                              [][2]int
	}
	var got []entry
	for _, e := range v.entries {
		got = append(got, entry{e.id, e.addr, e.myself, e.master, e.failing, e.connected, e.slots})
	}
	want := []entry{
		{"aaa", "127.0.0.1:7000", true, true, false, true, [][2]int{{0, 5460}}},
		{"bbb", "127.0.0.1:7001", false, true, false, true, [][2]int{{5461, 5461}, {5462, 16383}}},
		{"ccc", "127.0.0.1:7002", false, false, true, false, nil},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseNodes (-want +got):\n%s", d)
	}
	owners := v.owners()
	if owners[5460].id != "aaa" || owners[5461].id != "bbb" || owners[16383].id != "bbb" {
		t.Errorf("owners: 5460 %s, 5461 %s, 16383 %s; want aaa, bbb, bbb", owners[5460].id, owners[5461].id, owners[16383].id)
	}
}
