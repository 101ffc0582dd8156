package cache_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const (
	enterpriseRoute  = "GET /v1/enterprises/{id}"
	commitmentsRoute = "GET /v1/enterprises/{id}/commitments"
	inspectionsRoute = "GET /v1/inspections"
	enterprisesRoute = "GET /v1/enterprises"
)

// maker returns the id of the maker of the demo product with a verdict,
// and the id of the commitment the product rests on.
func (e *env) maker(t *testing.T, v client.Verdict) (ent, cmt string) {
	t.Helper()
	st, _, err := e.api.Products.ByGTIN(context.Background(), e.demo(v), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Commitment != nil {
		cmt = st.Commitment.ID
	}
	return st.Enterprise.ID, cmt
}

func TestEnquiryReadsAreCachedCoalescedAndCopied(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	id, _ := e.maker(t, client.VerdictCommitted)
	// Slow the API so that the concurrent readers find the fetch in flight.
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 50 * time.Millisecond, Route: enterpriseRoute})

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ent, err := e.cache.Enterprise(ctx, id)
			if err != nil || ent.ID != id {
				t.Errorf("Enterprise = %+v, %v", ent, err)
			}
		})
	}
	wg.Wait()
	a, err := e.cache.Enterprise(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(enterpriseRoute); n != 1 {
		t.Errorf("51 reads of one maker made %d calls; want 1", n)
	}
	// Each caller gets its own copy: changing one changes nothing cached.
	a.Name.EN = "changed by a caller"
	a.Categories[0] = "changed"
	b, _ := e.cache.Enterprise(ctx, id)
	if b.Name.EN == a.Name.EN || b.Categories[0] == "changed" {
		t.Errorf("a caller's change reached the cache: %+v", b)
	}

	page, err := e.cache.EnterpriseCommitments(ctx, id, nil)
	if err != nil || len(page.Data) == 0 {
		t.Fatalf("EnterpriseCommitments = %+v, %v", page, err)
	}
	if _, err := e.cache.EnterpriseCommitments(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(commitmentsRoute); n != 1 {
		t.Errorf("two reads of a maker's commitments made %d calls; want 1", n)
	}
	cmt, err := e.cache.Commitment(ctx, page.Data[0].ID)
	if err != nil || cmt.ID != page.Data[0].ID {
		t.Errorf("Commitment = %+v, %v", cmt, err)
	}
	cats, err := e.cache.Categories(ctx)
	if err != nil || len(cats.Data) < 3 || cats.NextCursor != "" {
		t.Errorf("Categories = %+v, %v; want one page of 3 or more", cats, err)
	}
}

func TestEnquiryReadOfAnUnknownRecordIsRememberedBriefly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	for range 3 {
		if _, err := e.cache.Enterprise(ctx, "ent_9999999"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Enterprise of an unknown id = %v; want ErrNotFound", err)
		}
	}
	if n := e.srv.Requests(enterpriseRoute); n != 1 {
		t.Errorf("three reads of an unknown maker made %d calls; want 1", n)
	}
	e.clock.Advance(cache.DefaultNegativeTTL + cache.DefaultStaleWhileRevalidate + time.Second)
	if _, err := e.cache.Enterprise(ctx, "ent_9999999"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Enterprise of an unknown id = %v; want ErrNotFound", err)
	}
	if n := e.srv.Requests(enterpriseRoute); n != 2 {
		t.Errorf("after the negative TTL: %d calls; want 2", n)
	}
	if _, err := e.cache.Enterprise(ctx, " "); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("Enterprise of a blank id = %v; want ErrInvalidInput", err)
	}
	if _, err := e.cache.EnterpriseCommitments(ctx, "", nil); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("EnterpriseCommitments of no maker = %v; want ErrInvalidInput", err)
	}
	if n := e.srv.Requests(""); n != 2 {
		t.Errorf("bad input reached the API: %d calls in all", n)
	}
}

