// Package cache answers product status lookups for a product page as fast
// as a map lookup, while keeping the regulator's API to a tiny fraction of
// the page views and never showing an answer older than one already seen.
//
//	api, _ := client.New(client.WithAPIKey(key))
//	qc, _ := cache.New(api)                       // a bounded memory store of its own
//	defer qc.Close()
//	a, err := qc.Status(ctx, client.ProductKey{GTIN: "06901234567892"}) // a.Status, a.Fetched
//
// # Freshness
//
// An answer is served without asking the API for its TTL — the API's
// Cache-Control max-age, or WithTTL. A "not listed" answer is kept too, for
// a shorter negative TTL, since makers join the list. Past its TTL an answer
// is still served at once for the stale-while-revalidate window while one
// background refresh per key revalidates it with its ETag (a 304 renews it
// without a body). Past that, a lookup waits for the API; if the API fails,
// the answer is served stale up to the stale-if-error limit (WithMaxStale),
// and after that the lookup fails, so that a badge says "unknown" rather
// than guess.
//
// Freshness only moves forward. Every answer says the position in the
// registry's change sequence it reflects (Entry.AsOf), and a store never
// replaces an entry with one from an earlier position; a stale answer is
// served only from what the store holds at that moment — so once a
// revocation or a failed inspection has reached the cache (through a
// fetch, the follower or a webhook), no older "committed" answer is served
// again, whatever the API does meanwhile.
//
// # One clock
//
// Which of two answers is newer is decided by the registry's clock, never
// a machine's. Every change in the registry has a position, one past the
// change before it (client.Event.Seq); every answer says the position it
// reflects (client.Response.AsOf); a record's version is the position of
// its latest change. Entries, stamps, tombstones, the fleet's head and the
// Redis write script all compare these positions; wall clocks only time
// each machine's own TTLs. So a server whose clock leads or lags still
// orders every answer as the registry does, and a revocation at position
// p reaches every answer of the maker from before p, however late or
// early its machine dated it. Equal is not newer: a copy never replaces
// its equal, so servers holding one answer never write it over each other
// (see Entry.Replaces; package storetest holds any Store to these rules).
//
// # Load on the API
//
// Concurrent misses of one key make one call (coalescing: a caller whose
// context ends stops waiting without cancelling the call for the others).
// Concurrent misses of different keys are grouped into batch lookups of up
// to 100 keys: a miss is sent at once when no call is in flight, and the
// misses that arrive meanwhile go together in the next — group commit, so
// batching adds no latency when traffic is light. Statuses looks up a
// whole listing page: its misses go out together, one call per 100.
//
// A slow or dead registry holds up only what it must. A miss whose callers
// all gave up before it was sent is dropped (Stats.Abandoned), so an
// outage leaves no backlog of calls behind it; one a call already asked
// for is kept when it answers, for the next view. A call out longer than
// the 95th percentile of recent calls (20 ms, for a call pages wait for
// with a deadline, until 16 calls have been timed) is hedged: the keys
// someone still waits for go again in a call of their own, the first
// answer wins, and the slow call is cancelled once it has nothing left to
// answer (Stats.Hedges), or once its last waiter has left. A call lives
// as long as the last of its waiters waits (the fetch timeout when one
// has no deadline): the client judges its limiter, retries and backoff
// against the pages' time, and a page whose call failed fast has time to
// ask again. At most 8 calls are in flight. A call runs at the
// client's low priority unless a caller at high priority (the default)
// waits for one of its keys, so that the public badge endpoint's cold
// lookups (client.WithPriority) leave the quota's reserve to the
// platform's own pages.
//
// A registry that refuses the API key (401 or 403) is not asked again on
// every view: the client holds its calls back for a cool-down after a
// refusal (client.DefaultKeyRefusedPause, a minute), so that a lookup
// meanwhile fails at once — served stale if the store has it, unknown
// otherwise — and the registry sees a call a minute, not one a view. A
// minute because a key is fixed by a person, in minutes; because a
// refused call costs the registry and the page as much as an answered
// one; and because the first call after it learns of a fix as soon as a
// person could. The client logs the refusal once, as an error naming the
// cause; the cache does not log it again for each fetch (WithLogger's
// warnings are for fetches that failed otherwise), and counts each
// lookup it failed in Stats.KeyRefused.
//
// Warm looks up a hot catalogue at start, in batches of 100: the store
// first (a fleet's Redis), then the registry at low priority, waiting for
// the limiter's tokens rather than taking the pages' — so that a freshly
// started server's first page views are hits.
//
// # Enquiry reads
//
// The consumer enquiry pages read makers, commitments, inspections, cases
// and searches: Enterprise, Commitment, Inspection, EnterpriseCommitments,
// Inspections, Enterprises, Cases and Categories cache them the same way,
// as the API's JSON decoded per call, so each caller gets a copy of its
// own. A change of a maker reaches every cached read of it; a search, which
// no change can name, lives out its short TTL. A list read returns one
// page, the client.List the client answers, keyed by its cursor: the cache
// holds the pages a shopper's view shows, so it has no iterators; a long
// walk belongs to the client's All iterators, uncached.
//
// # Memory
//
// The products of one maker share one copy of its enterprise record and
// of its commitment (by id and version), so a cached status costs about
// 1 KB with the store's bookkeeping — about 1 GB for a million products.
// WithMaxEntries bounds the count (100,000 by default), whatever the keys.
//
// The memory store keeps its entries in go-cache, and uses its eviction
// callback (OnEvicted) to keep the maker index and the bound in step; it
// judges expiry itself rather than through go-cache's expiration and
// janitor, for three reasons. go-cache's Get reads the precise clock for
// every item with an expiry: BenchmarkWarmHit measures that Get at about
// 75 ns against 19 ns for the same lookup without one, so the clock read
// costs three times the lookup, and the cache's own hit (judging
// freshness on a coarse clock) is cheaper than go-cache's bare Get with
// expiry. A hit does not take go-cache's read lock either, whose shared
// count the cores' hits would fight over: it reads a table of the items
// last read, in front of go-cache, without a lock, and an item leaves
// that table's reach as it leaves go-cache (see Memory). go-cache reads time.Now, so expiry could not follow
// WithClock, which the tests and the simulations of this package run on.
// And its janitor is a goroutine that only a finalizer stops: Close could
// not stop it, and an idle store would wake every interval. go-cache has
// no bound of its own, so the bound (oldest inserted first out) is ours
// either way.
//
// # Stores
//
// A Store keeps entries under string keys until they expire. NewMemory is a
// bounded memory store on go-cache, with a Close that stops its sweeper.
// The Redis store of package redisstore shares entries between the web
// servers of a platform, on one Redis or a Redis Cluster: a Lua script
// decides each write, so that no server can replace a newer answer with
// an older one. NewTiered puts a memory store in front of a shared one
// (Shared: redisstore's, or one of your own): every write through one
// server is announced over Redis pub/sub, and the others check their
// memory copies against Redis on their next read — keeping the newer of
// the two, so that no server ever shows an older answer after a newer
// one; a server writes its copy back only when it is ahead of Redis's. A server whose subscription was lost checks every memory copy the
// same way, and what a server learnt while Redis was down is written to
// Redis once it answers. Each of these stores also reads many keys at
// once (MultiGetter): the keys of a page that the memory tier lacks cost
// two round trips to Redis together, not two per product. A platform that
// caches in memory only does not compile the Redis client: it lives in
// redisstore alone.
//
// The cache reaches every store through the Store interface and the
// optional ones a store may add: MultiGetter, for a page's keys at once;
// MultiSetter, for a batch's answers at once. A warm hit from this
// process's memory costs a map lookup and one reading of the clock on a
// Memory or Tiered store, and on a store of your own that embeds a
// *Memory, which is read exactly as the built-in ones are.
// It applies the contract with Entry.Replaces (on Set) and Stamp.Apply
// (on Get).
//
// A dead or slow Redis degrades to the memory tier and the API, never to an
// error page: Redis calls have a short timeout (100 ms; build the go-redis
// client with ContextTimeoutEnabled so that it holds); a page's read of
// the keys its memory lacks (Statuses) has a fifth of what is left of the
// page's time, the registry the rest (a read that share cuts short is
// counted, but not as Redis down); and after three failures in a row
// Redis is skipped for a cooldown, then probed in the background, never
// inside a page view. Cached reads this process's memory only. A fetched
// answer reaches its page from memory: a Tiered store waits for Redis to
// take it only for the store's share of what is left of the page's time,
// and writes it on in the background. No read path makes a context of
// its own: a test walks them for one. go-redis logs its own
// connection failures through its package logger; redis.SetLogger routes
// them to yours.
//
// # Following changes
//
// The registry pushes its changes. Follow reads the change feed into a
// store and Apply applies one event. A change of a maker is recorded as a
// Stamp: a generation mark that every read checks, so that every cached
// answer of the maker that predates the change — on every server, in every
// tier — is read as a tombstone and asked for again, without an index of
// the maker's entries that a failed write could leave incomplete. A new
// inspection is such a change of its maker: it is not written into the
// product's cached status, whose records the registry's log proves and
// which, with a record added here, would no longer verify. Follow saves
// its cursor and resumes
// from it after a restart; on a Redis store every server may run it, and a
// fenced lease elects one. When the registry rejects the cursor, Follow
// resynchronises by itself (see Follow). Signed pushes are applied the
// same way: client.WebhookHandler verifies them, and Apply applies them.
//
// A stamp is a position: the maker's change at p reaches every entry of
// the maker whose AsOf is below p, on every server, whatever the clocks
// say. A resynchronisation (the registry rejected the follower's cursor,
// or the follower had none) stamps the feed head's position h: every
// answer from before h is served stale at most while one refresh
// revalidates it, on every tier, so that a change the feed lost shows on
// the next view. Stamps spread over a Redis Cluster's shards, one key per
// maker, and announcements travel on two channels on different shards: a
// shard failing over holds back only the stamps of its own makers, and
// those are announced to every server anyway while the follower records
// them again in the background (see Follow).
//
// Every write of the follower is safe to repeat, which is why only its
// cursor is fenced by the lease: a follower paused past its lease that
// wakes and writes one more stamp writes what the leader wrote or will
// write (a stamp joins by the larger position), and
// FollowOptions.Handle may run once more for a change, as it may after
// any restart — make it idempotent.
//
// # The registry's log
//
// The client verifies every answer against the registry's transparency
// log before the cache stores it (see client.VerifyStatus). The follower
// audits the log itself: it proves each new signed checkpoint extends the
// last one verified, compares it with the platform's witnesses
// (FollowOptions.Witnesses), and publishes it to the fleet
// (LogCheckpointKey; cosigned with FollowOptions.Cosigner), where each
// server's client takes it as the history later answers must extend
// (client.TrustCheckpoint). A log that shows two histories is a fork: the
// follower records it (LogForkKey), every server learns of it, and every
// answer is then refused with client.ErrLogFork — neutral badges, never a
// branch of the log — until an operator clears it with ClearLogFork.
//
// Redis is trusted no more than a stranger's answer: any server writes
// to it, and so can whoever reaches it. A status read from it is checked
// before it is served (client.VerifyCached): its records and proofs
// against the registry's keys, its key against the product asked for, its
// version against the entry's. A Tiered store checks it once, as it
// enters memory, so a hit costs nothing more; a cache over Redis alone
// checks each read. One that fails is not served — the registry is asked
// instead — and is counted (Stats.Refused, TieredStats.Refused, the
// client's LogFailures), logged once per cause, and deleted from Redis,
// so that it does not stand in the way of the genuine answers after it.
// What the log cannot show is that a genuine status is the latest: that
// is the change feed's to say (see Apply), and a genuine older status put
// back under a position it never had is outside what a proof can refuse.
//
// # Conventions
//
// The package follows the client's conventions. Options are functions
// that may return an error: New, NewMemory and NewTiered return the first
// option's error, once, at start-up, and a value out of range (a bound or
// a cooldown that is not positive, an empty spill directory) is an error,
// never the default in its place. nil is the default: a nil clock is
// time.Now, a nil logger logs nothing. A clock is a func() time.Time, set
// where the store it times is built: WithClock is the cache's, and its
// own memory store's; WithMemoryClock is a memory store's, which a Tiered
// store in front of it reads too, so that the tiers of one server never
// disagree on the time.
//
// # Stats
//
// Stats is a snapshot of hits, misses, stale answers, refreshes, coalesced
// waits, calls to the API and errors — KeyRefused among them, the lookups
// that failed because the registry refuses the API key — cheap enough to
// read per request and easy to publish through expvar or Prometheus.
package cache
