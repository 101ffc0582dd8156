// Package watch is the change-driven half of the audit: it keeps a
// platform's catalogue in an embedded database and, for each change the
// registry publishes, re-decides the listings the change touches and
// writes their findings — without auditing the whole catalogue again.
//
//	idx, err := watch.OpenIndex("catalogue.db")
//	_, err = idx.Sync(ctx, audit.ReadCSV(f, nil))   // the audit's own input; again with each new export
//	err = idx.SaveCursor(ctx, head)                 // a new index: Changes.Head, read before Run learns
//	w, err := watch.New(api, idx, watch.WithOnFinding(flag))
//	err = w.Run(ctx, nil)                           // learn the makers not known yet, then follow the feed
//
// # Options
//
// The package follows the SDK's conventions. New, a constructor, takes
// functional options ([Option]) that can fail: a value out of
// range is an error from New, once, at start-up, and a nil option, clock,
// logger or finding function is the default (skipped, time.Now, silent,
// findings dropped). What tunes one call is that call's struct, passed by
// pointer, nil for the defaults: Run takes the feed's
// *client.FollowOptions, as cache.Follow does.
//
// # The index
//
// [Index] is an SQLite file (modernc.org/sqlite: pure Go, no cgo). It
// holds each listing — id, seller, title, GTIN, USCC, brand, model, line —
// indexed by GTIN (which also answers a GTIN prefix, as a range of the
// index), and by USCC, brand and model (which answers by USCC and by USCC
// and brand). [Index.Sync] brings it to a new export of the catalogue —
// adds, updates, removes — in transactions of a few thousand rows, without
// asking the registry about listings that did not change; [Index.Load]
// only adds and updates; [Index.Put] and [Index.Delete] keep it current
// one listing at a time.
//
// The index also keeps what the registry has said, for mapping later
// events: for each product key looked up, its maker's enterprise id, the
// product's brand and model, and the commitment it was decided by; each
// maker's USCC; each maker's GTIN prefixes, from its commitments' scopes.
// A key with no lookup recorded is one whose maker is not known yet:
// [Watcher.Learn] looks those up, 100 to a transaction, and Run calls it
// before it follows the feed, so that a start killed part way, or a sync
// that added listings, leaves nothing to miss. [Watcher.Recheck] re-decides
// every key. Each event handled learns again for the keys it touches, and
// what the event itself says of its maker is committed in one transaction
// with the feed position after it, once its findings are all given: a
// kill at any point leaves the position before the event, and the event
// is handled again.
//
// # Which listings an event touches
//
// An event names a record, not products, so the watcher maps it to the
// product keys it may decide. The rules are wide rather than narrow: a
// listing re-decided needlessly costs a lookup and gives its finding
// again, one missed keeps a wrong finding.
//
//   - A commitment (published, updated, revoked) of enterprise E: the
//     USCC-keyed listings of E's USCC whose brand and model its scope
//     covers (Scope.Covers); the GTIN-keyed listings whose GTIN starts with
//     one of its gtin_prefixes (matched, as Scope.Covers does, against the
//     13-digit form of a GTIN whose indicator digit is 0); and every key
//     learnt to be E's whose product the scope covers by GTIN, brand or
//     model, or that was last decided by this commitment (so that a scope
//     that shrank still reaches the keys it left).
//   - An enterprise (updated, delisted): every USCC-keyed listing of its
//     USCC, every GTIN-keyed listing under one of its learnt GTIN
//     prefixes, and every key learnt to be its.
//   - An inspection (published, updated): the listings of the GTIN it
//     names; the USCC-keyed listings of its maker's USCC with its brand and
//     either its model or no model (a brand-wide key); and every key learnt
//     to be that maker's product of that brand and model.
//   - A case or a category: none. Verdicts rest on makers, commitments and
//     inspections only.
//
// A commitment or inspection names its maker by enterprise id; its USCC
// is the one learnt, or else asked of the registry once (at
// client.PriorityLow) and learnt. A GTIN-keyed listing is found through
// its maker only once its key has been looked up (Learn, Recheck, or an
// earlier event): a GTIN does not name its maker, the registry's answer
// does. Until then only a GTIN prefix or an inspection's GTIN reaches it.
//
// # Decisions
//
// The touched keys are looked up 100 to a call (client.MaxBatchKeys) at
// client.PriorityLow and decided with client.Decide, word for word as the
// audit decides them, and every listing of each key gets its
// [audit.Finding] through the function given to [WithOnFinding] —
// committed ones included, so
// that a flag raised before can be cleared. A finding names the change
// behind it (audit.Cause: the event's id, its seq in the registry's change
// sequence, its type and time) and when it was decided.
//
// # Following the feed
//
// [Watcher.Run] follows the change feed for a single process, saving the
// cursor in the index after each event is handled: a restart resumes after
// the last event handled, none lost. Run refuses an index whose Sync did
// not finish ([ErrSyncUnfinished]). An event Handle fails on is tried
// again; the cursor does not move past it. When the feed rejects the
// cursor, Run re-decides every listing and follows on from the head.
//
// # In a fleet
//
// Several replicas share one follower through the cache's lease
// (cache.Follow over a cache.Leaser store such as Redis): give
// [Watcher.Handle] to cache.FollowOptions.Handle, and only the replica
// holding the lease runs it, after each event is applied to the cache and
// before its cursor is saved:
//
//	cache.Follow(ctx, api, store, &cache.FollowOptions{
//		Handle:   w.Handle,
//		Resynced: func(error) { w.Recheck(ctx) },
//	})
//
// A Handle that fails is retried, and the cursor waits for it; an event
// being handled when the lease holder died is handed to the next holder,
// which handles it again (Handle is idempotent: it re-decides and gives
// the findings again). Each replica needs its own index, synced from the
// same catalogue, and calls [Watcher.Learn] before it follows.
package watch
