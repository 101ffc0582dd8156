package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
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

// wakeups is how often this process's threads have given up the CPU of
// their own accord, from voluntary_ctxt_switches in
// /proc/self/task/*/status: a thread woken by a timer or a goroutine
// goes back to sleep afterwards, so every wake-up shows there once.
// Involuntary switches are left out: they count the times the kernel
// preempted a running thread for another process, which measures how
// busy the machine is (CI runs many test binaries at once), not us.
func wakeups() (int64, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue // the thread has exited
		}
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "voluntary_ctxt_switches" {
				c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("bad %s: %q", k, line)
				}
				n += c
			}
		}
	}
	return n, nil
}

// idleSeconds is how long each idle window the child measures lasts.
const idleSeconds = 2

// idleWindows is how many windows the child measures on each side, keeping
// the quietest: a cost of ours recurs in every window, while the runtime's
// occasional work (a scavenger pass, a forced GC, sysmon waking from its
// long sleep) lands in some windows and not others, and its spikes (20 to
// 40 wake-ups in one window) would otherwise hide a 10 Hz timer.
const idleWindows = 2

// TestIdleCacheCostsNothing runs a child process that builds a cache and
// a widget, warms them every way a platform uses them, and then serves
// nothing: over the idle window its CPU use must be nil, and its threads
// must wake no more often than after the cache is closed, when nothing of
// ours is left. A child, so that the other tests of this process do not
// count; CPU ticks, so that a busy goroutine shows (a 1 ms ticker costs
// about 3 % of a core); context switches, so that any timer of ours shows,
// however cheap (a 10 Hz one would add 20 in each window).
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
	var ticks, woken, closed int
	_, rest, _ := strings.Cut(string(out), "idle: ")
	if _, err := fmt.Sscanf(rest, "%d ticks, %d wakeups; closed: %d wakeups", &ticks, &woken, &closed); err != nil {
		t.Fatalf("the idle child did not say what it measured (%v):\n%s", err, out)
	}
	t.Logf("in %d s idle, a warm cache and widget used %d CPU ticks (of 1/100 s) and woke %d times; closed, the process woke %d times",
		idleSeconds, ticks, woken, closed)
	// One tick of slack: the runtime itself (its monitor thread, a GC the
	// warm-up left due) may take a few hundred microseconds.
	if ticks > 1 {
		t.Errorf("an idle cache and widget used %d CPU ticks in %d s; want at most 1", ticks, idleSeconds)
	}
	// The runtime's own wake-ups (a few a second) vary between windows.
	if woken > closed+15 {
		t.Errorf("an idle cache and widget woke %d times in %d s, against %d once closed; want no more than the runtime's own", woken, idleSeconds, closed)
	}
}

// quietest measures idleWindows windows and returns the fewest CPU ticks and
// wake-ups any of them saw.
func quietest(t *testing.T) (ticks, woken int64) {
	ticks, woken = idleWindow(t)
	for range idleWindows - 1 {
		tk, wk := idleWindow(t)
		ticks, woken = min(ticks, tk), min(woken, wk)
	}
	return ticks, woken
}

// idleWindow measures the CPU ticks and wake-ups of an idle window.
func idleWindow(t *testing.T) (ticks, woken int64) {
	t0, err := cpuTicks()
	if err != nil {
		t.Fatal(err)
	}
	w0, err := wakeups()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(idleSeconds * time.Second) // the idle period being measured, not a synchronisation
	t1, err := cpuTicks()
	if err != nil {
		t.Fatal(err)
	}
	w1, err := wakeups()
	if err != nil {
		t.Fatal(err)
	}
	return t1 - t0, w1 - w0
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
	// A render budget no machine misses: the warm-up is what this child is
	// for, and a cold page under -race on a loaded machine may need more
	// than the default 50 ms.
	w, err := widget.New(c, widget.WithRenderTimeout(timescale.Scale(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	// Warm it every way a platform uses it: a page, the badge endpoint.
	var gtins []client.GTIN
	for _, d := range sb.Demo() {
		gtins = append(gtins, d.GTIN)
	}
	page := w.Page(context.Background(), gtins...)
	for _, g := range gtins {
		if b, _ := page.Badge(g); strings.Contains(string(b), "qcb-unknown") {
			t.Fatalf("the page could not answer %s", g)
		}
	}
	page.Close()
	h := w.Handler("/quality/")
	for _, g := range gtins {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/quality/badge/"+string(g)+".svg", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("badge endpoint for %s: %d", g, rec.Code)
		}
	}
	// The sandbox's server goes: only the cache is left to run.
	api.CloseIdleConnections()
	stop()
	sb.Close()
	// Collect and return the warm-up's garbage now, and give the runtime a
	// moment to finish what a warm-up leaves it (sweeping, scavenging),
	// so that the windows measure a settled process.
	debug.FreeOSMemory()
	time.Sleep(time.Second) // settling, not a synchronisation
	ticks, woken := quietest(t)
	c.Close()
	_, closed := quietest(t)
	fmt.Printf("idle: %d ticks, %d wakeups; closed: %d wakeups\n", ticks, woken, closed)
}
