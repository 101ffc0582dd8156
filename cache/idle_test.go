package cache_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// cpuTicks is the CPU time this process has used, user and system, in
// clock ticks (1/100 s on Linux), from /proc/self/stat.
func cpuTicks() (int64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the 3rd field, utime the 14th, stime the 15th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/self/stat: %q", s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/self/stat: %q", s)
	}
	return u + k, nil
}

// idleSeconds is how long the idle child sits with a warm cache.
const idleSeconds = 3

// TestIdleCacheCostsNothing runs a child process that builds a cache,
// warms it, and then serves nothing for a few seconds; the child's CPU
// use over those seconds must be nil. A child, so that the other tests of
// this process do not count; CPU ticks, so that any ticker or busy
// goroutine of ours shows (a 1 ms ticker costs about 3 % of a core).
func TestIdleCacheCostsNothing(t *testing.T) {
	if os.Getenv("QCSDK_IDLE_CHILD") == "1" {
		idleChild(t)
		return
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc/self/stat on this system")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestIdleCacheCostsNothing$", "-test.v")
	cmd.Env = append(os.Environ(), "QCSDK_IDLE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the idle child failed: %v\n%s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "idle ticks: ")
	if !ok {
		t.Fatalf("the idle child said nothing of its ticks:\n%s", out)
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("an idle cache used %d CPU ticks (of 1/100 s) in %d s", n, idleSeconds)
	// One tick of slack: the runtime itself (its monitor thread, a GC the
	// warm-up left due) may take a few hundred microseconds.
	if n > 1 {
		t.Errorf("an idle cache used %d CPU ticks in %d s; want at most 1", n, idleSeconds)
	}
}

func idleChild(t *testing.T) {
	sb, err := sandbox.New(sandbox.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	api, err := client.New(client.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(api)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range sb.Demo() {
		if _, err := c.StatusByGTIN(context.Background(), string(d.GTIN)); err != nil {
			t.Fatal(err)
		}
	}
	// The sandbox's server goes: only the cache is left to run.
	api.CloseIdleConnections()
	stop()
	sb.Close()
	before, err := cpuTicks()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(idleSeconds * time.Second) // the idle period being measured, not a synchronisation
	after, err := cpuTicks()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("idle ticks: %d\n", after-before)
	c.Close()
}