// A change pushed through the feed reaches every cached read of its maker:
// the next read asks the API again and shows it.
func TestAChangeReachesTheMakersEnquiryReads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	id, cmtID := e.maker(t, client.VerdictCommitted)
	g := e.demo(client.VerdictCommitted)
	if _, err := e.cache.EnterpriseCommitments(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	before, err := e.cache.Inspections(ctx, &client.InspectionListOptions{Enterprise: id})
	if err != nil {
		t.Fatal(err)
	}
	// A search no change can name.
	if _, err := e.cache.Enterprises(ctx, &client.EnterpriseListOptions{Category: "toys"}); err != nil {
		t.Fatal(err)
	}
	f := startFollowerAt(t, e.api, e.cache.Store(), e.clock)
	f.started(t)
	e.clock.Advance(time.Millisecond) // the change comes after the reads

	if _, err := e.srv.Revoke(cmtID); err != nil {
		t.Fatal(err)
	}
	f.next(t)
	page, err := e.cache.EnterpriseCommitments(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(page.Data, func(c client.Commitment) bool { return c.ID == cmtID })
	if i < 0 || page.Data[i].Status != client.CommitmentRevoked {
		t.Errorf("after the revocation was pushed, the maker's commitments show %+v", page.Data)
	}

	e.clock.Advance(time.Millisecond)
	in, err := e.srv.PublishInspection(g, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	f.next(t)
	after, err := e.cache.Inspections(ctx, &client.InspectionListOptions{Enterprise: id})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(after.Data, func(x client.Inspection) bool { return x.ID == in.ID }) {
		t.Errorf("the pushed inspection %s is not among the maker's %d inspections (had %d)", in.ID, len(after.Data), len(before.Data))
	}
	// Every read of the maker is dropped by any change of it, this list
	// too: one more fetch.
	if _, err := e.cache.EnterpriseCommitments(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(commitmentsRoute); n != 3 {
		t.Errorf("the maker's commitments were fetched %d times; want 3 (before and after each change)", n)
	}

	// A search no change can name lives out its short TTL (the API's
	// max-age for lists), then is asked again.
	if _, err := e.cache.Enterprises(ctx, &client.EnterpriseListOptions{Category: "toys"}); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(enterprisesRoute); n != 1 {
		t.Errorf("the search was fetched %d times within its TTL; want 1", n)
	}
	e.clock.Advance(cache.DefaultNegativeTTL + cache.DefaultStaleWhileRevalidate + time.Second)
	if _, err := e.cache.Enterprises(ctx, &client.EnterpriseListOptions{Category: "toys"}); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Requests(enterprisesRoute); n != 2 {
		t.Errorf("the search was fetched %d times past its TTL; want 2", n)
	}
}

func TestEnquiryReadsAreServedStaleWhileTheAPIIsDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	id, _ := e.maker(t, client.VerdictCommitted)
	want, err := e.cache.Enterprise(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
	e.clock.Advance(cache.DefaultTTL + cache.DefaultStaleWhileRevalidate + time.Minute)
	got, err := e.cache.Enterprise(ctx, id)
	if err != nil || got.ID != want.ID {
		t.Fatalf("with the API down, Enterprise = %+v, %v; want the stale copy", got, err)
	}
	if s := e.cache.Stats(); s.StaleIfError != 1 {
		t.Errorf("StaleIfError = %d; want 1", s.StaleIfError)
	}
	// A read never made before has nothing to fall back on.
	if _, err := e.cache.Cases(ctx, nil); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Cases with the API down = %v; want ErrUnavailable", err)
	}
}

// Pages are client.List values, stored as the earlier releases stored
// them ("items"): the servers of two releases sharing a Redis read each
// other's pages during a rolling upgrade.
func TestAPageStoredByAnEarlierReleaseIsRead(t *testing.T) {
	t.Parallel()
	store := must(cache.NewMemory())
	defer store.Close()
	api, err := client.New(client.WithBaseURL("http://127.0.0.1:1"), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	qc, err := cache.New(api, cache.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	ctx := context.Background()
	now := time.Now()
	key := cache.ReadKey("cases", "", "", "20", "")
	earlier := `{"items":[{"id":"case_0000001","title":{"zh":"案例"}}],"next_cursor":"c2"}`
	if _, err := store.Set(ctx, key, &cache.Entry{Raw: []byte(earlier), Version: 1, Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	page, err := qc.Cases(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Limit: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "case_0000001" || page.NextCursor != "c2" {
		t.Errorf("the earlier release's page read as %+v", page)
	}
}
