package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func TestLoadFlags(t *testing.T) {
	for _, args := range [][]string{{"-concurrency", "0"}, {"-format", "png"}, {"-fault", "nonsense"}} {
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
// count, and reports pages, a share and counts that make sense.
func TestPageScenarios(t *testing.T) {
	var reports []PageReport
	loadJSON(t, &reports, "-mode", "page", "-scenario", "all", "-pages", "40", "-badges", "20", "-duration", "60s")
	if len(reports) != len(scenarios()) {
		t.Fatalf("%d reports for %d scenarios", len(reports), len(scenarios()))
	}
	for i, r := range reports {
		if r.Mode != scenarios()[i].name {
			t.Errorf("report %d is of %q, want %q", i, r.Mode, scenarios()[i].name)
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
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
