package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // as main does: the dials that fail are the Redis scenarios' faults
	goleak.VerifyTestMain(m)
}

func load(t *testing.T, args ...string) Report {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"-json", "-products", "2000", "-concurrency", "8"}, args...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out.String())
	}
	return r
}

// A bounded run serves exactly the requests asked, every badge state of
// the data set shows up, and the API sees a fraction of the views.
func TestLoadRun(t *testing.T) {
	r := load(t, "-requests", "3000", "-duration", "60s")
	if r.Requests != 3000 || r.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want 3000 and none", r.Requests, r.Errors)
	}
	var shown int64
	for _, n := range r.States {
		shown += n
	}
	if shown != r.Requests || r.States["committed"] == 0 || r.States["withdrawn"] == 0 {
		t.Errorf("badge states %v for %d requests", r.States, r.Requests)
	}
	if r.Upstream == 0 || r.Upstream > int64(r.Distinct) {
		t.Errorf("%d API calls for %d distinct products; want at least one and at most one each", r.Upstream, r.Distinct)
	}
	if r.Latency["p50"] <= 0 || r.Latency["p99"] < r.Latency["p50"] || r.PerSecond <= 0 {
		t.Errorf("latency %v, %v/s", r.Latency, r.PerSecond)
	}

	// The baseline serves the same bytes and never asks the API.
	b := load(t, "-requests", "1000", "-duration", "60s", "-baseline")
	if b.Requests != 1000 || b.Errors != 0 || b.Upstream != 0 {
		t.Errorf("baseline: %+v", b)
	}
}

// With the API failing, pages still get a badge: never an error.
func TestLoadRunWithFaults(t *testing.T) {
	r := load(t, "-requests", "2000", "-duration", "60s", "-fault", "error=503@0.3")
	if r.Requests != 2000 || r.Errors != 0 {
		t.Errorf("%d requests, %d errors with the API failing; want 2000 and none", r.Requests, r.Errors)
	}
}

// -compare drives the baseline and the handler in turn, warm: each pair
// is reported, and no call of the runs reaches the API.
func TestLoadCompare(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-json", "-products", "2000", "-concurrency", "4", "-compare", "2", "-duration", "300ms"}
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var c Comparison
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out.String())
	}
	if len(c.Runs) != 2 {
		t.Fatalf("%d pairs of runs, want 2", len(c.Runs))
	}
	for i, r := range c.Runs {
		if r.Baseline <= 0 || r.Handler <= 0 || r.Errors != 0 || r.Ratio != r.Handler/r.Baseline {
			t.Errorf("run %d: %+v", i+1, r)
		}
		if processCPU() > 0 && (r.BaselineCPU <= 0 || r.HandlerCPU <= 0 || r.CPURatio != r.BaselineCPU/r.HandlerCPU) {
			t.Errorf("run %d: CPU per request %+v", i+1, r)
		}
	}
	if c.MedianRatio <= 0 || c.Upstream != 0 {
		t.Errorf("median ratio %v, %d API calls during warm runs; want a ratio and none", c.MedianRatio, c.Upstream)
	}
}

func TestLoadFlags(t *testing.T) {
	for _, args := range [][]string{{"-concurrency", "0"}, {"-format", "png"}, {"-fault", "nonsense"},
		{"-compare", "-1"}, {"-compare", "2", "-baseline"}, {"-compare", "2", "-requests", "10"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}

func loadJSON(t *testing.T, into any, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"-json", "-products", "5000"}, args...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), into); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out.String())
	}
}

