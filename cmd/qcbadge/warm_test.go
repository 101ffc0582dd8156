package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// A warm file is read strictly: comments, blank lines and repeats are
// fine, and a malformed line stops the start, naming the line.
func TestWarmFile(t *testing.T) {
	d := demo(t)
	good := "# the best sellers\n\n" + string(d[0].GTIN) + "\n " + string(d[1].GTIN) + " \n" + string(d[0].GTIN) + "\n"
	keys, err := parseWarm(strings.NewReader(good), "hot.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := []client.ProductKey{{GTIN: d[0].GTIN}, {GTIN: d[1].GTIN}}; len(keys) != 2 || keys[0] != want[0] || keys[1] != want[1] {
		t.Errorf("read %v; want %v", keys, want)
	}
	_, err = parseWarm(strings.NewReader(string(d[0].GTIN)+"\n06910000100004\n"), "hot.txt")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "hot.txt line 2") {
		t.Errorf("a bad check digit on line 2: %v; want a usage error naming the line", err)
	}
	if _, err := readWarmFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, errUsage) {
		t.Errorf("a missing file: %v; want a usage error", err)
	}
}

// A replica started with -warm says it is warming until it has looked
// its products up, and then the first view of each is warm.
func TestWarmStartMakesTheFirstViewsWarm(t *testing.T) {
	d := demo(t)
	path := filepath.Join(t.TempDir(), "hot.txt")
	var lines []string
	for _, p := range d {
		lines = append(lines, string(p.GTIN))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	s, hs := newTestService(t, "QC_WARM_FILE", path, "QC_FOLLOW", "false")
	r := ready(t, hs)
	if want := "warm: " + strconv.Itoa(len(d)) + " of " + strconv.Itoa(len(d)); !r.Warm.OK || !strings.HasPrefix(r.Warm.Reason, want) {
		t.Errorf("/readyz says warm %+v; want ok, %q", r.Warm, want)
	}
	for _, p := range d {
		if _, _, ok := s.qc.Cached(p.GTIN); !ok {
			t.Errorf("%s: cold after the warm start", p.GTIN)
		}
	}
	if calls := s.qc.Stats().Upstream; calls != 1 {
		t.Errorf("the warm start made %d calls for %d products; want one batch", calls, len(d))
	}
}
