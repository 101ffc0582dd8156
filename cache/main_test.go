package cache_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test leaves a goroutine behind: janitors, refreshes, batchers and
// followers all stop with Close or their context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
