// Package idem holds the rule for an Idempotency-Key, which the client
// checks before it sends a report or a clue and the sandbox checks when
// it receives one: the two must agree, or the client would send keys the
// reference server refuses, or refuse keys it takes.
package idem
