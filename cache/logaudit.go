package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// The follower audits the registry's log (see client's log.go): it
// verifies each new signed checkpoint, checks that it extends the one
// verified before it (a consistency proof), compares it with what the
// platform's witnesses saw, and publishes the latest verified checkpoint
// to the fleet. A log that shows two histories — to this platform over
// time, or to this platform and a witness — is a fork: the follower
// raises the alarm (an error log, FollowStats.LogForks, FollowOptions.
// LogAlarm) and records it in the store, where every server of the fleet
// reads it (FleetLog). The audit runs when the feed brings changes, at
// most once every FollowOptions.LogEvery, and when the follower takes the
// lease: a quiet registry costs no call.

// Keys under which the follower keeps the audit in the store, beside the
// cursor: the latest checkpoint the fleet verified, and a fork it found.
const (
	LogCheckpointKey = "follow\x1flog"
	LogForkKey       = "follow\x1flogfork"
)

// defaultLogEvery is how often, at most, the follower audits the log
// while the feed brings changes.
const defaultLogEvery = 5 * time.Second

// logRetention is how long the fleet's checkpoint and a fork stay in the
// store without a new audit: far longer than any outage a fleet rides
// out, so that a restart never forgets a fork.
const logRetention = 30 * 24 * time.Hour

// A Witness is another party's view of the registry's log: another
// platform's follower, a regulator's witness. Checkpoint returns the
// latest checkpoint it verified, as a signed note carrying the
// registry's signature (and the witness's own, which is not checked
// here).
type Witness interface {
	Checkpoint(ctx context.Context) ([]byte, error)
}

// witnessFunc makes a function a Witness.
type witnessFunc func(ctx context.Context) ([]byte, error)

// Checkpoint calls f.
func (f witnessFunc) Checkpoint(ctx context.Context) ([]byte, error) { return f(ctx) }

// maxWitnessNote bounds a witness's answer: a checkpoint is a few
// hundred bytes, with a line per cosignature.
const maxWitnessNote = 16 << 10

// HTTPWitness is a Witness that GETs url — another platform's qcbadge
// /log/checkpoint, say — with hc (nil: http.DefaultClient).
func HTTPWitness(url string, hc *http.Client) Witness {
	if hc == nil {
		hc = http.DefaultClient
	}
	return witnessFunc(func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("qcsdk/cache: witness %s answered %s", url, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessNote+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxWitnessNote {
			return nil, fmt.Errorf("qcsdk/cache: witness %s answered more than %d bytes", url, maxWitnessNote)
		}
		return b, nil
	})
}

// FleetLog is what the fleet's follower published of the registry's log.
type FleetLog struct {
	// Checkpoint is the latest checkpoint the follower verified, nil
	// before the first audit; its Note is as published, with the
	// platform's cosignature when the follower has a Cosigner.
	Checkpoint *client.Checkpoint
	// Fork, when set, is the fork the follower found: the log showed two
	// histories, and no answer of it is to be trusted until an operator
	// has looked (ClearLogFork).
	Fork error
}

// logRecord is the JSON of the audit's entries.
type logRecord struct {
	Note  string `json:"note,omitempty"`
	Fork  string `json:"fork,omitempty"`
	Size  int64  `json:"size"`
	Found string `json:"found,omitempty"` // when the fork was found, RFC 3339
}

// fleetNote is the signed note of the fleet's verified checkpoint in
// store, nil when there is none.
func fleetNote(ctx context.Context, store Store) ([]byte, error) {
	e, err := store.Get(ctx, LogCheckpointKey)
	if err != nil || e == nil || e.Raw == nil {
		return nil, err
	}
	var r logRecord
	if err := json.Unmarshal(e.Raw, &r); err != nil || r.Note == "" {
		return nil, fmt.Errorf("qcsdk/cache: the fleet's log checkpoint record is unreadable")
	}
	return []byte(r.Note), nil
}

