// Package readme holds the test that keeps README.md's Go code compiling
// and running: every ```go block is a complete program, built against
// this module, and run where an HTML comment before it says what it
// must print or serve.
package readme
