// Package heavy decides whether a heavy test suite runs: the browser
// suite, the code generators, the Redis Cluster suites, the randomized
// fault runs, the programs in other languages. Each takes from tens of
// seconds to minutes; together they made a newcomer's `go test ./...`
// run past go test's timeout on a busy two-core machine. They run under
// CI (QCSDK_CI=1, which .ci/run sets, and where a missing tool is a
// failure) or when asked for (QCSDK_HEAVY=1); otherwise each skips,
// saying how to run it.
package heavy

import (
	"os"
	"testing"
)

// Enabled reports whether the heavy suites run.
func Enabled() bool {
	return os.Getenv("QCSDK_CI") == "1" || os.Getenv("QCSDK_HEAVY") == "1"
}

// Suite skips t unless the heavy suites run. name says which suite it
// is, in a few words ("the browser suite").
func Suite(t testing.TB, name string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("%s is heavy: run it with QCSDK_HEAVY=1 (CI runs it, with QCSDK_CI=1)", name)
	}
}
