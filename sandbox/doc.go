// Package sandbox is a reference implementation of the quality commitment
// public query API (api/openapi.yaml) over a deterministic, generated data
// set. Examples and tests talk to it instead of the regulator: it answers
// every route of the contract, publishes changes on command, and misbehaves
// on command.
//
// In a test it feels like net/http/httptest:
//
//	srv := sandbox.NewServer(t)                 // the demo set on a loopback port
//	resp, err := http.Get(srv.URL + "/v1/products/" + string(srv.Demo()[0].GTIN))
//
// # Options
//
// The package follows the SDK's conventions: New and NewServer take
// functional options ([Option]) that can fail. A value out of range — a
// size below one, a negative rate, retention or grace, an empty API key,
// a log key that is not one — is an error from New, the first option's,
// once, at start-up (NewServer fails the test with it); nothing is
// clamped silently. A nil option is skipped, a nil clock is time.Now and
// a nil logger logs nothing. A clock is a func() time.Time, and barcodes
// are client.GTIN in Go, strings only on the wire.
//
// # The data set
//
// A seed, a size and a reference day decide every record, byte for byte.
// The demo set (the default) has 50 enterprises and 1,000 products in six
// categories: household appliances, washing products and children's
// clothing (the registry's launch categories), toys, stationery and
// furniture. Names are fictional; USCCs and GTINs are valid, region codes
// and national standards are real. Sizes go up to 1,000,000 products and
// beyond: products are computed on demand from their GTIN, so a large set
// is ready in a couple of seconds and costs memory only for its enterprises,
// commitments and inspections.
//
// The first enterprises of every set are curated so that the demo shows
// each badge verdict: an active commitment with a passed inspection, one
// not inspected yet, a failed inspection, a suspended, a revoked and an
// expired commitment, one past its expiry date but still marked active, one
// not yet in force, and the edge cases of the inspection look-back window.
// Demo lists them with the verdict each shows; NotListedGTIN is a product
// whose maker is not on the list. WithHostileText fills every text field
// with markup, script URLs, broken UTF-8 and bidirectional overrides.
//
// # Behaving like the real thing
//
// Every GET answers with an ETag and honours If-None-Match with 304;
// lists are paged with opaque cursors bound to their filters; each API key
// has a token-bucket rate limit with RateLimit-* headers and 429 with
// Retry-After; the change feed holds long polls until a change is
// published; consumer reports are idempotent under Idempotency-Key; every
// error is an RFC 9457 problem document with a stable code.
//
// # Publishing changes
//
// SetCommitmentStatus, Revoke, PublishInspection, Delist, RenameEnterprise
// and PublishCase change the registry as the regulator would: each stores a
// new version of the record and appends an event to the change feed, which
// wakes long polls and is pushed, signed, to every URL registered with
// AddWebhook (retried with a doubling wait until the receiver answers 2xx).
//
// The feed keeps every event unless WithFeedRetention bounds it; ExpireFeed
// drops every retained event at once. A cursor from before the oldest event
// kept has expired and is answered 400 invalid_cursor, so a consumer's
// recovery (read on from from=head) can be tested.
//
// # Reports
//
// A report (POST /v1/reports) or a rights holder's clue (POST
// /v1/reports/batch) starts received; AdvanceReport moves it on, one step
// at a time by default: forwarded to the maker's provincial authority,
// under investigation, closed with the outcome given (case_published adds
// the report to the case's clue counts). Each step is a
// report.status_changed event that only the filing API key reads on the
// feed and that only webhooks registered for that key (AddWebhookFor)
// receive. A sandbox without API keys treats the callers that send none
// as one platform of their own: their reports' events are on their feed
// and AddWebhook's webhooks, and never a keyed platform's. The data set starts with DemoReports, one at every stage and
// outcome, readable by every key; their tokens are in DemoReports and GET
// /_sandbox/reports. Report look-ups have their own rate limit
// (WithReportLookupLimit).
//
// # The log
//
// Every position of the change sequence is a leaf of an append-only
// Merkle tree (client.LogLeaf of the change; see log.go for how the
// generated set's positions become leaves), served under /v1/log with
// checkpoints signed by a key generated at start (WithLogKey gives one;
// /v1/keys lists it). The tree is hashed on the first request for it and
// extended as changes are published; ExpireFeed drops no leaf.
// RotateLogKey makes a new key sign, the old one verifying for a grace
// period (WithLogKeyGrace); ForkLog shows one API key a history of its
// own, for tests that a split view is caught. Every product status answer
// made of records carries their inclusion proofs to the checkpoint of the
// tree its caller is shown (a batch carries the checkpoint once), and the
// consistency proof from the size its request named in log_size; so the
// first such answer builds the tree (about half a second for 200,000
// products), and the others each cost a few proofs.
//
// # Faults
//
// SetFaults (or WithFaults, or the qcsandbox -fault flag) makes routes
// misbehave with a given probability: added latency, an error status, a
// 429, a reset connection, malformed JSON, a truncated body, an oversized
// body or a slow body. Fault draws are seeded (WithFaultSeed) so a failing
// test can be run again. Requests counts what reached each route, so a
// test can measure how many attempts a client made.
//
// # The operator API
//
// Programs not written in Go drive the same through HTTP under /_sandbox:
// GET /_sandbox/demo, GET /_sandbox/stats, PUT /_sandbox/faults
// {"faults":["error=503@0.2"]}, POST /_sandbox/webhooks {"url","secrets","api_key"},
// POST /_sandbox/commitments/{id}/status {"status":"revoked"},
// POST /_sandbox/inspections {"gtin","result"},
// POST /_sandbox/enterprises/{id}/delist, POST /_sandbox/feed/expire,
// GET /_sandbox/reports (the demo reports and their tokens) and
// POST /_sandbox/reports/{id}/advance (an empty body, or
// {"status","authority","outcome","case_id"}), POST /_sandbox/log/rotate
// and POST /_sandbox/log/fork ({"api_key"} or ?api_key=).
package sandbox
