package client

import "time"

// Verdict is what a product badge says about a product. Every part of the
// SDK that shows a badge takes it from [Decide], so that a product never
// reads differently on two pages.
type Verdict string

// Verdicts, from the registry's facts. See [Decide] for the rules.
const (
	// VerdictCommitted: an active commitment covers the product and its
	// latest inspection in the window passed, or there is none yet.
	VerdictCommitted Verdict = "committed"
	// VerdictInspectionFailed: an active commitment covers the product but
	// its latest inspection in the window failed.
	VerdictInspectionFailed Verdict = "inspection_failed"
	// VerdictWithdrawn: the commitment was suspended, revoked or has
	// expired.
	VerdictWithdrawn Verdict = "withdrawn"
	// VerdictNotListed: the maker is not on the list, or no commitment in
	// force covers the product.
	VerdictNotListed Verdict = "not_listed"
	// VerdictUnknown: there is no answer, or one this version of the SDK
	// cannot read. A badge must not guess.
	VerdictUnknown Verdict = "unknown"
)

// Known reports whether v is a verdict this version of the SDK defines.
func (v Verdict) Known() bool {
	switch v {
	case VerdictCommitted, VerdictInspectionFailed, VerdictWithdrawn, VerdictNotListed, VerdictUnknown:
		return true
	}
	return false
}

// DefaultLookback is how far back an inspection counts when [Decide] is
// given no look-back: a failure from years ago, long since rectified, should
// not mark a product today.
const DefaultLookback = 365 * 24 * time.Hour

// Decision is a verdict with the facts it rests on, so that a badge can show
// the status and date that go with it and link to the record.
type Decision struct {
	Verdict Verdict
	// Status is the commitment's effective status: an active commitment
	// whose ExpiresAt has passed is reported as CommitmentExpired. It is
	// empty when there is no commitment.
	Status CommitmentStatus
	// Since is the date that goes with the verdict: for committed, when the
	// latest passed inspection in the window was published (zero when there
	// is none yet); for inspection_failed, when the failure was published;
	// for withdrawn, the commitment's StatusChangedAt, or its ExpiresAt when
	// an active commitment lapsed. It is zero for the other verdicts.
	Since time.Time
	// Commitment is the commitment the decision rests on, or nil. It points
	// into the ProductStatus given to Decide.
	Commitment *Commitment
	// Inspection is the inspection the decision rests on, or nil. It points
	// into the ProductStatus given to Decide.
	Inspection *Inspection
}

// Decide derives the badge verdict for a product from the registry's answer
// as of now. Inspections published within lookback before now count; a
// lookback of zero or less means [DefaultLookback].
//
// The rules never read more into the data than it says:
//
//   - no answer (st is nil) is unknown;
//   - a maker not listed, or no commitment covering the product, is
//     not_listed;
//   - a commitment status this SDK does not know is unknown;
//   - a suspended, revoked or expired commitment is withdrawn, and so is an
//     active one whose ExpiresAt has passed;
//   - an active commitment that is not in force yet (EffectiveAt after
//     now) is not_listed;
//   - otherwise the newest inspection in the window with a result decides:
//     fail is inspection_failed, pass is committed, and a result this SDK
//     does not know is unknown. Pending inspections decide nothing, and
//     inspections published after now are ignored. With no such
//     inspection the verdict is committed.
//
// Of inspections published at the same instant, a failure outranks an
// unknown result, which outranks a pass. The order of st.Inspections does
// not matter. Decide neither modifies st nor allocates: it runs on every
// product page view.
func Decide(st *ProductStatus, now time.Time, lookback time.Duration) Decision {
	if st == nil {
		return Decision{Verdict: VerdictUnknown}
	}
	c := st.Commitment
	if !st.Listed || c == nil {
		return Decision{Verdict: VerdictNotListed}
	}
	switch {
	case !c.Status.Known():
		return Decision{Verdict: VerdictUnknown, Status: c.Status, Commitment: c}
	case c.Status != CommitmentActive:
		return Decision{Verdict: VerdictWithdrawn, Status: c.Status, Since: c.StatusChangedAt, Commitment: c}
	case !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt):
		// The registry flips the status some time after the date; the date
		// is what the commitment said, so it wins.
		return Decision{Verdict: VerdictWithdrawn, Status: CommitmentExpired, Since: c.ExpiresAt, Commitment: c}
	case c.EffectiveAt.After(now):
		return Decision{Verdict: VerdictNotListed, Status: CommitmentActive, Commitment: c}
	}

	if lookback <= 0 {
		lookback = DefaultLookback
	}
	from := now.Add(-lookback)
	var latest *Inspection
	for i := range st.Inspections {
		in := &st.Inspections[i] // by pointer: an Inspection is too big to copy per page view
		if in.Result == InspectionPending || in.PublishedAt.Before(from) || in.PublishedAt.After(now) {
			continue
		}
		if latest == nil || in.PublishedAt.After(latest.PublishedAt) ||
			(in.PublishedAt.Equal(latest.PublishedAt) && severity(in.Result) > severity(latest.Result)) {
			latest = in
		}
	}

	d := Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: c}
	if latest == nil {
		return d
	}
	d.Inspection = latest
	switch latest.Result {
	case InspectionPass:
		d.Since = latest.PublishedAt
	case InspectionFail:
		d.Verdict = VerdictInspectionFailed
		d.Since = latest.PublishedAt
	default:
		d.Verdict = VerdictUnknown
	}
	return d
}

// severity orders results published at the same instant, most cautious
// highest, so that a tie never yields the better verdict.
func severity(r InspectionResult) int {
	switch r {
	case InspectionPass:
		return 0
	case InspectionFail:
		return 2
	}
	return 1
}

// DecideUntil is [Decide], and the earliest instant after now at which the
// decision could change with the passing of time alone — a commitment
// coming into force or expiring, an inspection entering or leaving the
// look-back window — or the zero time if it cannot. A renderer can reuse
// the decision until then; a new answer from the registry needs a new one.
func DecideUntil(st *ProductStatus, now time.Time, lookback time.Duration) (Decision, time.Time) {
	d := Decide(st, now, lookback)
	if st == nil || !st.Listed || st.Commitment == nil {
		return d, time.Time{}
	}
	c := st.Commitment
	if c.Status != CommitmentActive {
		return d, time.Time{} // withdrawn, or a status this SDK does not know: time changes neither
	}
	var until time.Time
	earliest := func(t time.Time) {
		if t.After(now) && (until.IsZero() || t.Before(until)) {
			until = t
		}
	}
	earliest(c.EffectiveAt)
	if !c.ExpiresAt.IsZero() {
		earliest(c.ExpiresAt)
	}
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	for i := range st.Inspections {
		in := &st.Inspections[i]
		if in.Result == InspectionPending {
			continue
		}
		earliest(in.PublishedAt)               // it enters the window
		earliest(in.PublishedAt.Add(lookback)) // it is about to leave it
	}
	return d, until
}
