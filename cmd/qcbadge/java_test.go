package main

import (
	"context"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// A platform written in Java uses qcbadge with nothing but the JDK:
// testdata/BadgeTest.java waits for readiness, fetches a listing's badges
// in one call, reads the metrics, publishes a revocation through the
// sandbox's operator API and sees the badge change.
func TestFromJava(t *testing.T) {
	heavy.Suite(t, "the Java program's test")
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatal("no java on PATH; CI installs a JDK (.ci/run)")
		}
		t.Skip("no java on PATH: the test from Java needs a JDK 17 or later")
	}
	var out testio.Buffer
	url, sb, _, _ := serving(t, &out)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(2*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, java, "testdata/BadgeTest.java", url, sb)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("java BadgeTest.java: %v\n%s\nqcbadge's log:\n%s", err, got, out.String())
	}
	t.Logf("%s", got)
}
