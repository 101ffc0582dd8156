// Package client is the Go client of the quality commitment public query
// API (api/openapi.yaml): the registry where makers sign product quality
// commitments with the market regulator, and where the regulator publishes
// its law-enforcement inspections. An e-commerce platform uses it to show,
// on a product page, whether the product's maker signed a commitment, what
// it promised and how it fared — and to keep that current as the regulator
// pushes changes.
//
// The package holds the typed models of the registry ([Enterprise],
// [Commitment], [Inspection], [ProductStatus], [Event] and the rest),
// validation of GTINs and USCCs, the badge verdict rule ([Decide]), the
// HTTP client for every route, and webhook verification. It knows nothing
// of caching or HTML: package cache keeps answers, package widget draws
// badges.
//
//	api, err := client.New(client.WithBaseURL(base), client.WithAPIKey(key))
//	st, _, err := api.Products.ByGTIN(ctx, "6901234567892", nil)
//	d := client.Decide(st, time.Now(), client.DefaultLookback)
//
// A [Client] is safe for concurrent use and meant to be shared: its
// connection pool, its retry budget, its view of the rate limit, its
// pause and its upstream limiter (see Quota) are per client. Its services
// — Products, Enterprises, Commitments, Inspections, Cases, Categories,
// Changes, Reports and Log — take a context first and optional options (nil
// allowed) last, and return the model, a [*Response] with the headers that
// matter, and an error.
//
// New takes functional options and returns their errors, once, at
// start-up. An option given nil — a nil clock, logger or *http.Client,
// WithLogKeys with no key, an empty base URL, key or user agent — is the
// default, as if it were not given; it is never an error. A value that is
// not nil keeps its documented meaning: the zero [RetryPolicy] never
// retries, and WithTimeout(0) leaves a call bounded by its context alone.
//
// # Authentication
//
// [WithAPIKey] sets the key, sent as "Authorization: Bearer <key>" on every
// call — never in a URL, a log line or an error string, and never printed
// by the client's String or GoString.
//
// A key the API refuses (401 or 403: unknown, revoked, lacking a scope,
// or none set) is loud, and cheap. The first refusal is logged once, at
// error level, naming the cause — the status, the problem's code and
// detail, the request id — and never the key; it goes to the client's
// logger, or to slog's default one when it has none, since with a wrong
// key every badge is unknown and silence is the trap. Then the client
// holds every call back for a cool-down, [DefaultKeyRefusedPause] (a
// minute, capped by [WithMaxPause]): each fails at once, unsent, with a
// [*KeyRefusedError] whose Err is nil, rather than spend a refused call on
// every page view; the first call after it is sent, to learn whether the
// key was fixed at the registry's end. The call that was refused returns
// a [*KeyRefusedError] too, wrapping the [*APIError]; both match
// [ErrUnauthorized]. An answer that shows the key accepted lifts the
// cool-down and logs so at info level, so that a later refusal is said
// again. The cool-down is the quota's pause (see Quota): [Client.Stats]
// shows it, with PauseStatus 401 or 403.
//
// # Errors
//
// Input the API would refuse is refused before sending: a malformed GTIN
// or USCC is an [*IDError], a malformed product key a [*KeyError]; both
// match [ErrInvalidInput]. An error answer is an [*APIError] carrying the
// problem document's stable Code, its Detail and the request id; a 429 is
// a [*RateLimitError], a 401 or 403 a [*KeyRefusedError] (see
// Authentication). A call the client refused unsent to spare the quota is
// a [*RateLimitError], an [*UnavailableError] or, after a refused key, a
// [*KeyRefusedError]. An answer that is not the JSON the route promises is
// a [*DecodeError]; no answer at all, a body cut off mid-answer and one
// over the size limit ([WithMaxResponseSize], 1 MiB by default) are errors
// that match ErrUnavailable and say which in their message. Every one of them
// matches at most one sentinel — [ErrNotFound], [ErrUnauthorized],
// [ErrRateLimited], [ErrInvalidInput], [ErrUnavailable] — so that
//
//	if errors.Is(err, client.ErrUnavailable) { /* serve what you have */ }
//
// reads the same whatever went wrong. When the context ends, the error
// matches ctx.Err(), not a transport failure.
//
// # Retries
//
// Calls go through go-retryablehttp under one [RetryPolicy] (see
// [DefaultRetryPolicy]). Only idempotent calls are retried: reads, and
// report creation, which always carries an Idempotency-Key (generated when
// the caller gives none). They are retried after a network error, a body
// cut off or garbled in transit, or a 429, 502, 503 or 504 — never after
// another status. A network error another attempt cannot mend — a
// certificate that cannot be verified, a redirect loop, an unsupported
// scheme, an invalid header, a host name that does not exist — is not
// retried, by go-retryablehttp's judgement, and fails the call at once
// with [ErrCannotSucceed]. Waits grow exponentially with full jitter; a Retry-After
// is honoured up to the policy's MaxRetryAfter, past which the call fails
// at once with [ErrRetryAfterTooLong]; and a call never sleeps past its
// context's deadline: it gives up with [ErrDeadlineTooClose] instead. A
// retry budget shared by the client's calls, after gRPC's retry
// throttling, stops retries once failures run above about a tenth of
// successes ([ErrRetryBudget]), so that a dead upstream sees about one
// attempt per call rather than four.
//
// A retry is also held back by the client-wide pause and takes a token
// from the upstream limiter, as a first attempt does (see Quota): a pause
// longer than MaxRetryAfter ends the call with [ErrRetryAfterTooLong], a
// low-priority call that finds no token to spare with [ErrRetryThrottled],
// and a pause another call begins while a retry waits ends the call with
// the pause's error.
//
// # Quota
//
// The registry's quota belongs to the platform, not to whoever can make
// its pages call the API. The client guards it in three ways, shared by
// every call of one [Client].
//
// The pause. An answer that is a 429, or a 503 with a Retry-After, or
// that says RateLimit-Remaining 0 with a reset still to come, pauses the
// whole client until then: every call made meanwhile, on any route and at
// any priority, fails at once without touching the network. After a 429
// or a spent quota the error is a [*RateLimitError] whose Err is nil
// (matching [ErrRateLimited]); after a 503 an [*UnavailableError]
// (matching [ErrUnavailable]); both carry RetryAfter, the time left. A
// pause is capped by [WithMaxPause] (5 minutes by default): a
// "Retry-After: 3600" pauses 5 minutes, not an hour. A 429 that says
// neither Retry-After nor RateLimit-* pauses a second, then 2, 4, … up to
// the cap on each such 429 in a row, and a second again after a success.
// A later answer that says calls remain lifts a pause only a spent quota
// began. The pause is judged on the client's clock ([WithClock]).
//
// One route is limited apart: report look-ups ([ReportsService.Get]),
// which the public can cause through a shopper's status link. Their 429
// pauses report look-ups alone, for its Retry-After (or a second); every
// other call goes on. Stats counts only the client-wide pause.
//
// The limiter. [WithUpstreamLimit] sets a ceiling on the calls the client
// sends, a token bucket (golang.org/x/time/rate). The API's
// RateLimit-Limit, read as calls per second, lowers it when it says less;
// without a ceiling the client follows those headers alone, and is
// unlimited until it has seen them. A call that finds no token waits for
// one as long as its context's deadline allows, and otherwise fails at
// once with a [*RateLimitError] whose Throttled is set (matching
// [ErrRateLimited]), never sleeping to its deadline. Retries take tokens
// too.
//
// Priorities. [WithPriority] marks a context's calls [PriorityHigh] (the
// default: the platform's own pages) or [PriorityLow] (cold lookups the
// public can trigger through a badge endpoint, background refreshes). A
// low-priority call is sent only if a token is free at once with half the
// burst still left for high-priority calls; otherwise it fails at once,
// never waiting. So a flood of random GTINs at a public endpoint spends
// at most what low priority may, and product pages keep their reserve.
//
// What a caller sees is one rule: errors.Is(err, [ErrRateLimited]) or
// [ErrUnavailable], and the error's RetryAfter to reschedule; a cache
// serves what it has. [Client.Stats] counts the calls refused during a
// pause and by the limiter, per priority, and says when the pause in force
// ends.
//
// # Conditional requests
//
// Every Get takes a [GetOptions] whose ETag is sent as If-None-Match; a 304
// answer returns a nil model and a Response with NotModified set, so that a
// cache can renew an entry without a body. [Response.CacheControl] says how
// long the API allows an answer to be reused.
//
// # Pagination
//
// A page of a list has one shape wherever it is held: a [List], Data and
// NextCursor, as the API answers it. List methods return it with the
// call's [Response] (which repeats the cursor in [Response.NextCursor]),
// and the cache's reads of lists return the same value; the change feed's
// [ChangePage] reads the same, plus HasMore. All methods return an
// iter.Seq2 that follows the cursors, fetching a page only when the loop
// reaches it: the way to walk a list that can be long.
//
//	for e, err := range api.Enterprises.All(ctx, &client.EnterpriseListOptions{Category: "toys"}) {
//		if err != nil { return err }
//		fmt.Println(e.Name.ZH)
//	}
//
// [ChangesService.Follow] does the same for the change feed, forever: it
// long-polls, yields each event in order, and after any error yields it,
// backs off and resumes from the last cursor, so that no event is lost or
// repeated. Persist Event.Cursor to resume after a restart. The feed keeps
// events for a retention window only: a cursor older than that is rejected
// ([IsCursorRejected]), and the consumer must then mark what it holds stale
// and follow on from [ChangesService.Head].
//
// [ProductsService.Batch] looks up any number of product keys, in calls of
// at most 100, and answers in input order with an error per key.
//
// # Identifiers
//
// A product is named by its GTIN, or by its maker's Unified Social Credit
// Code with brand and model. Both carry a check character, and both are
// validated before they go anywhere near a request, a cache key or a page:
//
//	gtin, err := client.ParseGTIN(r.FormValue("gtin"))
//	if errors.Is(err, client.ErrInvalidID) {
//		// a typo, not an outage: say so, and do not ask the registry
//	}
//
// [ParseGTIN] accepts the 8-, 12-, 13- and 14-digit forms and returns the
// 14-digit one, so that a product has one spelling in caches and URLs; a
// GTIN already in that form costs no allocation. [ParseUSCC] accepts either
// case and returns upper case. Only ASCII is accepted (full-width digits
// and other lookalikes are rejected), and only surrounding ASCII spaces
// are forgiven.
//
// A rejection is an [*IDError] matching [ErrInvalidID]. It says which rule
// was broken and where, and keeps at most 32 bytes of the input, which it
// quotes, so that hostile input can neither flood a log nor forge lines in
// it.
//
// [CompleteGTIN] and [CompleteUSCC] compute the check character, for
// building test data.
//
// [GTIN] and [USCC] decode themselves from JSON (and any other text
// format) through ParseGTIN and ParseUSCC, so a struct field of either
// type holds a valid identifier in canonical form or the decoding fails
// with the same *IDError; empty text is the zero value, "none". In an
// answer, an identifier the contract promises valid and that is not is
// the registry's fault: a [*DecodeError] matching ErrUnavailable, not
// ErrInvalidID. A [ProductKey] is the exception: it is decoded as written
// and validated where it is used, because the contract echoes a refused
// key as it was sent.
//
// # Verdict
//
// [Decide] turns a [ProductStatus] into a [Decision]: a [Verdict]
// (committed, inspection_failed, withdrawn, not_listed or unknown) with the
// commitment status, date and records behind it. Everything that shows a
// badge takes its verdict from Decide, so that a product reads the same
// everywhere.
//
// The rules are conservative: a verdict is never better than the data
// supports. A commitment past its expiry date is withdrawn even while the
// registry still says active; a failed inspection outranks every older
// pass; a status or result this version of the SDK does not know gives
// unknown, never a guess; and no answer at all is unknown, never
// not_listed. Only inspections published within a look-back window
// ([DefaultLookback], a year, unless the caller says otherwise) count, so
// that a long-rectified failure stops marking a product.
//
// Decide takes the current time as an argument, so that cached answers
// are judged as of now rather than as of when they were fetched, and tests
// need no clock. It does not allocate, and is cheap enough to run on every
// page view.
//
// # Webhooks
//
// The registry pushes each change event to a platform as a signed POST
// (see [SignatureHeader]). [WebhookHandler] is a ready receiver: it
// verifies each push with a [WebhookVerifier] and hands the [Event] to
// your function, answering 204, or 401, 413, 400 or 500 so that the
// registry retries. [VerifyWebhook] checks one push; a WebhookVerifier sets
// the tolerance (5 minutes), the clock and the body limit. During a secret
// rotation the registry signs with both secrets, and a receiver holding
// either accepts. Failures match sentinels such as [ErrWebhookBadSignature]
// and [ErrWebhookTooOld], and never quote secrets or bodies. Delivery is at
// least once: make your handling idempotent by Event.ID. [SignWebhook]
// signs pushes for tests.
//
// # Reports
//
// A report (a clue) goes received → forwarded → under investigation →
// closed with an outcome ([Report.Steps], [ReportStatus], [ReportOutcome]).
// [ReportsService.Create] files a shopper's report and answers its
// [ReportToken], which [ReportsService.Get] needs: it travels in a header,
// prints as [redacted], and a wrong one is the same ErrNotFound as an
// unknown id. [ReportsService.CreateBatch] files a rights holder's clues,
// up to [MaxClues], each filed or failed on its own ([ClueResult.Err]);
// [ReportsService.All] walks the platform's own reports by status. The
// registry tells the filing platform alone of each step, as an
// [EventReportStatusChanged] event on the feed and webhooks.
//
// # The registry's log
//
// The registry's changes form an append-only Merkle log, as Certificate
// Transparency's and Go's checksum database's do: the change at position
// seq is leaf seq-1, [LogLeaf] (its position, kind and id, and the SHA-256
// of the record in canonical JSON, so that a record is checked however a
// tier re-encoded it). The registry signs checkpoints of the log with keys
// it lists, each in force for a period ([LogKey]). [VerifyCheckpoint]
// opens one; [VerifyInclusion] checks a leaf against it; and
// [VerifyConsistency] checks that a later checkpoint extends an earlier one
// — a registry that showed two readers two histories fails it with
// [ErrLogFork], whatever its signatures. The tree and proofs are
// golang.org/x/mod/sumdb/tlog's, the signatures sumdb/note's.
//
// # Verified statuses
//
// Every product status the registry answers carries its proof
// ([StatusProof]): for each record it is made of, the record's position
// and inclusion proof in the tree of a signed checkpoint. ProductsService
// (ByGTIN, ByKey, Batch) verifies it before returning a status: the
// checkpoint's signature (checked once per checkpoint, then cached), each
// record's leaf recomputed from the record itself and its inclusion, and
// that the checkpoint extends the latest one the client verified — each
// request names that checkpoint's size (log_size) and the answer carries
// the consistency proof, so this costs no round trip. The first checkpoint
// is taken on its signature; [Client.LatestCheckpoint] then only moves
// forward. A status that fails is a [*VerifyError] naming the product and
// wrapping the cause's sentinel ([ErrLogProof], [ErrCheckpointSignature],
// [ErrLogFork], [ErrLogBackwards]); it is counted in [ClientStats]
// LogFailures, logged once per cause, and never returned as good. A status
// made of no record (a product not listed) has nothing to prove.
//
// [WithLogKeys] pins the registry's keys. Without it the client fetches
// /v1/keys the first time it has a status to verify, and again (at most
// once a minute) when a checkpoint does not verify with the keys it holds,
// so that a rotation is followed: the keys are then as trustworthy as the
// TLS connection that brought them. There is no switch to turn
// verification off.
//
// A status keeps its proof, checkpoint included (the statuses of one batch
// share one string), so that it can be verified again offline, anywhere,
// with [VerifyStatus]: when a cache reads it back, in a badge, by a
// third party. The log proves each record is one the registry published
// at its version, in the history every reader is shown; it does not prove
// a record is the latest version, nor that none was left out, which is the
// change feed's and as_of's to say.
package client
