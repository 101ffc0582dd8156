package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
)

// -spill-dir (QC_SPILL_DIR) names where a replica keeps what Redis has
// not yet taken; empty, the default, keeps it in memory only.
func TestSpillDirSetting(t *testing.T) {
	cfg, err := parseConfig(nil, envOf(), io.Discard)
	if err != nil || cfg.spillDir != "" {
		t.Fatalf("default: %v, spill dir %q; want none", err, cfg.spillDir)
	}
	cfg, err = parseConfig([]string{"-spill-dir", "/b"}, envOf("QC_SPILL_DIR", "/a"), io.Discard)
	if err != nil || cfg.spillDir != "/b" {
		t.Fatalf("a flag over its variable: %v, spill dir %q; want /b", err, cfg.spillDir)
	}
}

// A replica whose Redis is down at start still starts, with its spill
// directory made (mode 0700) and empty: nothing waits for Redis yet. A
// spill directory it cannot use stops it at start, naming the setting.
func TestSpillDirAtStart(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Kill()
	dir := filepath.Join(t.TempDir(), "spill")
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+addr+"/0", "QC_SPILL_DIR", dir)
	if code, _, body := fetch(t, hs.URL+"/quality/badges?gtin=06910000100003"); code != 200 || !strings.Contains(body, "qcb-") {
		t.Errorf("a badge with Redis down and a spill directory: %d %s", code, body)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spill directory: %v, %v; want one of mode 0700", fi, err)
	}

	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(nil, envOf("QC_REDIS_URL", "redis://"+addr+"/0", "QC_SPILL_DIR", notADir), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newService(context.Background(), cfg, discardLog())
	if err == nil {
		s.close()
		t.Fatal("a spill directory that is a file: the service started")
	}
	if !strings.Contains(err.Error(), "-spill-dir (QC_SPILL_DIR)") {
		t.Errorf("a spill directory that is a file: %v; want the setting named", err)
	}
}
