// Package figures holds the test that keeps README.md's figures true to
// BENCHMARKS.md. A figure the README repeats is a link to the section
// of BENCHMARKS.md that measured it, [1.16×](BENCHMARKS.md#anchor); the
// test checks that the anchor names a section and that the section
// states the figure, so that re-measuring a claim without updating the
// README, or the other way round, fails.
//
// It also holds BENCHMARKS.md to its shape: every section has the ```sh
// command that reproduces it, and no section carries two result tables
// of the same shape, the sign of an old measurement kept beside a new
// one.
package figures
