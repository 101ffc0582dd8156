package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
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
			"has looked into it and cleared the fork (cache.ClearLogFork)"}
	}
	if n := s.m.followStats.LogSize.Load(); n > 0 {
		return check{OK: true, Reason: fmt.Sprintf("no fork; this replica verified the log up to %d changes", n)}
	}
	return check{OK: true, Reason: "no fork recorded"}
}
