// Package timescale stretches the time limits of tests on a slow machine.
//
// A test bounds what it waits for: a hang guard in a select, a context
// deadline, a render budget it expects to be met. Each limit is chosen
// to be generous on a quiet machine, yet a loaded two-core machine under
// -race can still miss one, and a test that fails for want of time says
// nothing about the code. Rather than each test growing its own margin,
// every such limit goes through Scale, and one factor stretches them all:
//
//	QCSDK_TIME_SCALE=3 go test ./...
//
// gives every limit three times as long. The factor is a positive
// decimal; unset or empty, it is 1.
//
// Only limits a slow machine could miss are scaled. A duration the test
// asserts about the code's own behaviour (a TTL, a cooldown, a
// Retry-After, the steps of a virtual clock, a budget the test expects
// to be missed) keeps its value: stretching it would change what is
// being tested, not how long the test may take.
//
// A factor that is not a positive decimal panics, naming the variable:
// Scale runs where a testing.TB is not at hand (a package-level hang
// guard), and a misspelt factor must stop the run at once rather than
// quietly test with the default.
package timescale
