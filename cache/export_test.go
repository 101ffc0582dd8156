package cache

import (
	"context"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// ReadKey names an enquiry read in the store.
var ReadKey = readKey

// SpillFile is the name of a Tiered store's spill file in its directory.
const SpillFile = spillFile

// LogAuditor runs the follower's audit of the registry's log one audit
// at a time, for tests that judge each audit.
type LogAuditor struct{ a *logAuditor }

// NewLogAuditor is the audit Follow would run with opts (its log
// settings, stats, clock and logger).
func NewLogAuditor(api *client.Client, store Store, opts *FollowOptions) LogAuditor {
	o := *opts
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Stats == nil {
		o.Stats = new(FollowStats)
	}
	return LogAuditor{newLogAuditor(api, store, &o)}
}

// Audit runs one audit now.
func (l LogAuditor) Audit(ctx context.Context) { l.a.audit(ctx) }

// WithSweepInterval sets how often, at most, a memory store sweeps.
var WithSweepInterval = withSweepInterval

// CursorKey is where Follow keeps its cursor in a store with no lease.
const CursorKey = cursorKey

// WitnessFunc makes a function a Witness.
type WitnessFunc = witnessFunc

// ReadLocal is a warm read of s, a Memory or Tiered store, from this
// process's memory.
func ReadLocal(s Store, key string) (*Entry, time.Time, bool) {
	return s.(localReader).readLocal(key)
}

// HandledErrors is what a Tiered store counted of its own failures.
func HandledErrors(t *Tiered) int64 { return t.handledErrors() }
