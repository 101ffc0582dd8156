package api_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The contract tests start sandboxes; none may leave a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