// Every scenario of the page mode runs to its end, bounded by the page
// count, and reports pages, a share and counts that make sense; and no
// page outlives its budget by much, whatever the registry does. The
// cache's own bound on an API call is 30 s here, so that a path which
// escaped the page's budget would wait for a 10 s latency, a blackhole or
// a retry: such a page takes seconds, where a budgeted one takes tens of
// milliseconds. The bound checked, 2 s, is far above the budget, so that a
// loaded machine does not fail it, and far below what escaping costs.
func TestPageScenarios(t *testing.T) {
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-scenario", "registry", "-pages", "40", "-badges", "20", "-duration", "60s",
		"-fetch-timeout", "30s")
	want := scenarioGroup("registry")
	if len(reports) != len(want) {
		t.Fatalf("%d reports for %d scenarios", len(reports), len(want))
	}
	for i, r := range reports {
		if r.Mode != want[i].name {
			t.Errorf("report %d is of %q, want %q", i, r.Mode, want[i].name)
		}
		if r.Redis != nil {
			t.Errorf("%s: a Redis report %+v with the cache in memory", r.Mode, r.Redis)
		}
		if r.Pages <= 0 || r.Pages > 40 || r.Badges != 20*r.Pages {
			t.Errorf("%s: %d pages, %d badges; want 1 to 40 pages of 20", r.Mode, r.Pages, r.Badges)
		}
		if r.UnknownShare < 0 || r.UnknownShare > 1 || r.Unknown > r.Badges {
			t.Errorf("%s: %d unknown of %d badges, share %v", r.Mode, r.Unknown, r.Badges, r.UnknownShare)
		}
		if r.Upstream < 0 || r.UpstreamPerSecond < 0 || r.Errors != 0 {
			t.Errorf("%s: %d upstream calls (%v/s), %d errors", r.Mode, r.Upstream, r.UpstreamPerSecond, r.Errors)
		}
		if max := r.Latency["max"]; max <= 0 || max > 2000 {
			t.Errorf("%s: the slowest page took %.0f ms; a page has a budget of 50 ms", r.Mode, max)
		}
	}
	// A 503 with Retry-After of an hour pauses the client: nothing is
	// sent after it but the calls already on their way — the first
	// pages' batch calls (8 pages of 20 keys: two calls of at most 100),
	// and a hedge of each that may have left before the answer came.
	for _, r := range reports {
		if firstWave := int64((8*20 + 99) / 100); r.Mode == "unavailable" && r.Upstream > 2*firstWave {
			t.Errorf("unavailable: %d upstream calls; want at most the %d calls of the first pages and their hedges", r.Upstream, 2*firstWave)
		}
	}
	// Nothing crosses a blackhole, and a page still renders every badge.
	if bh := reports[1]; bh.Upstream != 0 || bh.Unknown != bh.Badges {
		t.Errorf("blackhole: %d upstream calls, %d unknown of %d badges; want none and all", bh.Upstream, bh.Unknown, bh.Badges)
	}
}

// The -fault and -net flags make a scenario of their own.
func TestPageFlags(t *testing.T) {
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-pages", "10", "-draw", "zipf", "-net", "delay=1ms", "-fault", "error=503@0.1", "-retry-after", "1h")
	if len(reports) != 1 || reports[0].Pages != 10 || reports[0].Mode != "error=503@0.1 (Retry-After 1h0m0s); net delay=1ms" {
		t.Errorf("reports %+v", reports)
	}
}

// -page-rate paces the views open-loop, and the run ends with its last
// page, not at -duration: 20 pages at 200 a second take about 0.1 s.
func TestPagePaced(t *testing.T) {
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-pages", "20", "-page-rate", "200", "-badges", "10", "-duration", "60s")
	if len(reports) != 1 {
		t.Fatalf("%d reports", len(reports))
	}
	r := reports[0]
	if r.Pages != 20 || r.Badges != 200 {
		t.Errorf("%d pages, %d badges; want 20 of 10", r.Pages, r.Badges)
	}
	// Paced, the views are spread over at least 19 intervals of 5 ms; a
	// run that waited out -duration would take a minute.
	if r.Seconds < 0.095 || r.Seconds > 30 {
		t.Errorf("the run took %.3f s; want about 0.1 s", r.Seconds)
	}
}

