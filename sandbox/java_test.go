package sandbox_test

import (
	"context"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A rights holder's system written in Java files its clues through the
// registry API with nothing but the JDK: testdata/ClueBatchTest.java files
// a batch with one bad clue, resends it, reads a clue's lifecycle with its
// token, has the sandbox's operator API forward it, and lists the
// platform's reports.
func TestCluesFromJava(t *testing.T) {
	heavy.Suite(t, "the Java program's test")
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatal("no java on PATH; CI installs a JDK (.ci/run)")
		}
		t.Skip("no java on PATH: the test from Java needs a JDK 17 or later")
	}
	const key = "brand-owner-platform-key"
	srv := sandbox.NewServer(t, sandbox.WithAPIKeys(key))
	ctx, cancel := context.WithTimeout(context.Background(), timescale.Scale(2*time.Minute))
	defer cancel()
	out, err := exec.CommandContext(ctx, java, "testdata/ClueBatchTest.java", srv.URL, key).CombinedOutput()
	if err != nil {
		t.Fatalf("java ClueBatchTest.java: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if n := srv.Reports(); n != 2 {
		t.Errorf("the sandbox holds %d filed reports, want the batch's 2 good clues", n)
	}
}
