package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// Finding is the audit's word on one listing: its verdict, why in words,
// and the registry records behind it with their official links.
type Finding struct {
	Listing Listing
	Verdict client.Verdict
	// Code says in one word why: finer than the verdict (revoked,
	// suspended or expired for withdrawn, say).
	Code ReasonCode
	// Reason says in English why the listing has its verdict. It may quote
	// registry data or an error; treat it as untrusted text.
	Reason       string
	CommitmentID string
	InspectionID string
	EnterpriseID string
	// VerifyURL is the registry's page for the record the verdict rests
	// on: the inspection for inspection_failed, else the commitment, else
	// the product's status page. It is the registry's word, unchecked.
	VerifyURL string
	// FindingID, when set, is the finding's id as read back
	// (ReadFindings); else ID computes it.
	FindingID string
	// Status, set by Since, says whether the finding is new since a
	// previous audit, unchanged, or cleared; "" otherwise.
	Status FindingStatus
	// Cause is the registry change that made the watcher re-decide the
	// listing (package audit/watch); nil in a full audit.
	Cause *Cause
	// DecidedAt is when the watcher decided the listing; zero in a full
	// audit, whose findings are all of one run.
	DecidedAt time.Time
}

// Cause is the registry change behind a finding of the change-driven
// audit: the event's id, its position in the registry's change sequence,
// its type and when it happened, so that a takedown queue can order,
// de-duplicate and trace what it acts on.
type Cause struct {
	EventID    string
	Seq        int64
	Type       string
	OccurredAt time.Time
}

// Answer is what the audit keeps of the registry's answer for one key:
// the decision, not the status it came from, so that a remembered key
// costs under a kilobyte. Checkpoints record answers so that a
// resumed run does not look them up again.
type Answer struct {
	Key          client.ProductKey `json:"key"`
	Verdict      client.Verdict    `json:"verdict"`
	Code         ReasonCode        `json:"code"`
	Reason       string            `json:"reason"`
	CommitmentID string            `json:"commitment_id,omitempty"`
	InspectionID string            `json:"inspection_id,omitempty"`
	EnterpriseID string            `json:"enterprise_id,omitempty"`
	VerifyURL    string            `json:"verify_url,omitempty"`
}

// Defaults of Options.
const (
	// DefaultMaxKeys is how many answers a run remembers. BenchmarkAudit
	// measured about 0.9 KB of resident memory an answer (45,000 more
	// answers, 40 MB more at the peak), so some 90 MB at the bound.
	DefaultMaxKeys = 100_000
	// DefaultMaxWindow is the most listings a window holds while it
	// gathers keys to look up, when most of them are already answered:
	// some 12 MB of listings at most. Late in a large catalogue new keys
	// are rare, and a window closed at this bound makes a call of fewer
	// than 100 keys: at 10,000, a 3,000,000-listing audit of 326,760
	// products made 1.8 % more calls than the minimum (BENCHMARKS.md).
	DefaultMaxWindow = 50_000
	// DefaultMaxPauseWait is how long a run waits, in all, for the
	// client's pause after the registry said it is overloaded or down.
	DefaultMaxPauseWait = time.Minute
)

