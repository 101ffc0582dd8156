// Package timing holds the test that keeps the tests' hang guards under
// one factor. A guard a test writes as time.After(10 * time.Second), or
// as a hangGuard constant, cannot be stretched on a slow machine;
// written as timescale.Scale(10 * time.Second) it grows with
// QCSDK_TIME_SCALE (see internal/testkit/timescale).
//
// The test holds only what it can tell without reading the test: a
// time.After of a constant second or more is a guard (a shorter one is
// a pace, and a sleep would be a synchronisation, which no test uses),
// and a hangGuard is one by its name. Deadlines and render budgets are
// left to review: some are what a test asserts (a deadline set before a
// Retry-After, a budget a slow registry must miss) and must not scale,
// and only the test's reader can tell which.
package timing
