// Package etag answers one question of HTTP's conditional requests: does
// an If-None-Match field name the current entity-tag, so that the answer
// is 304 Not Modified?
//
// The sandbox and the widget handler both serve ETags and both answered
// that question with their own few lines, which had drifted apart and
// both missed parts of RFC 9110: a weak entity-tag of the server's own, a
// comma inside a quoted tag, "*" given in a list, a malformed field. This
// package is the one place that reads the field, for every package that
// serves validators.
package etag