// Options are one Run's parameters. A nil *Options, and each zero or nil
// field, means the default; Run refuses a negative count or duration
// (MaxPauseWait aside, where negative means never wait) before it starts.
type Options struct {
	// All writes a finding for every listing; by default only listings
	// whose verdict is not committed are written.
	All bool
	// Select, if set, is asked of each finding that would be written, and
	// only those it returns true for are: a team that acts on revocations
	// alone, say. The Summary still counts every listing.
	Select func(Finding) bool
	// Strict stops the run at the first *RowError, returning it; by
	// default a bad row is counted, handed to OnRowError and skipped.
	Strict bool
	// OnRowError, if set, is called with each row skipped; a resumed run
	// calls it again for the rows skipped before its checkpoint.
	OnRowError func(*RowError)
	// Clock is the time verdicts are decided at; nil is time.Now.
	Clock func() time.Time
	// Lookback is the inspection look-back window given to client.Decide;
	// zero means client.DefaultLookback.
	Lookback time.Duration
	// MaxKeys bounds the answers remembered in memory so that a distinct
	// key is looked up once (zero: DefaultMaxKeys). Past it the least
	// recently used answer goes to Answers; without Answers it is
	// forgotten, and its key, if it comes again, is looked up again: a
	// call more, never a different finding.
	MaxKeys int
	// Answers, if set, keeps the answers past MaxKeys (package
	// audit/spill keeps them on disk), so that each distinct key is
	// looked up once at any size with memory still bounded.
	Answers AnswerStore
	// MaxWindow bounds the listings held at once (zero:
	// DefaultMaxWindow). A window closes when it has MaxBatchKeys keys to
	// look up or MaxWindow listings.
	MaxWindow int
	// MaxPauseWait is how long the run waits, in all, for the client's
	// pause to end after the registry answered 429 or 503, before trying
	// a window's lookup once more (default DefaultMaxPauseWait; negative:
	// never wait). Once spent, a window looked up during a pause has
	// verdict unknown. Waits for the client's upstream limiter, which
	// refuses low-priority calls rather than queue them, are not bounded
	// but by ctx: the audit yields to the platform's pages, it does not
	// fail because of them.
	MaxPauseWait time.Duration
	// Checkpoint, if set, makes the run resumable: it is loaded at the
	// start, and saved after each window's findings are written and
	// flushed. See CheckpointStore.
	Checkpoint CheckpointStore
}

// Summary counts what a run did. After a resumed run it counts the whole
// audit, the runs before the checkpoint included.
type Summary struct {
	// Listings is the listings audited; Malformed the rows skipped.
	Listings  int `json:"listings"`
	Malformed int `json:"malformed"`
	// Keys is the keys looked up: the distinct keys of the catalogue, plus
	// any looked up again after MaxKeys made the run forget them or after
	// their lookup failed.
	Keys int `json:"keys"`
	// Calls is the batch lookup calls made, each of at most 100 keys.
	Calls int `json:"calls"`
	// Verdicts counts listings by verdict, and Codes by reason code,
	// written or not.
	Verdicts map[client.Verdict]int `json:"verdicts"`
	Codes    map[ReasonCode]int     `json:"codes"`
	// Unknown is the listings whose verdict is unknown, and LookupFailed
	// those of them whose lookup failed (the registry down, say), as
	// opposed to an answer this SDK cannot read.
	Unknown      int `json:"unknown"`
	LookupFailed int `json:"lookup_failed"`
	// Findings is the findings written.
	Findings int64 `json:"findings"`
	// Elapsed is the time spent, in all runs.
	Elapsed time.Duration `json:"elapsed"`
}

func (s *Summary) count(v client.Verdict, code ReasonCode, failed bool) {
	s.Listings++
	if s.Verdicts == nil {
		s.Verdicts = make(map[client.Verdict]int)
	}
	s.Verdicts[v]++
	if s.Codes == nil {
		s.Codes = make(map[ReasonCode]int)
	}
	s.Codes[code]++
	if v == client.VerdictUnknown {
		s.Unknown++
		if failed {
			s.LookupFailed++
		}
	}
}

func (s Summary) clone() Summary {
	s.Verdicts = maps.Clone(s.Verdicts)
	s.Codes = maps.Clone(s.Codes)
	return s
}

// entry is a listing waiting in a window for its key's answer.
type entry struct {
	l   Listing
	ans *Answer // set when the key was answered before the window
}