// A brief flood: the platform's pages are viewed, the flood is answered,
// and the calls that reach the API stay within the quota.
func TestFlood(t *testing.T) {
	var r FloodReport
	loadJSON(t, &r, "-mode", "flood", "-duration", "1s", "-flood-rate", "500", "-flood-conns", "16",
		"-warm-pages", "4", "-badges", "20", "-page-rate", "20", "-quota", "50", "-burst", "20")
	if r.During.Warm.Pages <= 0 || r.During.Cold.Pages <= 0 || r.Flood <= 0 {
		t.Errorf("%d warm and %d cold pages, %d flood requests during the flood", r.During.Warm.Pages, r.During.Cold.Pages, r.Flood)
	}
	for _, c := range []PageCounts{r.Before.Warm, r.Before.Cold, r.During.Warm, r.During.Cold} {
		if c.UnknownShare < 0 || c.UnknownShare > 1 || c.Badges != 20*c.Pages {
			t.Errorf("page counts %+v", c)
		}
	}
	if slack := float64(r.Burst) / r.Seconds; r.Upstream < 0 || r.UpstreamPerSecond > r.Quota+slack {
		t.Errorf("%d upstream calls, %.1f/s; want at most %v/s and a burst", r.Upstream, r.UpstreamPerSecond, r.Quota)
	}
	if r.HeapBefore == 0 || r.HeapDuring == 0 || r.CacheMaxEntries <= 0 {
		t.Errorf("heap %d, %d bytes; cache bound %d", r.HeapBefore, r.HeapDuring, r.CacheMaxEntries)
	}
}

func TestModeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "nonsense"},
		{"-mode", "page", "-scenario", "nonsense"},
		{"-mode", "page", "-scenario", "all", "-fault", "reset"},
		{"-mode", "page", "-net", "partition"},
		{"-mode", "page", "-draw", "gauss"},
		{"-mode", "flood", "-flood-rate", "0"},
		{"-mode", "flood", "-products", "100"},
		{"-net", "blackhole"},
		{"-redis", "empty"},
		{"-mode", "page", "-redis", "nonsense"},
		{"-mode", "page", "-redis", "delay=-5ms"},
		{"-mode", "page", "-scenario", "redis-empty", "-redis", "down"},
		{"-mode", "flood", "-redis", "down"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}

// -scenario all is the registry's scenarios and then Redis's, and only
// Redis's have a Redis tier.
func TestScenarioGroups(t *testing.T) {
	all, reg, red := scenarioGroup("all"), scenarioGroup("registry"), scenarioGroup("redis")
	if len(reg) != 7 || len(red) != 4 || len(all) != len(reg)+len(red) {
		t.Fatalf("%d scenarios in all, %d registry, %d redis; want 11, 7 and 4", len(all), len(reg), len(red))
	}
	for i, sc := range all {
		if i < len(reg) && (sc.name != reg[i].name || sc.redis.kind != "") {
			t.Errorf("all[%d] = %q (redis %q), want %q without Redis", i, sc.name, sc.redis.kind, reg[i].name)
		}
		if i >= len(reg) && (sc.name != red[i-len(reg)].name || sc.redis.kind == "" || len(sc.faults) > 0 || sc.net.kind != "") {
			t.Errorf("all[%d] = %+v, want %q with Redis and a healthy registry", i, sc, red[i-len(reg)].name)
		}
	}
}

// Without a redis-server the Redis scenarios stop before any runs, and
// say what is missing and how to name it.
func TestRedisServerMissing(t *testing.T) {
	for _, sc := range []string{"redis-empty", "redis", "all"} {
		err := run(context.Background(), []string{"-mode", "page", "-scenario", sc, "-redis-server", "/nonexistent/redis-server"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/redis-server") || !strings.Contains(err.Error(), "-redis-server") {
			t.Errorf("-scenario %s without a redis-server: %v", sc, err)
		}
	}
}

// A Redis that is down needs no redis-server: every read of it fails,
// and the pages are still served, from the registry.
func TestPageRedisDown(t *testing.T) {
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-redis", "down", "-pages", "20", "-badges", "20", "-duration", "60s")
	if len(reports) != 1 {
		t.Fatalf("%d reports", len(reports))
	}
	r := reports[0]
	if r.Mode != "redis down" || r.Pages != 20 || r.Errors != 0 || r.Redis == nil {
		t.Fatalf("report %+v", r)
	}
	if r.Redis.Tiered.SharedErrors == 0 || r.Cache.StoreErrors == 0 || r.Redis.Keys != -1 || r.Redis.PingMS != -1 {
		t.Errorf("Redis down: %+v, cache %+v; want shared and store errors, no keys and no PING", *r.Redis, r.Cache)
	}
}

// needRedisServer skips the test without a redis-server, or fails it
// under CI (QCSDK_CI=1), which must not pass by skipping.
func needRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := findRedisServer("")
	if err != nil {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatalf("QCSDK_CI=1: %v", err)
		}
		t.Skip(err)
	}
	return bin
}

