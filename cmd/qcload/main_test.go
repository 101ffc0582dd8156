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