// check refuses what Run cannot work with, before it reads a listing:
// a parameter out of range (a negative Lookback, MaxKeys or MaxWindow;
// zero is the default) or a nil client or writer.
func (o *Options) check(api *client.Client, out FindingWriter) error {
	switch {
	case api == nil:
		return errors.New("audit: Run needs a client")
	case out == nil:
		return errors.New("audit: Run needs a writer")
	case o.Lookback < 0:
		return fmt.Errorf("audit: Options.Lookback %v is negative", o.Lookback)
	case o.MaxKeys < 0:
		return fmt.Errorf("audit: Options.MaxKeys %d is negative", o.MaxKeys)
	case o.MaxWindow < 0:
		return fmt.Errorf("audit: Options.MaxWindow %d is negative", o.MaxWindow)
	}
	return nil
}

// Run audits listings against the registry and writes findings to out, in
// input order.
//
// Listings are read in windows: a window closes when it has
// client.MaxBatchKeys keys not answered yet (or Options.MaxWindow
// listings); its keys are looked up in one Batch call at
// client.PriorityLow, each listing is decided with client.Decide, and its
// findings are written and flushed before the next window is read. So a
// run holds at most one window and Options.MaxKeys answers, whatever the
// size of the catalogue, and each distinct key is looked up once while it
// is remembered.
//
// A lookup that fails after the client's retries gives the listings of its
// keys verdict unknown with the error as the reason — never a guess — and
// the Summary counts them; the keys are looked up again if they come
// again. A *RowError from listings is counted and skipped, or ends the run
// with Options.Strict; any other error from listings ends the run and is
// returned, as are out's errors, a checkpoint's and ctx's.
//
// With Options.Checkpoint, a run that ends early can be resumed: see
// CheckpointStore.
func Run(ctx context.Context, api *client.Client, listings iter.Seq2[Listing, error], out FindingWriter, opts *Options) (Summary, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.check(api, out); err != nil {
		return Summary{}, err
	}
	r := &runner{api: api, out: out, o: o, start: time.Now()}
	if r.o.Clock == nil {
		r.o.Clock = time.Now
	}
	if r.o.MaxKeys == 0 {
		r.o.MaxKeys = DefaultMaxKeys
	}
	if r.o.MaxWindow == 0 {
		r.o.MaxWindow = DefaultMaxWindow
	}
	if r.o.MaxPauseWait == 0 {
		r.o.MaxPauseWait = DefaultMaxPauseWait
	}
	r.cache = newMemo(r.o.MaxKeys, r.o.Answers)
	ctx = client.WithPriority(ctx, client.PriorityLow) // bulk work: the platform's pages keep their share

	var skip int64
	var wantDigest string
	r.digest = newDigest()
	if o.Checkpoint != nil {
		var perr error
		cp, ok, err := o.Checkpoint.Load(func(a Answer) {
			if perr == nil {
				perr = r.cache.put(a)
			}
		})
		if err == nil {
			err = perr
		}
		if err != nil {
			return r.sum, fmt.Errorf("audit: loading the checkpoint: %w", err)
		}
		if ok {
			skip, r.pos, r.sum, r.baseElapsed = cp.Position, cp.Position, cp.Summary.clone(), cp.Summary.Elapsed
			wantDigest = cp.Digest
			if rw, ok := out.(ResumableWriter); ok {
				rw.Resume(cp.Offset)
			}
		}
	}

	var seen int64
	for l, err := range listings {
		if seen < skip {
			// Rows skipped as malformed are told again, so that a list of
			// them kept by the caller is whole after a resume; the
			// Summary counted them before.
			if o.OnRowError != nil {
				if re := rowError(l, err); re != nil {
					o.OnRowError(re)
				}
			}
			r.digest.item(l, err)
			if seen++; seen == skip && wantDigest != "" && r.digest.sum() != wantDigest {
				return r.finish(&InputChangedError{Items: skip})
			}
			continue
		}
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) || o.Strict {
				return r.finish(err)
			}
			r.digest.item(l, err)
			r.pos++
			r.sum.Malformed++
			if o.OnRowError != nil {
				o.OnRowError(re)
			}
			continue
		}
		raw := l
		if k, kerr := CanonicalKey(l.Key); kerr != nil {
			re := &RowError{Line: l.Line, Err: kerr}
			if o.Strict {
				return r.finish(re)
			}
			r.digest.item(l, err)
			r.pos++
			r.sum.Malformed++
			if o.OnRowError != nil {
				o.OnRowError(re)
			}
			continue
		} else {
			l.Key = k
		}
		known, cached, err := r.cache.get(l.Key)
		if err != nil {
			return r.finish(err)
		}
		if !cached && !r.pending(l.Key) && len(r.keys) == client.MaxBatchKeys || len(r.window) == r.o.MaxWindow {
			if err := r.flush(ctx); err != nil {
				return r.finish(err)
			}
			if !cached { // the window just looked up may have answered it
				if known, _, err = r.cache.get(l.Key); err != nil {
					return r.finish(err)
				}
			}
		}
		r.digest.item(raw, nil)
		r.add(l, known)
		r.pos++
	}
	if seen < skip {
		// The input ended before the rows the checkpoint counts.
		return r.finish(&InputChangedError{Items: seen})
	}
	if err := r.flush(ctx); err != nil {
		return r.finish(err)
	}
	return r.finish(nil)
}

