package client

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var verdictNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const verdictDay = 24 * time.Hour

func verdictDaysAgo(n int) time.Time { return verdictNow.Add(-time.Duration(n) * verdictDay) }

// testActiveCommitment is in force at verdictNow: effective a year ago, expiring
// in two years.
func testActiveCommitment() *Commitment {
	return &Commitment{
		ID:              "cmt_1",
		EnterpriseID:    "ent_1",
		Category:        "household_appliances",
		EffectiveAt:     verdictDaysAgo(365),
		ExpiresAt:       verdictNow.Add(730 * verdictDay),
		Status:          CommitmentActive,
		StatusChangedAt: verdictDaysAgo(365),
		Version:         3,
	}
}

func testCommitmentWith(f func(c *Commitment)) *Commitment {
	c := testActiveCommitment()
	f(c)
	return c
}

func testInspection(id string, r InspectionResult, published time.Time) Inspection {
	return Inspection{
		ID:           id,
		EnterpriseID: "ent_1",
		Category:     "household_appliances",
		SampledAt:    published.Add(-20 * verdictDay),
		PublishedAt:  published,
		Result:       r,
		ReportNo:     "R-" + id,
	}
}

func listedStatus(c *Commitment, ins ...Inspection) *ProductStatus {
	return &ProductStatus{Key: ProductKey{GTIN: "06901234567892"}, Listed: true, Commitment: c, Inspections: ins}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	pass30 := testInspection("ins_pass30", InspectionPass, verdictDaysAgo(30))
	pass100 := testInspection("ins_pass100", InspectionPass, verdictDaysAgo(100))
	fail10 := testInspection("ins_fail10", InspectionFail, verdictDaysAgo(10))
	fail60 := testInspection("ins_fail60", InspectionFail, verdictDaysAgo(60))
	fail200 := testInspection("ins_fail200", InspectionFail, verdictDaysAgo(200))
	fail400 := testInspection("ins_fail400", InspectionFail, verdictDaysAgo(400))
	pending5 := testInspection("ins_pending5", InspectionPending, verdictDaysAgo(5))
	failFuture := testInspection("ins_fail_future", InspectionFail, verdictNow.Add(verdictDay))
	retested5 := testInspection("ins_retested5", "retested", verdictDaysAgo(5)) // a result a newer server added
	retested90 := testInspection("ins_retested90", "retested", verdictDaysAgo(90))
	passNow := testInspection("ins_pass_now", InspectionPass, verdictNow)
	failEdge := testInspection("ins_fail_edge", InspectionFail, verdictNow.Add(-DefaultLookback))
	failJustOut := testInspection("ins_fail_out", InspectionFail, verdictNow.Add(-DefaultLookback-time.Nanosecond))
	failUndated := testInspection("ins_fail_undated", InspectionFail, time.Time{})
	passTie := testInspection("ins_pass_tie", InspectionPass, verdictDaysAgo(10))
	retestedTie := testInspection("ins_retested_tie", "retested", verdictDaysAgo(30))
	active := testActiveCommitment()

	withdrawn := func(status CommitmentStatus) *Commitment {
		return testCommitmentWith(func(c *Commitment) {
			c.Status = status
			c.StatusChangedAt = verdictDaysAgo(7)
		})
	}
	suspended, revoked, expired := withdrawn(CommitmentSuspended), withdrawn(CommitmentRevoked), withdrawn(CommitmentExpired)
	lapsed := testCommitmentWith(func(c *Commitment) { c.ExpiresAt = verdictDaysAgo(3) })
	lapsingNow := testCommitmentWith(func(c *Commitment) { c.ExpiresAt = verdictNow })
	noExpiry := testCommitmentWith(func(c *Commitment) { c.ExpiresAt = time.Time{} })
	futureDated := testCommitmentWith(func(c *Commitment) { c.EffectiveAt = verdictNow.Add(10 * verdictDay) })
	startsNow := testCommitmentWith(func(c *Commitment) { c.EffectiveAt = verdictNow })
	underReview := testCommitmentWith(func(c *Commitment) { c.Status = "under_review" })

	tests := []struct {
		name     string
		st       *ProductStatus
		lookback time.Duration
		want     Decision
	}{
		{
			name: "nil status",
			st:   nil,
			want: Decision{Verdict: VerdictUnknown},
		},
		{
			name: "not listed",
			st:   &ProductStatus{Listed: false},
			want: Decision{Verdict: VerdictNotListed},
		},
		{
			name: "not listed wins over a stray commitment",
			st:   &ProductStatus{Listed: false, Commitment: active, Inspections: []Inspection{pass30}},
			want: Decision{Verdict: VerdictNotListed},
		},
		{
			name: "listed maker, no commitment covers the product",
			st:   listedStatus(nil, pass30),
			want: Decision{Verdict: VerdictNotListed},
		},
		{
			name: "committed, no inspection",
			st:   listedStatus(active),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name: "committed, passed",
			st:   listedStatus(active, pass30),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: pass30.PublishedAt, Commitment: active, Inspection: &pass30},
		},
		{
			name: "committed, pending only",
			st:   listedStatus(active, pending5),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name: "failed in window",
			st:   listedStatus(active, fail60),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail60.PublishedAt, Commitment: active, Inspection: &fail60},
		},
		{
			name: "failure outside the look-back",
			st:   listedStatus(active, fail400),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name: "failure older than a newer pass",
			st:   listedStatus(active, pass30, fail60),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: pass30.PublishedAt, Commitment: active, Inspection: &pass30},
		},
		{
			name: "pass older than a newer failure",
			st:   listedStatus(active, fail10, pass30),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail10.PublishedAt, Commitment: active, Inspection: &fail10},
		},
		{
			name: "pending re-inspection newer than a failure",
			st:   listedStatus(active, pending5, fail10, pass30),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail10.PublishedAt, Commitment: active, Inspection: &fail10},
		},
		{
			name: "inspections not sorted",
			st:   listedStatus(active, fail400, pass100, fail10, pending5, pass30),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail10.PublishedAt, Commitment: active, Inspection: &fail10},
		},
		{
			name: "inspection published in the future is ignored",
			st:   listedStatus(active, failFuture, pass30),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: pass30.PublishedAt, Commitment: active, Inspection: &pass30},
		},
		{
			name: "inspection published now counts",
			st:   listedStatus(active, passNow, fail10),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: passNow.PublishedAt, Commitment: active, Inspection: &passNow},
		},
		{
			name: "inspection at the start of the window counts",
			st:   listedStatus(active, failEdge),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: failEdge.PublishedAt, Commitment: active, Inspection: &failEdge},
		},
		{
			name: "inspection just before the window does not",
			st:   listedStatus(active, failJustOut),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name: "undated inspection is ignored",
			st:   listedStatus(active, failUndated),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name: "pass and failure published together: failure",
			st:   listedStatus(active, passTie, fail10),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail10.PublishedAt, Commitment: active, Inspection: &fail10},
		},
		{
			name: "suspended",
			st:   listedStatus(suspended, pass30),
			want: Decision{Verdict: VerdictWithdrawn, Status: CommitmentSuspended, Since: verdictDaysAgo(7), Commitment: suspended},
		},
		{
			name: "revoked",
			st:   listedStatus(revoked, pass30),
			want: Decision{Verdict: VerdictWithdrawn, Status: CommitmentRevoked, Since: verdictDaysAgo(7), Commitment: revoked},
		},
		{
			name: "expired",
			st:   listedStatus(expired),
			want: Decision{Verdict: VerdictWithdrawn, Status: CommitmentExpired, Since: verdictDaysAgo(7), Commitment: expired},
		},
		{
			name: "active but past its expiry date",
			st:   listedStatus(lapsed, pass30),
			want: Decision{Verdict: VerdictWithdrawn, Status: CommitmentExpired, Since: lapsed.ExpiresAt, Commitment: lapsed},
		},
		{
			name: "active, expiring this instant",
			st:   listedStatus(lapsingNow),
			want: Decision{Verdict: VerdictWithdrawn, Status: CommitmentExpired, Since: verdictNow, Commitment: lapsingNow},
		},
		{
			name: "active without an expiry date",
			st:   listedStatus(noExpiry),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: noExpiry},
		},
		{
			name: "future-dated commitment",
			st:   listedStatus(futureDated, pass30),
			want: Decision{Verdict: VerdictNotListed, Status: CommitmentActive, Commitment: futureDated},
		},
		{
			name: "commitment taking effect this instant",
			st:   listedStatus(startsNow),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: startsNow},
		},
		{
			name: "unknown commitment status",
			st:   listedStatus(underReview, pass30),
			want: Decision{Verdict: VerdictUnknown, Status: "under_review", Commitment: underReview},
		},
		{
			name: "unknown inspection result newer than a pass",
			st:   listedStatus(active, pass30, retested5),
			want: Decision{Verdict: VerdictUnknown, Status: CommitmentActive, Commitment: active, Inspection: &retested5},
		},
		{
			name: "unknown inspection result newer than a failure",
			st:   listedStatus(active, fail10, retested5),
			want: Decision{Verdict: VerdictUnknown, Status: CommitmentActive, Commitment: active, Inspection: &retested5},
		},
		{
			name: "unknown inspection result older than a pass",
			st:   listedStatus(active, retested90, pass30),
			want: Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: pass30.PublishedAt, Commitment: active, Inspection: &pass30},
		},
		{
			name: "unknown inspection result published with a pass",
			st:   listedStatus(active, pass30, retestedTie),
			want: Decision{Verdict: VerdictUnknown, Status: CommitmentActive, Commitment: active, Inspection: &retestedTie},
		},
		{
			name: "unknown inspection result older than a failure",
			st:   listedStatus(active, fail10, retested90),
			want: Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail10.PublishedAt, Commitment: active, Inspection: &fail10},
		},
		{
			name:     "a pass newer than a failure of 200 days ago",
			st:       listedStatus(active, fail200, pass100),
			lookback: 0,
			want:     Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Since: pass100.PublishedAt, Commitment: active, Inspection: &pass100},
		},
		{
			name:     "default look-back: failure of 200 days ago counts",
			st:       listedStatus(active, fail200),
			lookback: 0,
			want:     Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail200.PublishedAt, Commitment: active, Inspection: &fail200},
		},
		{
			name:     "negative look-back means the default",
			st:       listedStatus(active, fail200),
			lookback: -time.Hour,
			want:     Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail200.PublishedAt, Commitment: active, Inspection: &fail200},
		},
		{
			name:     "shorter look-back drops a failure of 200 days ago",
			st:       listedStatus(active, fail200),
			lookback: 90 * verdictDay,
			want:     Decision{Verdict: VerdictCommitted, Status: CommitmentActive, Commitment: active},
		},
		{
			name:     "longer look-back keeps a failure of 400 days ago",
			st:       listedStatus(active, fail400),
			lookback: 2 * DefaultLookback,
			want:     Decision{Verdict: VerdictInspectionFailed, Status: CommitmentActive, Since: fail400.PublishedAt, Commitment: active, Inspection: &fail400},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := cloneStatus(t, tt.st)
			got := Decide(tt.st, verdictNow, tt.lookback)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, cloneStatus(t, tt.st)); diff != "" {
				t.Errorf("Decide modified its input (-before +after):\n%s", diff)
			}
			if tt.st == nil {
				return
			}
			// The decision must point at the caller's records, not copies, so
			// that a badge links to exactly what was decided on.
			if got.Commitment != nil && got.Commitment != tt.st.Commitment {
				t.Errorf("Decision.Commitment does not point at st.Commitment")
			}
			if got.Inspection != nil {
				found := false
				for i := range tt.st.Inspections {
					found = found || got.Inspection == &tt.st.Inspections[i]
				}
				if !found {
					t.Errorf("Decision.Inspection does not point into st.Inspections")
				}
			}
		})
	}
}

