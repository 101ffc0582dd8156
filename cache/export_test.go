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