// ReadFleetLog reads what the follower published in store, and verifies
// the checkpoint against keys at now: a checkpoint that does not verify
// is an error, never a FleetLog.
func ReadFleetLog(ctx context.Context, store Store, keys []client.LogKey, now time.Time) (FleetLog, error) {
	var fl FleetLog
	if e, err := store.Get(ctx, LogForkKey); err != nil {
		return fl, err
	} else if e != nil && e.Raw != nil {
		var r logRecord
		if err := json.Unmarshal(e.Raw, &r); err != nil || r.Fork == "" {
			return fl, fmt.Errorf("qcsdk/cache: the fleet's log fork record is unreadable")
		}
		fl.Fork = fmt.Errorf("%w: %s", client.ErrLogFork, r.Fork)
	}
	signed, err := fleetNote(ctx, store)
	if err != nil || signed == nil {
		return fl, err
	}
	cp, err := client.VerifyCheckpoint(signed, "", keys, now)
	if err != nil {
		return fl, fmt.Errorf("qcsdk/cache: the fleet's log checkpoint: %w", err)
	}
	fl.Checkpoint = cp
	return fl, nil
}

// logAuditor is the follower's audit of the log. Its state outlives a
// lease: a follower that leads again goes on from what it verified, and
// from what the fleet verified while another led.
type logAuditor struct {
	api       *client.Client
	store     Store
	keys      []client.LogKey // pinned (FollowOptions.LogKeys), or fetched
	pinned    bool
	witnesses []Witness
	cosigner  note.Signer
	every     time.Duration
	clock     func() time.Time // the store's, for the entries' times
	now       func() time.Time // the real one, for keys and pacing
	logger    *slog.Logger
	alarm     func(error)
	stats     *FollowStats

	mu      sync.Mutex // one audit at a time
	last    *client.Checkpoint
	forked  bool
	lastRun time.Time
	running atomic.Bool // an audit runs, or waits for every to pass
	pending atomic.Bool // an audit was asked for since the last began
}

// newLogAuditor is the audit of a follower with opts, defaults applied.
func newLogAuditor(api *client.Client, store Store, o *FollowOptions) *logAuditor {
	return &logAuditor{api: api, store: store, keys: o.LogKeys, pinned: o.LogKeys != nil,
		witnesses: o.Witnesses, cosigner: o.Cosigner, every: o.LogEvery, clock: o.Clock, now: time.Now,
		logger: o.Logger, alarm: o.LogAlarm, stats: o.Stats}
}

// due asks for an audit: at once in the background when none ran within
// every, else when every has passed since the last one. An audit running
// or waiting takes the request with it: a change that comes while one
// runs is audited after it, never dropped, so that the fleet's checkpoint
// reaches the registry's last change even when the feed then goes quiet.
// Nothing waits when nothing was asked: a quiet feed holds no goroutine.
func (a *logAuditor) due(ctx context.Context, wg *sync.WaitGroup) {
	if a == nil || a.every < 0 {
		return
	}
	a.pending.Store(true)
	if !a.running.CompareAndSwap(false, true) {
		return // the audit running or waiting sees the request
	}
	wg.Go(func() { a.serve(ctx) })
}