// rowError is the *RowError an input item is, if any: one the reader
// yielded, or a key that is not valid.
func rowError(l Listing, err error) *RowError {
	var re *RowError
	if err != nil {
		errors.As(err, &re)
		return re
	}
	if _, kerr := CanonicalKey(l.Key); kerr != nil {
		return &RowError{Line: l.Line, Err: kerr}
	}
	return nil
}

type runner struct {
	api         *client.Client
	out         FindingWriter
	o           Options
	cache       *memo
	window      []entry
	keys        []client.ProductKey       // keys of the window to look up, in order of first use
	keyIdx      map[client.ProductKey]int // index in keys
	pos         int64                     // input items consumed, the current window's included
	sum         Summary
	start       time.Time
	baseElapsed time.Duration
	pauseWaited time.Duration
	digest      *digest // of the items consumed
}

func (r *runner) finish(err error) (Summary, error) {
	r.sum.Elapsed = r.baseElapsed + time.Since(r.start)
	return r.sum.clone(), err
}

func (r *runner) pending(k client.ProductKey) bool {
	_, ok := r.keyIdx[k]
	return ok
}

// add puts a listing into the window with the answer remembered for its
// key, if any: taken now, so that an eviction while the window fills
// cannot lose it.
func (r *runner) add(l Listing, known *Answer) {
	e := entry{l: l, ans: known}
	if known == nil && !r.pending(l.Key) {
		if r.keyIdx == nil {
			r.keyIdx = make(map[client.ProductKey]int)
		}
		r.keyIdx[l.Key] = len(r.keys)
		r.keys = append(r.keys, l.Key)
	}
	r.window = append(r.window, e)
}

