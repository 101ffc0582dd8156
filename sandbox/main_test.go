package sandbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: webhook workers and long polls
// must stop with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