// serve runs the audits asked for, each at least every after the last,
// until none is asked for; a.running is held meanwhile.
func (a *logAuditor) serve(ctx context.Context) {
	for {
		for a.pending.Swap(false) {
			a.mu.Lock()
			wait := a.every - a.now().Sub(a.lastRun)
			if a.lastRun.IsZero() {
				wait = 0
			}
			a.mu.Unlock()
			if wait > 0 && !backoff.Sleep(ctx, wait) {
				a.running.Store(false)
				return
			}
			a.audit(ctx)
		}
		a.running.Store(false)
		// A request that came after the last Swap and before the Store
		// found running still set: take it here.
		if !a.pending.Load() || !a.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// audit runs one audit; failures to reach the registry or a witness are
// logged and tried at the next one.
func (a *logAuditor) audit(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastRun = a.now()
	if a.forked {
		// Sticky until an operator clears it (ClearLogFork); then the
		// audit starts again from the registry's word.
		if e, err := a.store.Get(ctx, LogForkKey); err != nil || e != nil {
			return
		}
		a.forked, a.last = false, nil
	}
	err := a.check(ctx)
	switch {
	case err == nil:
		a.stats.LogAudits.Add(1)
	case errors.Is(err, errForkKnown):
	case errors.Is(err, client.ErrLogFork) || errors.Is(err, client.ErrLogBackwards):
		a.fork(ctx, err)
	case ctx.Err() != nil:
	default:
		a.stats.LogErrors.Add(1)
		if a.logger != nil && !keyRefused(err) { // the client logs a refused key itself, once
			a.logger.Warn("qcsdk/cache: the audit of the registry's log failed; trying again later", "error", err)
		}
	}
}

// check verifies the registry's latest checkpoint, proves it extends the
// last one verified, compares the witnesses', and publishes it.
func (a *logAuditor) check(ctx context.Context) error {
	if a.keys == nil && !a.pinned {
		if err := a.refreshKeys(ctx); err != nil {
			return err
		}
	}
	if a.last == nil {
		// What the fleet verified while another follower led.
		if fl, err := ReadFleetLog(ctx, a.store, a.keys, a.now()); err == nil {
			if fl.Fork != nil {
				a.forked = true
				return errForkKnown
			}
			a.last = fl.Checkpoint
		}
	}
	cp, err := a.fetch(ctx, func(ctx context.Context) ([]byte, error) {
		b, _, err := a.api.Log.Checkpoint(ctx)
		return b, err
	})
	if err != nil {
		return err
	}
	if a.last != nil {
		if err := a.consistent(ctx, a.last, cp); err != nil {
			return fmt.Errorf("the registry's checkpoint of %d changes against the one of %d verified before: %w", cp.Size, a.last.Size, err)
		}
	}
	for i, w := range a.witnesses {
		wcp, err := a.fetch(ctx, w.Checkpoint)
		if err != nil {
			if errors.Is(err, client.ErrCheckpointSignature) || errors.Is(err, client.ErrMalformedCheckpoint) {
				// A witness's word is not the registry's: a bad answer
				// of it is its problem, not a fork.
				a.stats.LogErrors.Add(1)
			}
			if a.logger != nil {
				a.logger.Warn("qcsdk/cache: a witness of the registry's log did not answer with a checkpoint", "witness", i, "error", err)
			}
			continue
		}
		older, newer := wcp, cp
		if older.Size > newer.Size {
			older, newer = newer, older
		}
		if err := a.consistent(ctx, older, newer); err != nil && !errors.Is(err, errNotProven) {
			return fmt.Errorf("witness %d's checkpoint of %d changes against the registry's of %d: %w", i, wcp.Size, cp.Size, err)
		}
	}
	if a.last != nil && cp.Size <= a.last.Size {
		return nil // nothing new to publish
	}
	return a.publish(ctx, cp)
}

// errForkKnown: the fleet holds a fork another follower found.
var errForkKnown = errors.New("qcsdk/cache: the fleet's follower found the log forked")

// errNotProven: the registry did not answer for a proof; try later.
var errNotProven = errors.New("qcsdk/cache: no consistency proof from the registry")

// consistent proves that newer extends older, asking the registry for
// the proof. A newer checkpoint smaller than older is ErrLogBackwards —
// unless it is a prefix of it (a stale copy on the way), which is proven
// the other way round and ignored.
func (a *logAuditor) consistent(ctx context.Context, older, newer *client.Checkpoint) error {
	if newer.Size < older.Size {
		if err := a.consistent(ctx, newer, older); err != nil {
			if errors.Is(err, errNotProven) {
				return err
			}
			return fmt.Errorf("%w (%v)", client.ErrLogBackwards, err)
		}
		return nil
	}
	var proof client.ConsistencyProof
	if older.Size > 0 && newer.Size > older.Size {
		p, _, err := a.api.Log.Consistency(ctx, older.Size, newer.Size)
		if err != nil {
			return fmt.Errorf("%w: %w", errNotProven, err)
		}
		proof = *p
	} else {
		proof = client.ConsistencyProof{From: older.Size, To: newer.Size}
	}
	return client.VerifyConsistency(older, newer, proof)
}

// fetch reads a signed checkpoint and verifies its registry signature.
// A checkpoint signed by a key the client does not know sends for the
// registry's keys again, once, unless they are pinned.
func (a *logAuditor) fetch(ctx context.Context, get func(context.Context) ([]byte, error)) (*client.Checkpoint, error) {
	b, err := get(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := client.VerifyCheckpoint(b, "", a.keys, a.now())
	if errors.Is(err, client.ErrCheckpointSignature) && !a.pinned {
		if kerr := a.refreshKeys(ctx); kerr != nil {
			return nil, kerr
		}
		cp, err = client.VerifyCheckpoint(b, "", a.keys, a.now())
	}
	return cp, err
}

func (a *logAuditor) refreshKeys(ctx context.Context) error {
	keys, _, err := a.api.Log.Keys(ctx)
	if err != nil {
		return fmt.Errorf("qcsdk/cache: reading the registry's log keys: %w", err)
	}
	a.keys = keys
	return nil
}

// publish stores cp as the fleet's verified checkpoint, cosigned when the
// follower has a Cosigner. The store keeps the larger tree (the entry's
// version is its size), so followers that overlap never move it back.
func (a *logAuditor) publish(ctx context.Context, cp *client.Checkpoint) error {
	signed := cp.Note
	if a.cosigner != nil {
		n, err := note.Open(cp.Note, note.VerifierList(keyVerifiers(a.keys)...))
		if err != nil {
			return fmt.Errorf("qcsdk/cache: reopening the checkpoint to cosign it: %w", err)
		}
		if signed, err = note.Sign(n, a.cosigner); err != nil {
			return fmt.Errorf("qcsdk/cache: cosigning the checkpoint: %w", err)
		}
	}
	raw, err := json.Marshal(logRecord{Note: string(signed), Size: cp.Size})
	if err != nil {
		return err
	}
	now := a.clock()
	e := &Entry{Raw: raw, AsOf: cp.Size, Version: cp.Size, Fetched: now, FreshUntil: now.Add(logRetention), Expires: now.Add(logRetention)}
	if _, err := a.store.Set(ctx, LogCheckpointKey, e); err != nil {
		return fmt.Errorf("qcsdk/cache: publishing the verified checkpoint: %w", err)
	}
	if n, ok := a.store.(Notifier); ok {
		_ = n.Publish(ctx, LogCheckpointKey) // each server's client takes it (see Cache)
	}
	c := *cp
	c.Note = signed
	a.last = &c
	a.stats.LogSize.Store(cp.Size)
	return nil
}

// keyVerifiers are the note verifiers of keys, the ones that do not
// parse left out (VerifyCheckpoint has judged them already).
func keyVerifiers(keys []client.LogKey) []note.Verifier {
	var vs []note.Verifier
	for _, k := range keys {
		if v, err := note.NewVerifier(k.Key); err == nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// fork raises the alarm once and records it for the fleet.
func (a *logAuditor) fork(ctx context.Context, cause error) {
	a.forked = true
	a.stats.LogForks.Add(1)
	if a.logger != nil && a.alarm == nil { // a LogAlarm says it its own way
		a.logger.Error("qcsdk/cache: the registry's log shows two histories; its answers are not trusted until an operator clears "+
			"the fork (cache.ClearLogFork)", "error", cause)
	}
	if a.alarm != nil {
		a.alarm(cause)
	}
	now := a.clock()
	raw, err := json.Marshal(logRecord{Fork: cause.Error(), Found: now.UTC().Format(time.RFC3339)})
	if err != nil {
		return
	}
	e := &Entry{Raw: raw, Fetched: now, FreshUntil: now.Add(logRetention), Expires: now.Add(logRetention)}
	if _, err := a.store.Set(ctx, LogForkKey, e); err != nil {
		if a.logger != nil {
			a.logger.Error("qcsdk/cache: could not record the log's fork for the fleet", "error", err)
		}
		return
	}
	if n, ok := a.store.(Notifier); ok {
		_ = n.Publish(ctx, LogForkKey) // every server reads it at once
	}
}

// ClearLogFork is the operator's answer to a fork, once it has been
// looked into (the registry explained it, or its key was replaced): it
// removes the fork from store and tells every server, whose caches trust
// the registry's answers again.
func ClearLogFork(ctx context.Context, store Store) error {
	if err := store.Delete(ctx, LogForkKey); err != nil {
		return err
	}
	if n, ok := store.(Notifier); ok {
		return n.Publish(ctx, LogForkKey)
	}
	return nil
}
