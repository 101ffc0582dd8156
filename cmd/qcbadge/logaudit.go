package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
)

// The follower audits the registry's log (cache.Follow): it verifies each
// new checkpoint, proves it extends the last, compares it with the
// witnesses' (-log-witnesses), and publishes it to the fleet, cosigned
// with -log-cosign-key-file. qcbadge serves that checkpoint at
// {prefix}log/checkpoint, for other platforms to witness in turn, and a
// fork the follower found takes every replica out of readiness.

// witnessTimeout bounds one call to a witness: a witness that does not
// answer by then is left out of that audit, which must not wait on it.
const witnessTimeout = 5 * time.Second

// witnesses are the follower's witnesses at urls. Their calls are not the
// registry's, so they are neither timed with the registry's nor counted
// against its quota; a witness that redirects is not followed, as its URL
// is what the operator pinned.
func witnesses(urls []string) []cache.Witness {
	if len(urls) == 0 {
		return nil
	}
	hc := &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		Timeout:   witnessTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	ws := make([]cache.Witness, len(urls))
	for i, u := range urls {
		ws[i] = cache.HTTPWitness(u, hc)
	}
	return ws
}

// logKeysEvery is how often, at most, qcbadge asks the registry for its
// log keys again when the fleet's checkpoint does not verify with those
// it has (the registry rotated its key): the checkpoint route is public,
// and its callers do not choose the registry's load.
const logKeysEvery = checkEvery

// logKeys are the registry's log keys the fleet's checkpoint is verified
// with before it is served: pinned (-log-keys, or the embedded sandbox's),
// or read from the registry, and read again when one it signed with is not
// among them.
type logKeys struct {
	api    *client.Client
	pinned []client.LogKey // nil: the registry's

	mu      sync.Mutex
	keys    []client.LogKey
	fetched time.Time
}

// get returns the keys; again asks the registry afresh (unless pinned, or
// asked within logKeysEvery), for a checkpoint they did not verify.
func (k *logKeys) get(ctx context.Context, again bool) ([]client.LogKey, error) {
	if k.pinned != nil {
		return k.pinned, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil && (!again || time.Since(k.fetched) < logKeysEvery) {
		return k.keys, nil
	}
	keys, _, err := k.api.Log.Keys(ctx)
	if err != nil {
		if k.keys != nil {
			return k.keys, nil
		}
		return nil, err
	}
	k.keys, k.fetched = keys, time.Now()
	return keys, nil
}

// pinned reports whether the keys are the operator's, not the registry's.
func (k *logKeys) isPinned() bool { return k.pinned != nil }

// logCheckpoint serves the fleet's latest verified checkpoint of the
// registry's log: the registry's signed note, with this platform's
// cosignature when it has a key. What is served verified at once with
// the registry's keys: a store that holds something else is not passed
// on as this platform's word.
func (s *service) logCheckpoint(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	fl, err := s.readFleetLog(ctx)
	switch {
	case err != nil:
		writeProblem(rw, r, http.StatusServiceUnavailable, client.CodeUnavailable, "the verified checkpoint could not be read: "+errorLine(err))
		return
	case fl.Checkpoint == nil:
		writeProblem(rw, r, http.StatusServiceUnavailable, client.CodeUnavailable,
			"no checkpoint of the registry's log verified yet: the follower audits it when the change feed brings changes")
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// Short: a witness asks at each of its audits, and the next
	// checkpoint comes with the next change.
	h.Set("Cache-Control", "public, max-age=5")
	rw.Write(fl.Checkpoint.Note)
}

// readFleetLog reads what the follower published, verified with the
// registry's keys, read again once when it was signed with one not known.
func (s *service) readFleetLog(ctx context.Context) (cache.FleetLog, error) {
	keys, err := s.logKeys.get(ctx, false)
	if err != nil {
		return cache.FleetLog{}, fmt.Errorf("reading the registry's log keys: %w", err)
	}
	fl, err := cache.ReadFleetLog(ctx, s.followStore, keys, time.Now())
	if errors.Is(err, client.ErrCheckpointSignature) && !s.logKeys.isPinned() {
		if keys, err = s.logKeys.get(ctx, true); err != nil {
			return cache.FleetLog{}, err
		}
		fl, err = cache.ReadFleetLog(ctx, s.followStore, keys, time.Now())
	}
	return fl, err
}

// logCheck is /readyz's log check: not ready while the fleet holds a fork
// of the registry's log, which no replica's answers are trusted through.
func (s *service) logCheck() check {
	if s.qc.Stats().LogForked {
		return check{Reason: "forked: the registry's log showed two histories; every badge is the neutral one until an operator " +
			"has looked into it and cleared the fork (qcbadge clear-log-fork)"}
	}
	if n := s.m.followStats.LogSize.Load(); n > 0 {
		return check{OK: true, Reason: fmt.Sprintf("no fork; this replica verified the log up to %d changes", n)}
	}
	return check{OK: true, Reason: "no fork recorded"}
}

// clearLogFork is "qcbadge clear-log-fork": it removes the fork of the
// registry's log that the fleet's follower recorded in Redis, and tells
// every replica (cache.ClearLogFork). It takes the service's settings,
// of which it reads -redis (QC_REDIS_URL); it exits 0 once cleared (or
// when there was nothing to clear), 1 when Redis did not answer, and 2
// without Redis, where there is no fleet record to clear.
func clearLogFork(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "qcbadge clear-log-fork:", err)
		return 2
	}
	var rdb redis.UniversalClient
	switch {
	case cfg.cluster != nil:
		rdb = redis.NewClusterClient(cfg.cluster)
	case cfg.redis != nil:
		rdb = redis.NewClient(cfg.redis)
	default:
		fmt.Fprintln(stderr, "qcbadge clear-log-fork: no -redis (QC_REDIS_URL): without Redis a fork is held in a replica's memory, and restarting the replica clears it")
		return 2
	}
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithPrefix("qcbadge:"))
	if err != nil {
		fmt.Fprintln(stderr, "qcbadge clear-log-fork:", errorLine(err))
		return 1
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The fork is read with no key: it is reported, not trusted.
	fl, err := cache.ReadFleetLog(ctx, store, nil, time.Now())
	if fl.Fork == nil && err != nil && !errors.Is(err, client.ErrCheckpointSignature) {
		fmt.Fprintln(stderr, "qcbadge clear-log-fork: reading the fleet's record of the log:", errorLine(err))
		return 1
	}
	if err := cache.ClearLogFork(ctx, store); err != nil {
		fmt.Fprintln(stderr, "qcbadge clear-log-fork:", errorLine(err))
		return 1
	}
	if fl.Fork == nil {
		fmt.Fprintln(stdout, "qcbadge clear-log-fork: no fork of the registry's log was recorded; nothing changed")
		return 0
	}
	fmt.Fprintln(stdout, "qcbadge clear-log-fork: cleared the fork the follower recorded:", fl.Fork)
	fmt.Fprintln(stdout, "every replica trusts the registry's answers again; the follower records a fork again if the log still shows two histories")
	return 0
}
