// Package deps holds the test that keeps the module's dependencies to
// what the design allows: which third-party modules each package may
// build on, and which of the module's own packages it may import, so that
// data flows one way (widget → cache → client → network).
package deps
