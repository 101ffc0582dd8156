package main

import (
	"testing"

	"go.uber.org/goleak"
)

// run leaves nothing behind when its context ends: no follower, no
// refresher, no janitor.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
