package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A product status is verified against the registry's log before the
// ProductsService returns it: every answer carries, for each record the
// status is made of, an inclusion proof to a signed checkpoint, and the
// client recomputes each record's leaf from the record itself. So a
// status rewritten anywhere between the registry and the caller (a proxy,
// a CDN, a compromised mirror) is refused, not shown.
//
// What the log proves, and what it does not: each record shown is one the
// registry published at that version, in the one history every reader is
// shown (the consistency proofs). It does not prove the record is the
// latest version, nor that a record was left out (a status turned into
// "not listed", a failed inspection dropped): the log is a list of
// changes, not a map. Freshness is the change feed's and as_of's to say.

// VerifyError is the error for a product status that does not verify
// against the registry's log: its records, proofs or checkpoint are not
// what the registry signed, or its checkpoint shows a history the client
// has already seen otherwise. Err wraps one of ErrCheckpointSignature,
// ErrMalformedCheckpoint, ErrLogProof, ErrLogFork and ErrLogBackwards,
// so errors.Is tells the causes apart.
type VerifyError struct {
	// Key is the canonical key of the product whose status was refused.
	Key ProductKey
	Err error
}

// Error names the product by its GTIN or its maker's USCC, never the
// brand or model, which may be anything a page was given.
func (e *VerifyError) Error() string {
	name := "GTIN " + string(e.Key.GTIN)
	if e.Key.GTIN == "" {
		name = "USCC " + string(e.Key.USCC)
	}
	return fmt.Sprintf("qcsdk: the status of the product with %s does not verify against the registry's log: %v", name, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// statusRecord is one record a status is made of.
type statusRecord struct {
	kind, id string
	version  int64
	rec      any // *Enterprise, *Commitment or *Inspection
}

// statusRecords lists the records of st in the order its proof names
// them: the enterprise, the commitment, the inspections.
func statusRecords(st *ProductStatus) []statusRecord {
	n := len(st.Inspections)
	if st.Enterprise != nil {
		n++
	}
	if st.Commitment != nil {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]statusRecord, 0, n)
	if e := st.Enterprise; e != nil {
		out = append(out, statusRecord{"enterprise", e.ID, e.Version, e})
	}
	if c := st.Commitment; c != nil {
		out = append(out, statusRecord{"commitment", c.ID, c.Version, c})
	}
	for i := range st.Inspections {
		in := &st.Inspections[i]
		out = append(out, statusRecord{"inspection", in.ID, in.Version, in})
	}
	return out
}

// event is the change that made r at its version, as the log holds it.
func (r statusRecord) event() Event {
	ev := Event{Seq: r.version}
	switch rec := r.rec.(type) {
	case *Enterprise:
		ev.Enterprise = rec
	case *Commitment:
		ev.Commitment = rec
	case *Inspection:
		ev.Inspection = rec
	}
	return ev
}

// VerifyStatus checks a product status offline, as a cache re-reading it,
// a badge's reader or a command would: its proof's checkpoint must be
// signed by one of keys in force at now, and each record of the status
// must be the leaf its proof places in the checkpoint's tree. A status
// made of no record (a product not listed) has nothing to prove and
// passes. The error is a *VerifyError.
//
// It does not check the checkpoint against one verified before: a reader
// who keeps its latest checkpoint checks that with VerifyConsistency.
func VerifyStatus(st *ProductStatus, keys []LogKey, now time.Time) error {
	if st == nil {
		return &VerifyError{Err: fmt.Errorf("%w: no status", ErrLogProof)}
	}
	recs := statusRecords(st)
	if len(recs) == 0 {
		return nil
	}
	if st.Proof == nil || st.Proof.Checkpoint == "" {
		return &VerifyError{Key: st.Key, Err: fmt.Errorf("%w: the status carries no checkpoint", ErrLogProof)}
	}
	cp, err := VerifyCheckpoint([]byte(st.Proof.Checkpoint), "", keys, now)
	if err != nil {
		return &VerifyError{Key: st.Key, Err: err}
	}
	if err := verifyRecords(st, recs, cp, nil); err != nil {
		return &VerifyError{Key: st.Key, Err: err}
	}
	return nil
}

// verifiedRecords are the records one answer's statuses share, verified
// once: a maker's enterprise record is in every status of its products.
type verifiedRecords struct {
	m      map[recordPos]verifiedRecord
	leaves int // leaves computed, for tests
}

type recordPos struct {
	kind, id string
	seq      int64
}

type verifiedRecord struct {
	rec   any
	proof []LogHash
}

// verifyRecords checks that st's records are those its proof names, each
// the leaf of the checkpoint's tree its proof shows, and that the
// status's own fields agree with them. seen, if not nil, holds records
// already verified against cp: an equal record with an equal proof is
// not verified again.
func verifyRecords(st *ProductStatus, recs []statusRecord, cp *Checkpoint, seen *verifiedRecords) error {
	p := st.Proof
	if p == nil {
		return fmt.Errorf("%w: the status carries no proof", ErrLogProof)
	}
	if len(p.Records) != len(recs) {
		return fmt.Errorf("%w: the proof names %d records, the status holds %d", ErrLogProof, len(p.Records), len(recs))
	}
	if err := checkStatusFields(st, recs); err != nil {
		return err
	}
	for i, r := range recs {
		rp := p.Records[i]
		if rp.Kind != r.kind || rp.ID != r.id || rp.Seq != r.version {
			return fmt.Errorf("%w: record %d is %s %q at version %d, its proof names %s %q at %d",
				ErrLogProof, i, r.kind, shorten(r.id), r.version, shorten(rp.Kind), shorten(rp.ID), rp.Seq)
		}
		pos := recordPos{r.kind, r.id, r.version}
		if seen != nil {
			if v, ok := seen.m[pos]; ok && slices.Equal(v.proof, rp.Proof) && sameRecord(v.rec, r.rec) {
				// Equal values encode alike: the leaf is the one verified.
				continue
			}
		}
		var lbuf [256]byte // a leaf is some 150 bytes: no garbage per record
		leaf, err := appendLogLeaf(lbuf[:0], r.event())
		if err != nil {
			return fmt.Errorf("%w: %v", ErrLogProof, err)
		}
		if seen != nil {
			seen.leaves++
		}
		if err := VerifyInclusion(cp, r.version-1, leaf, InclusionProof{Index: r.version - 1, Size: cp.Size, Proof: rp.Proof}); err != nil {
			return fmt.Errorf("%s %q: %w", r.kind, shorten(r.id), err)
		}
		if seen != nil {
			if seen.m == nil {
				seen.m = map[recordPos]verifiedRecord{}
			}
			seen.m[pos] = verifiedRecord{r.rec, rp.Proof}
		}
	}
	return nil
}

// sameRecord reports whether a and b, records a status is made of, are
// equal field for field, so that they encode alike and have one leaf. A
// page's statuses share their maker's records, and reflect.DeepEqual,
// which this replaces, cost a page nearly as much as its leaves. It is
// no looser than what encodes alike: a nil list is not an empty one, and
// times are the same instant at the same offset (the zone's name and
// pointer, which JSON does not carry, may differ). TestSameRecord fails
// when a record gains a field this does not compare.
func sameRecord(a, b any) bool {
	switch a := a.(type) {
	case *Enterprise:
		b, ok := b.(*Enterprise)
		return ok && (a == b || a.ID == b.ID && a.USCC == b.USCC && a.Name == b.Name &&
			a.RegionCode == b.RegionCode && a.Region == b.Region && sameList(a.Categories, b.Categories) &&
			sameTime(a.ListedAt, b.ListedAt) && a.Version == b.Version &&
			sameTime(a.UpdatedAt, b.UpdatedAt) && a.VerifyURL == b.VerifyURL)
	case *Commitment:
		b, ok := b.(*Commitment)
		return ok && (a == b || a.ID == b.ID && a.EnterpriseID == b.EnterpriseID && a.Category == b.Category &&
			sameList(a.Scope.Brands, b.Scope.Brands) && sameList(a.Scope.Models, b.Scope.Models) &&
			sameList(a.Scope.GTINPrefixes, b.Scope.GTINPrefixes) && sameList(a.Items, b.Items) &&
			sameTime(a.EffectiveAt, b.EffectiveAt) && sameTime(a.ExpiresAt, b.ExpiresAt) &&
			a.Status == b.Status && sameTime(a.StatusChangedAt, b.StatusChangedAt) &&
			samePtr(a.StatusReason, b.StatusReason) && a.Version == b.Version &&
			sameTime(a.UpdatedAt, b.UpdatedAt) && a.VerifyURL == b.VerifyURL)
	case *Inspection:
		b, ok := b.(*Inspection)
		return ok && (a == b || a.ID == b.ID && a.EnterpriseID == b.EnterpriseID && a.Category == b.Category &&
			a.Product == b.Product && a.Authority == b.Authority && sameTime(a.SampledAt, b.SampledAt) &&
			sameTime(a.PublishedAt, b.PublishedAt) && a.Result == b.Result &&
			sameList(a.FailedItems, b.FailedItems) && a.ReportNo == b.ReportNo &&
			sameRectification(a.Rectification, b.Rectification) && a.Version == b.Version &&
			sameTime(a.UpdatedAt, b.UpdatedAt) && a.VerifyURL == b.VerifyURL)
	}
	return false
}

func sameRectification(a, b *Rectification) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && sameTime(a.Deadline, b.Deadline) &&
		(a.CompletedAt == nil) == (b.CompletedAt == nil) &&
		(a.CompletedAt == nil || sameTime(*a.CompletedAt, *b.CompletedAt)) && samePtr(a.Note, b.Note)
}