// flush looks up the window's keys, writes its findings, flushes out and
// saves the checkpoint. If ctx ends before the findings are written,
// nothing is written and the window will be read again on resume.
func (r *runner) flush(ctx context.Context) error {
	if len(r.window) == 0 {
		return nil
	}
	// A window with nothing to look up never asks ctx otherwise: a
	// cancelled run would go on to the end of a catalogue whose products
	// it has all seen.
	if err := ctx.Err(); err != nil {
		return err
	}
	answers, fresh, err := r.lookup(ctx)
	if err != nil {
		return err
	}
	for _, e := range r.window {
		a, failed := e.ans, false
		if a == nil {
			res := &answers[r.keyIdx[e.l.Key]]
			a, failed = &res.Answer, res.failed
		}
		r.sum.count(a.Verdict, a.Code, failed)
		if a.Verdict == client.VerdictCommitted && !r.o.All {
			continue
		}
		f := Finding{Listing: e.l, Verdict: a.Verdict, Code: a.Code, Reason: a.Reason, CommitmentID: a.CommitmentID,
			InspectionID: a.InspectionID, EnterpriseID: a.EnterpriseID, VerifyURL: a.VerifyURL}
		if r.o.Select != nil && !r.o.Select(f) {
			continue
		}
		if err := r.out.Write(f); err != nil {
			return fmt.Errorf("audit: writing a finding: %w", err)
		}
		r.sum.Findings++
	}
	if err := r.out.Flush(); err != nil {
		return fmt.Errorf("audit: flushing findings: %w", err)
	}
	if r.o.Checkpoint != nil {
		cp := Checkpoint{Position: r.pos, Digest: r.digest.sum(), Summary: r.sum.clone()}
		cp.Summary.Elapsed = r.baseElapsed + time.Since(r.start)
		if rw, ok := r.out.(ResumableWriter); ok {
			cp.Offset = rw.Offset()
		}
		if err := r.o.Checkpoint.Save(cp, fresh); err != nil {
			return fmt.Errorf("audit: saving the checkpoint: %w", err)
		}
	}
	r.window = r.window[:0]
	r.keys = r.keys[:0]
	clear(r.keyIdx)
	return nil
}

// result is the answer for one key of a window, and whether it is unknown
// because the lookup failed.
type result struct {
	Answer
	failed bool
}

// lookup asks the registry for the window's keys in one call and decides
// each. It returns an error only when ctx ended or the answers could not
// be remembered: a failed lookup is an answer, verdict unknown. fresh holds the answers worth remembering.
func (r *runner) lookup(ctx context.Context) (res []result, fresh []Answer, err error) {
	if len(r.keys) == 0 {
		return nil, nil, nil
	}
	items, err := r.batch(ctx)
	if cerr := ctx.Err(); cerr != nil {
		return nil, nil, cerr
	}
	now := r.o.Clock()
	res = make([]result, len(r.keys))
	for i, k := range r.keys {
		res[i].Key = k
		var it client.BatchItem
		if i < len(items) {
			it = items[i]
		} else {
			it.Err = err
		}
		if it.Err != nil || it.Status == nil {
			cause := it.Err
			if cause == nil {
				cause = errors.New("no answer")
			}
			res[i].Answer, res[i].failed = NoAnswer(k, cause), true
			continue
		}
		res[i].Answer = Decide(k, it.Status, now, r.o.Lookback)
		if err := r.cache.put(res[i].Answer); err != nil {
			return nil, nil, err
		}
		fresh = append(fresh, res[i].Answer)
	}
	r.sum.Keys += len(r.keys)
	r.sum.Calls++
	return res, fresh, nil
}

// batch makes the window's call, waiting for the client's limiter, which
// refuses a low-priority call at once rather than queue it, and once for
// the client's pause while MaxPauseWait allows.
func (r *runner) batch(ctx context.Context) ([]client.BatchItem, error) {
	pauseRetried := false
	for {
		items, _, err := r.api.Products.Batch(ctx, r.keys)
		if err == nil || ctx.Err() != nil {
			return items, err
		}
		var wait time.Duration
		var rl *client.RateLimitError
		var un *client.UnavailableError
		switch {
		case errors.As(err, &rl) && rl.Throttled:
			wait = max(rl.RetryAfter, time.Millisecond)
		case errors.As(err, &rl) && rl.Err == nil:
			wait = rl.RetryAfter // paused after a 429 or a spent quota
		case errors.As(err, &un):
			wait = un.RetryAfter // paused after a 503
		default:
			return items, err
		}
		if !(rl != nil && rl.Throttled) {
			if pauseRetried || r.o.MaxPauseWait < 0 || r.pauseWaited+wait > r.o.MaxPauseWait {
				return items, err
			}
			pauseRetried = true
			r.pauseWaited += wait
		}
		if !backoff.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}
