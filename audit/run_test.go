package audit_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// compareFindings checks verdicts, records and order; reasons and links
// are checked apart.
func compareFindings(t *testing.T, got, want []audit.Finding) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(audit.Finding{}, "Reason", "EnterpriseID", "VerifyURL")); diff != "" {
		t.Fatalf("findings differ (-want +got):\n%s", diff)
	}
	for _, f := range got {
		if f.Reason == "" {
			t.Fatalf("listing %s: no reason", f.Listing.ID)
		}
		if f.CommitmentID != "" && f.VerifyURL == "" {
			t.Fatalf("listing %s: no official link", f.Listing.ID)
		}
	}
}

// A catalogue of 2,000 listings over 250 products, with malformed rows
// among them: every flagged listing has its finding, in input order, with
// the verdict client.Decide gives the registry's answer; every bad row is
// counted; and the 250 keys cost ceil(250/100) calls.
func TestRunFindsWhatDecideSaysPerProduct(t *testing.T) {
	e := newEnv(t)
	keys := e.keys(t, 250)
	c := makeCatalogue(t, keys, 2000, 150)
	want := e.expected(t, c, false)

	var skipped []int
	var out sink
	before := e.srv.Requests(batchRoute)
	sum, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), &out,
		&audit.Options{Clock: now, OnRowError: func(re *audit.RowError) { skipped = append(skipped, re.Line) }})
	if err != nil {
		t.Fatal(err)
	}
	compareFindings(t, out.got, want)
	if !slices.Equal(skipped, c.bad) {
		t.Errorf("rows skipped at lines %v, want %v", skipped, c.bad)
	}
	calls := e.srv.Requests(batchRoute) - before
	if wantCalls := int64((len(keys) + 99) / 100); calls != wantCalls || sum.Calls != int(wantCalls) {
		t.Errorf("%d calls (summary %d), want %d", calls, sum.Calls, wantCalls)
	}
	if sum.Listings != 2000 || sum.Keys != 250 || sum.Malformed != len(c.bad) || sum.Findings != int64(len(want)) || sum.LookupFailed != 0 {
		t.Errorf("summary %+v", sum)
	}
	total := 0
	for _, n := range sum.Verdicts {
		total += n
	}
	if total != 2000 || sum.Verdicts[client.VerdictCommitted] != 2000-len(want) {
		t.Errorf("verdict counts %v", sum.Verdicts)
	}
	for _, v := range []client.Verdict{client.VerdictInspectionFailed, client.VerdictWithdrawn, client.VerdictNotListed} {
		if sum.Verdicts[v] == 0 {
			t.Errorf("no listing is %s: the catalogue should cover it", v)
		}
	}
}

// With All, every listing has a finding, committed ones included.
func TestRunAllWritesEveryListing(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 30), 120, 0)
	var out sink
	if _, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), &out,
		&audit.Options{Clock: now, All: true}); err != nil {
		t.Fatal(err)
	}
	compareFindings(t, out.got, e.expected(t, c, true))
}

// Strict stops at the first bad row, with its line, having written the
// findings of no window it had not finished.
func TestRunStrictStopsAtFirstBadRow(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 30), 200, 50)
	var out sink
	_, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), &out,
		&audit.Options{Clock: now, Strict: true})
	var re *audit.RowError
	if !errors.As(err, &re) || re.Line != c.bad[0] {
		t.Fatalf("err = %v, want a RowError at line %d", err, c.bad[0])
	}
	if !errors.Is(err, client.ErrInvalidID) {
		t.Errorf("err = %v, want the bad GTIN's IDError inside", err)
	}
}

// A header without a key column ends the run with the HeaderError.
func TestRunBadHeader(t *testing.T) {
	e := newEnv(t)
	in := "listing_id,seller,title,price\nL1,s,t,9.99\n"
	_, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader([]byte(in)), nil), &sink{}, nil)
	var he *audit.HeaderError
	if !errors.As(err, &he) || !slices.Equal(he.Found, []string{"listing_id", "seller", "title", "price"}) {
		t.Fatalf("err = %v, want a HeaderError listing the columns", err)
	}
	if n := e.srv.Requests(batchRoute); n != 0 {
		t.Errorf("%d calls for a file with no key column", n)
	}
}

// The registry down for the whole run: every listing is unknown, with
// the failure as its reason, none is guessed, and the summary says how
// many.
func TestRunAPIDownGivesUnknownNeverAGuess(t *testing.T) {
	e := newEnv(t)
	api, err := client.New(client.WithBaseURL(e.srv.URL), client.WithRetryPolicy(client.RetryPolicy{}),
		client.WithMaxPause(1)) // a nanosecond: the test waits out no pause
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	if err := e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503}); err != nil {
		t.Fatal(err)
	}
	c := makeCatalogue(t, e.keys(t, 150), 600, 0)
	var out sink
	sum, err := audit.Run(context.Background(), api, audit.ReadCSV(bytes.NewReader(c.csv), nil), &out,
		&audit.Options{Clock: now, MaxPauseWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.got) != 600 || sum.Unknown != 600 || sum.LookupFailed != 600 || sum.Verdicts[client.VerdictUnknown] != 600 {
		t.Fatalf("%d findings, summary %+v; want 600 unknown", len(out.got), sum)
	}
	for _, f := range out.got {
		if f.Verdict != client.VerdictUnknown || f.Code != audit.CodeNoAnswer || f.CommitmentID != "" || f.VerifyURL != "" {
			t.Fatalf("finding %+v is a guess", f)
		}
		if !bytes.Contains([]byte(f.Reason), []byte("lookup failed")) {
			t.Fatalf("reason %q does not say the lookup failed", f.Reason)
		}
	}
}

// A bounded memory of answers: past MaxKeys, keys are looked up again,
// and the findings are the same.
func TestRunDedupBoundCostsCallsNotFindings(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 250), 1000, 0)
	var out sink
	sum, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), &out,
		&audit.Options{Clock: now, MaxKeys: 120})
	if err != nil {
		t.Fatal(err)
	}
	compareFindings(t, out.got, e.expected(t, c, false))
	if sum.Keys <= 250 || sum.Calls <= 3 {
		t.Errorf("summary %+v: with 120 answers remembered, some of 250 keys should be looked up again", sum)
	}
}

// A cancelled run stops at its next window even when it has nothing left
// to look up (every product of the rest already answered).
func TestRunStopsWhenCancelledWithNothingToLookUp(t *testing.T) {
	e := newEnv(t)
	cat := makeCatalogue(t, e.keys(t, 5), 2000, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	read := 0
	listings := func(yield func(audit.Listing, error) bool) {
		for l, err := range audit.ReadCSV(bytes.NewReader(cat.csv), nil) {
			if read++; read == 1000 {
				cancel()
			}
			if !yield(l, err) {
				return
			}
		}
	}
	var out bytes.Buffer
	sum, err := audit.Run(ctx, e.api, listings, audit.NewCSVWriter(&out, false), &audit.Options{Clock: now, MaxWindow: 100})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a run cancelled halfway returned %v; want context.Canceled", err)
	}
	if sum.Listings >= 1000 {
		t.Errorf("a run cancelled at listing 1,000 audited %d", sum.Listings)
	}
}