// sameList tells a nil list from an empty one, as JSON does (null, []).
func sameList[E comparable](a, b []E) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

func samePtr[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// sameTime: the same instant at the same offset from UTC, which is what
// a time's JSON says.
func sameTime(a, b time.Time) bool {
	if a == b {
		return true
	}
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}

// checkStatusFields checks what a status says of its records against
// them: its version and time are theirs, its link is one of theirs, and
// its commitment and inspections are its maker's. Each record verifies on
// its own; these keep genuine records from being put together into a
// status the registry never gave — another maker's active commitment on a
// product whose own was revoked, or a version no change reached, which a
// cache would take for the newest.
func checkStatusFields(st *ProductStatus, recs []statusRecord) error {
	var (
		version int64
		updated time.Time
		linked  = st.VerifyURL == "" // or one of the records' links
	)
	for _, r := range recs {
		version = max(version, r.version)
		var (
			at   time.Time
			link string
		)
		switch rec := r.rec.(type) {
		case *Enterprise:
			at, link = rec.UpdatedAt, rec.VerifyURL
		case *Commitment:
			at, link = rec.UpdatedAt, rec.VerifyURL
		case *Inspection:
			at, link = rec.UpdatedAt, rec.VerifyURL
		}
		if at.After(updated) {
			updated = at
		}
		linked = linked || link == st.VerifyURL
	}
	if st.Version != version || !st.UpdatedAt.Equal(updated) {
		return fmt.Errorf("%w: the status says version %d of %s, its records %d of %s",
			ErrLogProof, st.Version, st.UpdatedAt.Format(time.RFC3339), version, updated.Format(time.RFC3339))
	}
	if !linked {
		return fmt.Errorf("%w: the status's verify_url is none of its records'", ErrLogProof)
	}
	if st.Enterprise == nil {
		if st.Commitment != nil || len(st.Inspections) > 0 {
			return fmt.Errorf("%w: a commitment or inspection without its maker", ErrLogProof)
		}
		return nil
	}
	ent := st.Enterprise.ID
	if c := st.Commitment; c != nil && c.EnterpriseID != ent {
		return fmt.Errorf("%w: commitment %q is not maker %q's", ErrLogProof, shorten(c.ID), shorten(ent))
	}
	for i := range st.Inspections {
		in := &st.Inspections[i]
		if in.EnterpriseID != ent {
			return fmt.Errorf("%w: inspection %q is not maker %q's", ErrLogProof, shorten(in.ID), shorten(ent))
		}
		if st.Key.GTIN != "" && in.Product.GTIN != "" && in.Product.GTIN != st.Key.GTIN {
			return fmt.Errorf("%w: inspection %q sampled another product", ErrLogProof, shorten(in.ID))
		}
	}
	return nil
}

// WithLogKeys pins the keys that sign the registry's log: the client
// verifies every product status against checkpoints these keys signed,
// and never asks the registry for its keys. This is the strong mode: a
// party that can answer for the registry (a proxy holding a trusted TLS
// certificate, say) still cannot forge a status. Give every key the
// registry lists at /v1/keys, with its dates; after the registry rotates
// its key, the client needs the new one.
//
// Without this option the client fetches /v1/keys the first time it has
// a status to verify, and again, at most once a minute, when a checkpoint
// does not verify with the keys it holds (the registry rotated its key).
// The keys are then as trustworthy as the TLS connection that brought
// them: a status rewritten on its way is still refused, but whoever can
// impersonate the registry can also hand out keys.
//
// No key at all is the default, keys fetched from the registry, and New
// logs a warning saying so: an empty key file must not pass unnoticed.
func WithLogKeys(keys ...LogKey) Option {
	return func(c *Client) error {
		if len(keys) == 0 {
			c.trust.pinned, c.trust.noKeys = false, true
			c.trust.keys.Store(nil)
			return nil
		}
		c.trust.noKeys = false
		for _, k := range keys {
			if _, err := note.NewVerifier(k.Key); err != nil {
				return fmt.Errorf("WithLogKeys: %q is not a note verifier key: %v", shorten(k.Key), err)
			}
		}
		c.trust.pinned = true
		pinned := slices.Clone(keys)
		c.trust.keys.Store(&pinned)
		return nil
	}
}

// Limits of the verification's state.
const (
	// keyRefreshInterval is the least time between two fetches of /v1/keys
	// caused by checkpoints that did not verify.
	keyRefreshInterval = time.Minute
	// maxVerifiedNotes bounds the cache of verified checkpoints. An
	// answer's checkpoint is nearly always the latest one or two; but the
	// statuses a fleet's Redis holds were answered over hours, each under
	// its own, and a server reading them back (VerifyCached) must not
	// check a signature per status. A few hundred notes of ~300 bytes.
	maxVerifiedNotes = 512
)

// Causes of a refused status, in ClientStats.LogFailures.
const (
	causeSignature = iota
	causeMalformed
	causeProof
	causeFork
	causeBackwards
	numCauses
)

// logTrust is what the client holds of the registry's log: its keys, the
// checkpoints whose signatures verified, and the latest checkpoint it
// verified, which every later one must extend.
type logTrust struct {
	pinned bool
	noKeys bool                     // WithLogKeys was given no key: New warns
	keys   atomic.Pointer[[]LogKey] // nil until fetched
	// keyGen counts the key sets fetched: a checkpoint verified under an
	// older set is checked again.
	keyGen atomic.Uint64
	// fetch admits one fetch of /v1/keys at a time; refreshedAt, guarded
	// by it, is when the latest fetch after the first began.
	fetch       chan struct{}
	refreshedAt time.Time

	mu    sync.Mutex
	notes map[string]verifiedNote
	order []string // of notes, oldest first

	// latest is the newest checkpoint verified, nil before the first: it
	// only moves forward, each step to a checkpoint proven to extend it.
	latest atomic.Pointer[Checkpoint]
	// history holds the roots of the checkpoints latest has been, by
	// size (the most recent maxVerifiedNotes; guarded by mu), so that a
	// status read back from a shared store under a checkpoint of one of
	// those sizes but another root is caught as the fork it is.
	history      map[int64]tlog.Hash
	historyOrder []int64

	failures [numCauses]atomic.Int64
	logged   [numCauses]atomic.Bool

	// What verifying cost, for tests: signatures checked, leaves made.
	sigChecks, leaves atomic.Int64
}

// advance moves latest from old to cp, and reports whether it did;
// the step's root is kept in history.
func (t *logTrust) advance(old, cp *Checkpoint) bool {
	if !t.latest.CompareAndSwap(old, cp) {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.history == nil {
		t.history = make(map[int64]tlog.Hash)
	}
	if _, ok := t.history[cp.Size]; !ok {
		if len(t.historyOrder) >= maxVerifiedNotes {
			delete(t.history, t.historyOrder[0])
			t.historyOrder = slices.Delete(t.historyOrder, 0, 1)
		}
		t.historyOrder = append(t.historyOrder, cp.Size)
	}
	t.history[cp.Size] = cp.Root
	return true
}

// forks reports whether cp contradicts the history verified: a
// checkpoint of a size latest has been, with another root.
func (t *logTrust) forks(cp *Checkpoint) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	root, ok := t.history[cp.Size]
	return ok && root != cp.Root
}

// verifiedNote is a checkpoint whose signature verified, under key set
// gen, with a key in force until until (zero: no end known).
type verifiedNote struct {
	cp    *Checkpoint
	gen   uint64
	until time.Time
}

// LogFailureCounts counts the product statuses the client refused because
// they did not verify against the registry's log, by cause.
type LogFailureCounts struct {
	Signature int64 // ErrCheckpointSignature: a key not the registry's, or not in force
	Malformed int64 // ErrMalformedCheckpoint
	Proof     int64 // ErrLogProof: a record or proof rewritten, cut or missing
	Fork      int64 // ErrLogFork: a history other than the one verified before
	Backwards int64 // ErrLogBackwards: a checkpoint older than the one asked from
}

func (t *logTrust) counts() LogFailureCounts {
	return LogFailureCounts{
		Signature: t.failures[causeSignature].Load(),
		Malformed: t.failures[causeMalformed].Load(),
		Proof:     t.failures[causeProof].Load(),
		Fork:      t.failures[causeFork].Load(),
		Backwards: t.failures[causeBackwards].Load(),
	}
}

// LatestCheckpoint is the newest checkpoint of the registry's log the
// client has verified, nil before its first verified status: the one
// every later answer must extend. A platform can publish it, or compare
// it with another reader's, to catch a registry showing readers
// different histories.
func (c *Client) LatestCheckpoint() *Checkpoint { return c.trust.latest.Load() }

// TrustCheckpoint takes a checkpoint another reader verified — a
// fleet's follower, which proves each checkpoint extends the last (see
// cache.Follow) — as one that later answers must extend, so that every
// server of a fleet judges the registry's answers against the history
// the fleet verified, not against the first checkpoint it happened to
// see. signed is the signed note; it must verify with the client's keys,
// and be consistent with the latest checkpoint the client verified (a
// consistency proof is fetched from the registry when their sizes
// differ): otherwise the error is ErrLogFork, ErrCheckpointSignature or
// the registry's. A checkpoint older than the client's latest changes
// nothing once it is proven a prefix of it.
func (c *Client) TrustCheckpoint(ctx context.Context, signed []byte) error {
	cp, err := c.checkpoint(ctx, string(signed))
	if err != nil {
		return err
	}
	for {
		latest := c.trust.latest.Load()
		if latest != nil {
			older, newer := latest, cp
			if older.Size > newer.Size {
				older, newer = newer, older
			}
			var p ConsistencyProof
			if older.Size > 0 && newer.Size > older.Size {
				proof, _, err := c.Log.Consistency(ctx, older.Size, newer.Size)
				if err != nil {
					return err
				}
				p = *proof
			}
			if err := VerifyConsistency(older, newer, p); err != nil {
				return err
			}
			if cp.Size <= latest.Size {
				return nil
			}
		}
		if c.trust.advance(latest, cp) {
			return nil
		}
	}
}

// causeOf is the cause of a log error, or -1 for an error that is not one
// (the keys could not be fetched, say).
func causeOf(err error) int {
	switch {
	case errors.Is(err, ErrLogFork):
		return causeFork
	case errors.Is(err, ErrLogBackwards):
		return causeBackwards
	case errors.Is(err, ErrCheckpointSignature):
		return causeSignature
	case errors.Is(err, ErrMalformedCheckpoint):
		return causeMalformed
	case errors.Is(err, ErrLogProof):
		return causeProof
	}
	return -1
}

var causeNames = [numCauses]string{"signature", "malformed checkpoint", "proof", "fork", "backwards"}

// refuse turns the failure to verify key's status into the caller's
// error: a log error becomes a *VerifyError, counted by cause and logged
// the first time its cause is seen (to the client's logger, or slog's
// default: a forged status is news for whoever runs the platform, however
// the client was configured); any other error is passed on as it is.
func (c *Client) refuse(key ProductKey, err error) error {
	cause := causeOf(err)
	if cause < 0 {
		return err
	}
	c.trust.failures[cause].Add(1)
	ve := &VerifyError{Key: key, Err: err}
	if c.trust.logged[cause].CompareAndSwap(false, true) {
		l := c.logger
		if l == nil {
			l = slog.Default()
		}
		l.Error("qcsdk: a product status (an answer of the registry, or one read back from a shared store) does not verify against its log and was refused; later refusals of this cause are counted in Stats, not logged",
			"cause", causeNames[cause], "error", ve.Error())
	}
	return ve
}

// logKeys answers the keys to verify checkpoints with, and the key set's
// generation. Unless they are pinned, the first call fetches them; with
// refresh, a call fetches them again unless a fetch began less than
// keyRefreshInterval ago.
func (c *Client) logKeys(ctx context.Context, refresh bool) ([]LogKey, uint64, error) {
	t := &c.trust
	if k := t.keys.Load(); k != nil && (t.pinned || !refresh) {
		return *k, t.keyGen.Load(), nil
	}
	select {
	case t.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("qcsdk: fetching the registry's log keys: %w", ctx.Err())
	}
	defer func() { <-t.fetch }()
	k := t.keys.Load()
	if k != nil && (!refresh || !t.refreshedAt.IsZero() && c.now().Sub(t.refreshedAt) < keyRefreshInterval) {
		// Fetched by another caller while this one waited, or lately.
		return *k, t.keyGen.Load(), nil
	}
	if k != nil {
		t.refreshedAt = c.now()
	}
	// At high priority, whatever the caller's: the answer that needs the
	// keys has spent its token already, and a low-priority caller whose
	// every retry spent the last token on its answer would never get them.
	keys, _, err := c.Log.Keys(WithPriority(ctx, PriorityHigh))
	if errors.Is(err, ErrNotFound) {
		// Not an outage to wait out: a registry that publishes no keys
		// cannot be verified, and a status from it is not to be shown.
		return nil, 0, fmt.Errorf("%w: the registry publishes no keys at /v1/keys (%v)", ErrCheckpointSignature, err)
	}
	if err != nil {
		return nil, 0, err
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("%w: the registry lists no key at /v1/keys", ErrCheckpointSignature)
	}
	t.keys.Store(&keys)
	return keys, t.keyGen.Add(1), nil
}

// checkpoint opens a signed checkpoint, from the cache of verified ones
// when it is there and its key still in force. A checkpoint that does not
// verify with fetched keys is tried again with the keys fetched anew (at
// most once a minute): the registry may have rotated its key.
func (c *Client) checkpoint(ctx context.Context, signed string) (*Checkpoint, error) {
	t := &c.trust
	keys, gen, err := c.logKeys(ctx, false)
	if err != nil {
		return nil, err
	}
	now := c.now()
	t.mu.Lock()
	v, ok := t.notes[signed]
	t.mu.Unlock()
	if ok && v.gen == gen && (v.until.IsZero() || now.Before(v.until)) {
		return v.cp, nil
	}
	t.sigChecks.Add(1)
	cp, err := VerifyCheckpoint([]byte(signed), "", keys, now)
	if errors.Is(err, ErrCheckpointSignature) && !t.pinned {
		if fresh, g, ferr := c.logKeys(ctx, true); ferr == nil && g != gen {
			keys, gen = fresh, g
			t.sigChecks.Add(1)
			cp, err = VerifyCheckpoint([]byte(signed), "", keys, now)
		}
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.notes == nil {
		t.notes = make(map[string]verifiedNote, maxVerifiedNotes)
	}
	if _, dup := t.notes[signed]; !dup {
		if len(t.order) >= maxVerifiedNotes {
			delete(t.notes, t.order[0])
			t.order = slices.Delete(t.order, 0, 1)
		}
		t.order = append(t.order, signed)
	}
	t.notes[signed] = verifiedNote{cp: cp, gen: gen, until: keyEnd(keys, cp.Signer, now)}
	return cp, nil
}

// keyEnd is when the keys named name that are in force at now stop
// verifying: the earliest end, as any of them may have signed; zero when
// none has one.
func keyEnd(keys []LogKey, name string, now time.Time) time.Time {
	var end time.Time
	for _, k := range keys {
		if n, _, _ := strings.Cut(k.Key, "+"); n != name || now.Before(k.NotBefore) || k.NotAfter == nil || !now.Before(*k.NotAfter) {
			continue
		}
		if end.IsZero() || k.NotAfter.Before(end) {
			end = *k.NotAfter
		}
	}
	return end
}

// logSize is the query parameter naming the size of the latest
// checkpoint the client verified, nil before it has one.
func logSize(q url.Values, base *Checkpoint) url.Values {
	if base == nil {
		return q
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("log_size", strconv.FormatInt(base.Size, 10))
	return q
}

// verifyAnswer verifies the statuses of one answer, asked when base was
// the latest checkpoint verified: signed is the answer's checkpoint and
// cons its consistency proof from base. It returns one error per status,
// nil for each that verified; a status that fails is not to be returned.
//
// The answer's checkpoint is judged against base, the checkpoint the
// request named, not against whatever is latest when it arrives: answers
// asked at the same time may arrive in any order, and each is proven
// consistent with what its request said. So a checkpoint smaller than
// base is ErrLogBackwards (the registry answered from a history older
// than one it proved to this client), one of base's size must have its
// root (ErrLogFork otherwise), and a larger one needs a consistency
// proof from base. The first checkpoint (no base) is taken on its
// signature alone. The latest then moves to the answer's checkpoint if it
// is larger and the latest is still base; otherwise it stays, and the
// next request asks from it.
func (c *Client) verifyAnswer(ctx context.Context, sts []*ProductStatus, base *Checkpoint, signed string, cons *ConsistencyProof) []error {
	errs := make([]error, len(sts))
	recs := make([][]statusRecord, len(sts))
	some := false
	for i, st := range sts {
		recs[i] = statusRecords(st)
		some = some || len(recs[i]) > 0
	}
	if !some {
		return errs // nothing to prove
	}
	cp, err := c.answerCheckpoint(ctx, base, signed, cons)
	var seen verifiedRecords
	for i, st := range sts {
		if len(recs[i]) == 0 {
			continue
		}
		e := err
		if e == nil {
			e = verifyRecords(st, recs[i], cp, &seen)
		}
		if e != nil {
			errs[i] = c.refuse(st.Key, e)
			continue
		}
		st.Proof.Consistency = nil // proven; it means nothing to anyone else
	}
	c.trust.leaves.Add(int64(seen.leaves))
	return errs
}

// answerCheckpoint verifies an answer's checkpoint and its consistency
// with base, and moves the latest checkpoint on (see verifyAnswer).
func (c *Client) answerCheckpoint(ctx context.Context, base *Checkpoint, signed string, cons *ConsistencyProof) (*Checkpoint, error) {
	if signed == "" {
		return nil, fmt.Errorf("%w: the answer carries no checkpoint", ErrLogProof)
	}
	cp, err := c.checkpoint(ctx, signed)
	if err != nil {
		return nil, err
	}
	if base != nil {
		var p ConsistencyProof
		if cp.Size > base.Size && base.Size > 0 {
			if cons == nil {
				return nil, fmt.Errorf("%w: no consistency proof from the %d changes verified before to %d", ErrLogProof, base.Size, cp.Size)
			}
			p = *cons
		}
		if err := VerifyConsistency(base, cp, p); err != nil {
			return nil, err
		}
	}
	if base == nil || cp.Size > base.Size {
		c.trust.advance(base, cp)
	}
	return cp, nil
}