// Each Redis scenario runs to its end, and its fault happened: a fresh
// Redis was written to, a slow one was slow, a dead or blackholed one
// failed the cache's reads and nothing crossed the blackhole.
func TestPageRedisScenarios(t *testing.T) {
	needRedisServer(t)
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-scenario", "redis", "-pages", "40", "-badges", "20", "-duration", "60s")
	want := scenarioGroup("redis")
	if len(reports) != len(want) {
		t.Fatalf("%d reports for %d scenarios", len(reports), len(want))
	}
	by := map[string]PageReport{}
	for i, r := range reports {
		if r.Mode != want[i].name {
			t.Errorf("report %d is of %q, want %q", i, r.Mode, want[i].name)
		}
		if r.Pages <= 0 || r.Pages > 40 || r.Badges != 20*r.Pages || r.Errors != 0 {
			t.Errorf("%s: %d pages, %d badges, %d errors; want 1 to 40 pages of 20, no errors", r.Mode, r.Pages, r.Badges, r.Errors)
		}
		if r.UnknownShare < 0 || r.UnknownShare > 1 || r.Unknown > r.Badges {
			t.Errorf("%s: %d unknown of %d badges, share %v", r.Mode, r.Unknown, r.Badges, r.UnknownShare)
		}
		if r.Redis == nil {
			t.Fatalf("%s: no Redis report", r.Mode)
		}
		by[r.Mode] = r
	}
	// The cache read the fresh Redis and wrote to it. The keys are there
	// only if no operation failed: the cache skips a Redis it saw fail
	// (three in a row: its breaker) and keeps what it learns in memory
	// meanwhile, and on a loaded machine the page's share of time for
	// Redis can run out even with Redis healthy.
	e := by["redis-empty"].Redis
	if e.Commands <= 0 || e.PingMS < 0 || e.Tiered.SharedHits+e.Tiered.Misses == 0 {
		t.Errorf("redis-empty: %+v; want the tier read, commands and a PING answered", *e)
	}
	if e.Tiered.SharedErrors == 0 && e.Keys <= 0 {
		t.Errorf("redis-empty: %+v; no operation failed, and no key was written", *e)
	}
	if e.Tiered.SharedErrors > 0 {
		t.Logf("redis-empty: %d operations of a healthy Redis failed, %d keys written, %d entries kept in memory for it", e.Tiered.SharedErrors, e.Keys, e.Tiered.Unflushed)
	}
	// Nothing answers a PING through the proxy sooner than its delay
	// there and back.
	if s := by["redis-slow"].Redis; s.PingMS < 10 || s.Commands <= 0 {
		t.Errorf("redis-slow: %+v; want a PING of 10 ms or more, and commands that reached Redis", *s)
	}
	if d := by["redis-down"]; d.Redis.Tiered.SharedErrors == 0 || d.Cache.StoreErrors == 0 || d.Redis.Keys != -1 {
		t.Errorf("redis-down: %+v, cache %+v; want shared and store errors, and no server to read", *d.Redis, d.Cache)
	}
	if b := by["redis-blackhole"]; b.Redis.Tiered.SharedErrors == 0 || b.Redis.Keys != 0 || b.Redis.Commands != 0 || b.Redis.PingMS != -1 {
		t.Errorf("redis-blackhole: %+v; want shared errors, and no command, key or PING across", *b.Redis)
	}
}

// Closing a stack stops the redis-server it started and removes its
// directory, and a server that is stopped can be stopped again.
func TestRedisStopped(t *testing.T) {
	needRedisServer(t)
	o, err := parseFlags([]string{"-mode", "page", "-redis", "empty", "-products", "100"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStack(context.Background(), o, nil, netFault{}, o.redis)
	if err != nil {
		t.Fatal(err)
	}
	srv := st.redis.srv
	if c, err := net.Dial("tcp", srv.addr); err != nil {
		t.Fatalf("the redis-server does not listen: %v", err)
	} else {
		c.Close()
	}
	st.Close()
	select {
	case <-srv.done:
	default:
		t.Error("the redis-server still runs after Close")
	}
	if c, err := net.DialTimeout("tcp", srv.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", srv.addr)
	}
	if _, err := os.Stat(srv.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's directory %s: %v; want it removed", srv.dir, err)
	}
	srv.stop()
}
