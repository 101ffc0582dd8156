// Package api holds the contract of the Quality Commitment Public Query API:
// the OpenAPI 3.1 document openapi.yaml, embedded so that tests in other
// packages (the client's and the sandbox's contract tests) load the very
// document this folder validates instead of a path relative to their own.
//
// The document is the single source of truth for the wire format; README.md
// in this folder states its conventions in prose. This package deliberately
// depends on nothing outside the standard library: callers pick their own
// OpenAPI tooling (the tests here use github.com/getkin/kin-openapi).
package api

import _ "embed"

//go:embed openapi.yaml
var spec string

// Spec returns the OpenAPI 3.1 document, as YAML. Each call returns a fresh
// copy, so a caller may modify it freely.
func Spec() []byte {
	return []byte(spec)
}
