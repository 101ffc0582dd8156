package redistest

import (
	"context"
	"errors"
	"fmt"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeTimeout is the cluster-node-timeout: how long a node may be silent
// before the others suspect it. Short, so that a killed master's replica
// takes over within a few seconds; long enough that a busy two-core
// machine does not fail a healthy node over.
const nodeTimeout = 1000 * time.Millisecond

// healthyWithin bounds every wait for the cluster to be whole: at start
// and after a fault.
const healthyWithin = 30 * time.Second

// slotCount is the number of hash slots in a Redis Cluster.
const slotCount = 16384

// Cluster is a Redis Cluster of redis-server processes owned by a test.
// Nodes keep their port and their nodes.conf for the life of the test, so
// that a killed node restarts as the node it was and rejoins.
type Cluster struct {
	t     testing.TB
	bin   string
	nodes []*clusterNode

	mu sync.Mutex // guards each node's proc
}

type clusterNode struct {
	port, busPort int
	dir           string
	proc          *process // nil when not running
}

func (n *clusterNode) addr() string { return loopback(n.port) }

func (n *clusterNode) args() []string {
	return []string{
		"--port", strconv.Itoa(n.port), "--bind", "127.0.0.1", "--dir", n.dir,
		// The bus port is chosen, not port+10000, which can pass 65535
		// for a port from the ephemeral range.
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(n.busPort),
		"--cluster-config-file", filepath.Join(n.dir, "nodes.conf"),
		"--cluster-node-timeout", strconv.Itoa(int(nodeTimeout.Milliseconds())),
		// A replica fails over however long it has been cut off: a test
		// that restarts nodes must not find the cluster refusing to heal.
		"--cluster-replica-validity-factor", "0",
		"--save", "", "--appendonly", "no",
		// Replicas sync at once rather than after the default 5 s wait
		// for more replicas to share the transfer.
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
	}
}

// StartCluster starts masters*(1+replicasPerMaster) redis-server processes
// on free loopback ports, joins them into a cluster with redis-cli
// --cluster create (redis-cli is named by QCSDK_REDIS_CLI, or found on
// PATH), and waits until the cluster is healthy (see WaitHealthy). The
// processes are stopped when the test ends. Without the binaries the test
// is skipped, or fails when QCSDK_CI=1.
//
// redis-cli needs at least 3 masters.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	heavy.Suite(t, "the Redis Cluster suite")
	if masters < 3 || replicasPerMaster < 0 {
		t.Fatalf("redistest: a cluster needs at least 3 masters and no negative replica count, not %d and %d", masters, replicasPerMaster)
	}
	c := &Cluster{t: t, bin: lookBin(t, "QCSDK_REDIS_SERVER", "redis-server")}
	cli := lookBin(t, "QCSDK_REDIS_CLI", "redis-cli")
	root := t.TempDir() // before Cleanup(c.stop): cleanups run last-first, so the processes stop before their files go
	t.Cleanup(c.stop)

	for i := range masters * (1 + replicasPerMaster) {
		n := &clusterNode{dir: filepath.Join(root, strconv.Itoa(i))}
		if err := os.Mkdir(n.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		onFreePorts(t, 2, func(ports []int) (err error) {
			n.port, n.busPort = ports[0], ports[1]
			n.proc, err = startProcess(c.bin, n.addr(), n.args()...)
			return err
		})
		c.nodes = append(c.nodes, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), healthyWithin)
	defer cancel()
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, lastLines(string(out)))
	}
	c.WaitHealthy(t)
	return c
}

// Addrs is host:port of every node, running or not: the seeds for a
// cluster client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr()
	}
	return addrs
}

// Masters is host:port of the masters that serve slots now, sorted, as a
// running node sees the cluster.
func (c *Cluster) Masters() []string {
	c.t.Helper()
	v := c.someView(c.t)
	var masters []string
	for _, e := range v.entries {
		if e.master && !e.failing && len(e.slots) > 0 {
			masters = append(masters, e.addr)
		}
	}
	slices.Sort(masters)
	return masters
}

// MasterOf is host:port of the master that serves key's slot now, as a
// running node sees the cluster. After a fault, call WaitHealthy first:
// until then nodes may disagree.
func (c *Cluster) MasterOf(key string) string {
	c.t.Helper()
	v := c.someView(c.t)
	r, err := do(v.addr, "CLUSTER", "KEYSLOT", key)
	if err != nil {
		c.t.Fatal(err)
	}
	slot, err := strconv.Atoi(r)
	if err != nil || slot < 0 || slot >= slotCount {
		c.t.Fatalf("redistest: CLUSTER KEYSLOT %q: %q", key, r)
	}
	owner := v.owners()[slot]
	if owner == nil {
		c.t.Fatalf("redistest: %s sees no master for slot %d (key %q)", v.addr, slot, key)
		return ""
	}
	return owner.addr
}

// Kill stops the node at addr with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(addr string) {
	c.t.Helper()
	n := c.node(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.proc != nil {
		n.proc.kill()
		n.proc = nil
	}
}

// Restart starts the node at addr again (killing it first if it still
// runs) on the same ports and with the same nodes.conf, so that it rejoins
// as the node it was, and waits until it answers PING. It does not wait
// for the cluster to take it back: call WaitHealthy for that.
func (c *Cluster) Restart(addr string) {
	c.t.Helper()
	c.Kill(addr)
	n := c.node(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := startProcess(c.bin, n.addr(), n.args()...)
	if err != nil {
		c.t.Fatal(err)
	}
	n.proc = p
}

// WaitHealthy waits (up to 30 s) until the cluster is whole again as far
// as its running nodes go: each says cluster_state:ok with every slot
// served; each sees every other running node connected and not failing;
// all agree which master serves each slot, and each such master is
// running; and each running replica has its link to its master up. A
// killed master's replica takes over within a few seconds.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(healthyWithin)
	for {
		err := c.health()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster not healthy within %v: %v\nlast log lines:\n%s", healthyWithin, err, c.logs())
		}
		time.Sleep(50 * time.Millisecond) // polling processes we do not control
	}
}

