package main

import (
	"bufio"
	"context"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool finds a command the test needs: a skip on a laptop without it,
// a failure under CI, which installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatalf("no %s on PATH; CI installs it (.ci/run)", name)
		}
		t.Skipf("no %s on PATH", name)
	}
	return p
}

// The systemd unit is one systemd accepts as written: verify says nothing
// of it (it exits 0 even for an unknown key, so any output is a failure).
func TestTheSystemdUnitVerifies(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	unit, err := os.ReadFile("deploy/qcbadge.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart is an executable: this test's binary
	// stands in for the installed one.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "qcbadge.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), "/usr/local/bin/qcbadge", self, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"RestartPreventExitStatus=2", "DynamicUser=yes", "LoadCredential=api-key:", "QC_API_KEY_FILE=%d/api-key", "KillSignal=SIGTERM", "StateDirectory=qcbadge", "QC_SPILL_DIR=%S/qcbadge"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// The Dockerfile's build makes a static binary (the distroless base has no
// libc: with CGO_ENABLED=0 the go command links statically, provided no
// package it needs is cgo's alone), and the image runs it as a non-root
// user with no secret baked in. Docker cannot build here (no registry to
// pull the bases from); this reads the Dockerfile and resolves its build.
func TestTheDockerfileBuildsAStaticBinaryForANonRootUser(t *testing.T) {
	heavy.Suite(t, "the Dockerfile's build")
	f, err := os.Open("deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var build string
	var user, entry bool
	final := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "RUN CGO_ENABLED=0 go build ") && strings.HasSuffix(line, " ./cmd/qcbadge"):
			build = line
		case strings.HasPrefix(line, "FROM gcr.io/distroless/static"):
			final = true
		case final && line == "USER nonroot:nonroot":
			user = true
		case final && strings.HasPrefix(line, "ENTRYPOINT"):
			entry = true
		case strings.HasPrefix(line, "ENV ") && strings.Contains(strings.ToUpper(line), "KEY"):
			t.Errorf("the image bakes in a key: %s", line)
		}
	}
	if build == "" || !user || !entry {
		t.Fatalf("the Dockerfile lacks a CGO_ENABLED=0 go build of ./cmd/qcbadge (%q), a non-root USER in the final stage (%v) or an ENTRYPOINT (%v)", build, user, entry)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(2*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{if .Incomplete}}{{.ImportPath}}: {{.Error}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("without cgo, qcbadge's build: %v\n%s", err, out)
	}
}
