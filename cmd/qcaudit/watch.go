package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
)

// runWatch is the change-driven audit: the catalogue's index in the SQLite
// file cfg.watch (built, or brought up to date, from the input when one is
// named), and a finding on stdout, as a JSON line, for every listing each
// registry change touches, until ctx ends. With -redis the replicas share
// one follower by the cache's lease, and the one holding it runs the
// watcher. It returns the exit status: 0 once stopped, 2 when it could not
// watch.
func runWatch(ctx context.Context, cfg *config, api *client.Client, listings iter.Seq2[audit.Listing, error], stdout, stderr io.Writer) int {
	idx, err := watch.OpenIndex(cfg.watch)
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", err)
		return exitFailed
	}
	defer idx.Close()
	if listings != nil {
		sum, err := idx.Sync(ctx, listings)
		var he *audit.HeaderError
		if errors.As(err, &he) {
			fmt.Fprintln(stderr, headerMessage(he))
			return exitFailed
		}
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit: -watch: indexing the catalogue:", safeText(err.Error()))
			return exitFailed
		}
		fmt.Fprintf(stderr, "qcaudit: synced %s with the catalogue: %d listings added, %d updated, %d removed, %d unchanged (%d malformed rows skipped)\n",
			quoteText(cfg.watch), sum.Added, sum.Updated, sum.Removed, sum.Unchanged, sum.Malformed)
	}
	if pending, err := idx.SyncPending(ctx); err != nil || pending {
		fmt.Fprintf(stderr, "qcaudit: -watch: %s holds a catalogue half synced: name the catalogue again (-catalogue FILE) to finish\n", quoteText(cfg.watch))
		return exitFailed
	}
	if n, err := idx.Len(ctx); err != nil || n == 0 {
		fmt.Fprintf(stderr, "qcaudit: -watch: %s holds no listing: name a catalogue to index it (-catalogue FILE)\n", quoteText(cfg.watch))
		return exitFailed
	}

	// Findings go out one line each, flushed at once: a platform's job
	// reads them as they come.
	var mu sync.Mutex
	out := audit.NewJSONLinesWriter(stdout)
	var quiet atomic.Bool
	w, err := watch.New(api, idx,
		watch.WithOnFinding(func(f audit.Finding) {
			if quiet.Load() {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if out.Write(f) == nil {
				out.Flush()
			}
		}),
		watch.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", err)
		return exitFailed
	}
	// After the feed rejected the cursor, every listing is re-decided
	// quietly: what changed while the watcher was away is the full
	// audit's to report.
	recheck := func() error {
		quiet.Store(true)
		defer quiet.Store(false)
		return w.Recheck(ctx)
	}
	// Learn the maker of each key not learnt yet: every key of a new
	// index, the new ones after a sync. It gives no finding, and what it
	// learnt is committed as it goes: a start killed part way loses
	// nothing, and the next start carries on.
	learn := func() error {
		sum, err := w.Learn(ctx)
		if err == nil && sum.Keys+sum.Failed > 0 {
			fmt.Fprintf(stderr, "qcaudit: learnt the makers of %d products (%d lookups; %d without an answer, asked again at the next start)\n",
				sum.Keys, sum.Calls, sum.Failed)
		}
		return err
	}

	if cfg.redisURL != "" {
		return watchFleet(ctx, cfg, api, w, learn, recheck, stderr)
	}
	cursor, err := idx.Cursor(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", err)
		return exitFailed
	}
	// A new index follows the feed from the head as it is before its
	// makers are learnt, so that no change made meanwhile is missed.
	if cursor == "" {
		head, err := api.Changes.Head(ctx)
		if err == nil {
			err = idx.SaveCursor(ctx, head)
		}
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit: -watch: starting:", safeText(err.Error()))
			return exitFailed
		}
	}
	if err := learn(); err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch: starting:", safeText(err.Error()))
		return exitFailed
	}
	fmt.Fprintln(stderr, "qcaudit: watching the registry's changes; a finding for each listing they touch, as JSON lines on stdout")
	if err := w.Run(ctx, nil); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", safeText(err.Error()))
		return exitFailed
	}
	return exitClean
}

// watchFleet runs the watcher under the fleet's follower lease in Redis:
// whichever replica holds it handles each change, before the change's
// cursor is saved.
func watchFleet(ctx context.Context, cfg *config, api *client.Client, w *watch.Watcher, learn, recheck func() error, stderr io.Writer) int {
	opts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit: -redis: not a redis:// URL")
		return exitFailed
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcaudit:"))
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", safeText(err.Error()))
		return exitFailed
	}
	defer shared.Close()
	if err := learn(); err != nil {
		fmt.Fprintln(stderr, "qcaudit: -watch: starting:", safeText(err.Error()))
		return exitFailed
	}
	fmt.Fprintln(stderr, "qcaudit: watching the registry's changes with the fleet (one replica at a time, by the lease in Redis); findings as JSON lines on stdout")
	err = cache.Follow(ctx, api, shared, &cache.FollowOptions{
		Handle:   w.Handle,
		Resynced: func(error) { recheck() },
		Leading: func(on bool) {
			fmt.Fprintf(stderr, "qcaudit: this replica leads the watch: %v\n", on)
		},
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "qcaudit: -watch:", safeText(err.Error()))
		return exitFailed
	}
	return exitClean
}