// Healthy returns nil when the cluster is whole (see WaitHealthy), or
// what is not yet, without waiting: a test that goes on working through a
// failover asks it between its steps.
func (c *Cluster) Healthy() error { return c.health() }

// health returns nil when the cluster is whole (see WaitHealthy), or what
// is not yet.
func (c *Cluster) health() error {
	live := c.live()
	if len(live) == 0 {
		return errors.New("no node is running")
	}
	var first []*nodeEntry
	for _, addr := range live {
		info, err := do(addr, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if st := field(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", addr, st)
		}
		if ok := field(info, "cluster_slots_ok"); ok != strconv.Itoa(slotCount) {
			return fmt.Errorf("%s: cluster_slots_ok:%s", addr, ok)
		}
		v, err := viewFrom(addr)
		if err != nil {
			return err
		}
		for _, other := range live {
			e := v.find(other)
			switch {
			case e == nil:
				return fmt.Errorf("%s does not know %s yet", addr, other)
			case e.failing:
				return fmt.Errorf("%s sees %s failing", addr, other)
			case !e.myself && !e.connected:
				return fmt.Errorf("%s is not connected to %s", addr, other)
			}
		}
		owners := v.owners()
		for slot, e := range owners {
			if e == nil || !slices.Contains(live, e.addr) {
				return fmt.Errorf("%s sees slot %d served by no running master", addr, slot)
			}
		}
		if first == nil {
			first = owners
		}
		for slot := range owners {
			if owners[slot].id != first[slot].id {
				return fmt.Errorf("%s sees slot %d served by %s, %s by %s", addr, slot, owners[slot].addr, live[0], first[slot].addr)
			}
		}
		repl, err := do(addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if field(repl, "role") == "slave" {
			if l := field(repl, "master_link_status"); l != "up" {
				return fmt.Errorf("replica %s: master_link_status:%s", addr, l)
			}
		}
	}
	return nil
}

// live is host:port of the running nodes.
func (c *Cluster) live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for _, n := range c.nodes {
		if n.proc != nil {
			addrs = append(addrs, n.addr())
		}
	}
	return addrs
}

// someView is the cluster as the first running node that answers sees it.
func (c *Cluster) someView(t testing.TB) *view {
	t.Helper()
	var errs []error
	for _, addr := range c.live() {
		v, err := viewFrom(addr)
		if err == nil {
			return v
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: no running node answers CLUSTER NODES: %v", errors.Join(errs...))
	return nil
}

func (c *Cluster) node(addr string) *clusterNode {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.addr() == addr {
			return n
		}
	}
	c.t.Fatalf("redistest: no node %s in the cluster (%v)", addr, c.Addrs())
	return nil
}

// logs is the last lines each running node wrote, for a failure message.
func (c *Cluster) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, n := range c.nodes {
		if n.proc != nil {
			fmt.Fprintf(&b, "%s: %s\n", n.addr(), n.proc.lastLines())
		}
	}
	return b.String()
}

// stop stops every node, all at once: a master does not wait for replicas
// that are stopping too.
func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if p := n.proc; p != nil {
			wg.Go(p.stop)
			n.proc = nil
		}
	}
	wg.Wait()
}

// field is the value of name in an INFO-style reply of name:value lines.
func field(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// view is the cluster as one node sees it: its CLUSTER NODES reply.
type view struct {
	addr    string // of the node asked
	entries []*nodeEntry
}

// nodeEntry is one line of CLUSTER NODES.
type nodeEntry struct {
	id, addr       string
	myself, master bool
	failing        bool // fail, fail? (suspected), or not yet met
	connected      bool
	slots          [][2]int // inclusive ranges
}

func viewFrom(addr string) (*view, error) {
	r, err := do(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return parseNodes(addr, r)
}

// parseNodes reads a CLUSTER NODES reply that the node at addr sent.
func parseNodes(addr, reply string) (*view, error) {
	v := &view{addr: addr}
	for line := range strings.Lines(reply) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		e := &nodeEntry{id: f[0], connected: f[7] == "connected"}
		// ip:port@busport[,hostname]; a node that has not been met yet
		// does not know its own ip.
		hostPort, _, _ := strings.Cut(f[1], "@")
		if strings.HasPrefix(hostPort, ":") {
			hostPort = "127.0.0.1" + hostPort
		}
		e.addr = hostPort
		for flag := range strings.SplitSeq(f[2], ",") {
			switch flag {
			case "myself":
				e.myself = true
			case "master":
				e.master = true
			case "fail", "fail?", "handshake", "noaddr":
				e.failing = true
			}
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated or imported
				continue
			}
			lo, hi, isRange := strings.Cut(s, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("redistest: %s: CLUSTER NODES slot %q", addr, s)
			}
			e.slots = append(e.slots, [2]int{a, b})
		}
		v.entries = append(v.entries, e)
	}
	return v, nil
}

func (v *view) find(addr string) *nodeEntry {
	for _, e := range v.entries {
		if e.addr == addr {
			return e
		}
	}
	return nil
}

// owners maps each slot to the master that serves it, nil for none.
func (v *view) owners() []*nodeEntry {
	owners := make([]*nodeEntry, slotCount)
	for _, e := range v.entries {
		if !e.master {
			continue
		}
		for _, r := range e.slots {
			for s := max(r[0], 0); s <= min(r[1], slotCount-1); s++ {
				owners[s] = e
			}
		}
	}
	return owners
}