func cloneStatus(t *testing.T, st *ProductStatus) *ProductStatus {
	t.Helper()
	if st == nil {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var c ProductStatus
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestVerdictKnown(t *testing.T) {
	t.Parallel()
	for _, v := range []Verdict{VerdictCommitted, VerdictInspectionFailed, VerdictWithdrawn, VerdictNotListed, VerdictUnknown} {
		if !v.Known() {
			t.Errorf("%q.Known() = false, want true", v)
		}
	}
	for _, v := range []Verdict{"", "Committed", "green", "unknown "} {
		if v.Known() {
			t.Errorf("%q.Known() = true, want false", v)
		}
	}
}

// benchDecideStatus is a full answer: five inspections, out of order, the
// deciding one neither first nor last.
func benchDecideStatus() *ProductStatus {
	return listedStatus(testActiveCommitment(),
		testInspection("ins_1", InspectionPass, verdictDaysAgo(100)),
		testInspection("ins_2", InspectionPending, verdictDaysAgo(5)),
		testInspection("ins_3", InspectionFail, verdictDaysAgo(40)),
		testInspection("ins_4", InspectionPass, verdictDaysAgo(20)),
		testInspection("ins_5", InspectionFail, verdictDaysAgo(400)),
	)
}

func TestDecideAllocs(t *testing.T) {
	st := benchDecideStatus()
	if n := testing.AllocsPerRun(100, func() { Decide(st, verdictNow, 0) }); n != 0 {
		t.Errorf("Decide: %v allocs per run, want 0", n)
	}
}

func BenchmarkDecide(b *testing.B) {
	st := benchDecideStatus()
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(st, verdictNow, 0); d.Verdict != VerdictCommitted {
			b.Fatalf("verdict %q, want committed", d.Verdict)
		}
	}
}

// DecideUntil's instant is honest: at every time from now until just
// before it, Decide says the same; and it is not lazy: at the instant (or
// just after it, for an inspection leaving the window) something changes
// or could.
func TestDecideUntilHoldsUntilItsInstant(t *testing.T) {
	base := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	active := func(eff, exp time.Time) *Commitment {
		return &Commitment{ID: "c", Status: CommitmentActive, EffectiveAt: eff, ExpiresAt: exp}
	}
	ins := func(id string, r InspectionResult, at time.Time) Inspection {
		return Inspection{ID: id, Result: r, PublishedAt: at}
	}
	statuses := map[string]*ProductStatus{
		"in force, no inspection": {Listed: true, Commitment: active(base.Add(-100*day), base.Add(100*day))},
		"not in force yet":        {Listed: true, Commitment: active(base.Add(10*day), base.Add(400*day))},
		"no end":                  {Listed: true, Commitment: active(base.Add(-100*day), time.Time{})},
		"pass then fail to come":  {Listed: true, Commitment: active(base.Add(-500*day), base.Add(500*day)), Inspections: []Inspection{ins("p", InspectionPass, base.Add(-30*day)), ins("f", InspectionFail, base.Add(20*day))}},
		"old fail leaving window": {Listed: true, Commitment: active(base.Add(-500*day), time.Time{}), Inspections: []Inspection{ins("f", InspectionFail, base.Add(-360*day))}},
		"pending only":            {Listed: true, Commitment: active(base.Add(-500*day), base.Add(3*day)), Inspections: []Inspection{ins("x", InspectionPending, base.Add(-day))}},
		"revoked":                 {Listed: true, Commitment: &Commitment{ID: "c", Status: CommitmentRevoked, StatusChangedAt: base.Add(-day)}},
		"not listed":              {Listed: false},
	}
	same := func(a, b Decision) bool {
		return a.Verdict == b.Verdict && a.Status == b.Status && a.Since.Equal(b.Since) && a.Commitment == b.Commitment && a.Inspection == b.Inspection
	}
	for name, st := range statuses {
		now := base
		for step := 0; step < 8; step++ {
			d, until := DecideUntil(st, now, 0)
			if !same(d, Decide(st, now, 0)) {
				t.Fatalf("%s: DecideUntil's decision differs from Decide's", name)
			}
			if until.IsZero() {
				// Never changes: check far ahead.
				for _, later := range []time.Duration{time.Hour, 400 * day, 4000 * day} {
					if !same(d, Decide(st, now.Add(later), 0)) {
						t.Errorf("%s: said never to change, but changes by %v", name, later)
					}
				}
				break
			}
			if !until.After(now) {
				t.Fatalf("%s: instant %v is not after now %v", name, until, now)
			}
			for _, at := range []time.Time{now, now.Add(until.Sub(now) / 3), now.Add(until.Sub(now) / 2), until.Add(-time.Nanosecond)} {
				if !same(d, Decide(st, at, 0)) {
					t.Errorf("%s: decision from %v changes at %v, before the instant %v", name, now, at, until)
				}
			}
			now = until.Add(time.Nanosecond) // step past the boundary and go on
		}
	}
}
