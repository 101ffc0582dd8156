package client_test

import (
	"errors"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// A status a cache reads back from a shared tier is checked as an answer
// is: a genuine one passes; one whose record, version or proof was
// rewritten, one carrying no proof, one signed by a key that is not the
// registry's and one from a tree of the client's latest size with another
// root are each a *VerifyError of its cause, counted once.
func TestVerifyCached(t *testing.T) {
	t.Parallel()
	srv, c, forked := setupForkable(t)
	ctx := ctxT(t)
	d := demoOf(t, srv, client.VerdictCommitted)
	key := client.ProductKey{GTIN: d.GTIN}
	if _, err := srv.ForkLog("forked-key"); err != nil {
		t.Fatal(err)
	}
	// The change where the two histories part; the genuine status is
	// asked after it, so that the client's latest is the genuine tree.
	if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyCached(ctx, st); err != nil {
		t.Fatalf("a genuine status: %v", err)
	}
	if got := c.Stats().LogFailures; got != (client.LogFailureCounts{}) {
		t.Fatalf("failures after a genuine status: %+v", got)
	}
	forked.Store(true)
	other, _, err := c.Log.Checkpoint(ctx)
	forked.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	// The history goes on: the other tree is of a size the client's
	// latest checkpoint has been, not of the latest's.
	if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	rogue, _ := rogueKey(t, c.LatestCheckpoint().Origin)

	for _, tc := range []struct {
		name  string
		edit  func(st *client.ProductStatus)
		cause error
		count func(client.LogFailureCounts) int64
	}{
		{"a record rewritten", func(st *client.ProductStatus) {
			cm := *st.Commitment
			cm.ExpiresAt = cm.ExpiresAt.AddDate(10, 0, 0)
			st.Commitment = &cm
		}, client.ErrLogProof, func(n client.LogFailureCounts) int64 { return n.Proof }},
		{"a higher version", func(st *client.ProductStatus) { st.Version += 1000 },
			client.ErrLogProof, func(n client.LogFailureCounts) int64 { return n.Proof }},
		{"no proof", func(st *client.ProductStatus) { st.Proof = nil },
			client.ErrLogProof, func(n client.LogFailureCounts) int64 { return n.Proof }},
		{"an inclusion proof cut", func(st *client.ProductStatus) {
			p := *st.Proof
			p.Records = append([]client.RecordProof(nil), p.Records...)
			p.Records[0].Proof = p.Records[0].Proof[:len(p.Records[0].Proof)-1]
			st.Proof = &p
		}, client.ErrLogProof, func(n client.LogFailureCounts) int64 { return n.Proof }},
		{"signed by another key", func(st *client.ProductStatus) {
			p := *st.Proof
			p.Checkpoint = resign(t, p.Checkpoint, rogue)
			st.Proof = &p
		}, client.ErrCheckpointSignature, func(n client.LogFailureCounts) int64 { return n.Signature }},
		{"another history's tree", func(st *client.ProductStatus) {
			p := *st.Proof
			p.Checkpoint = string(other)
			st.Proof = &p
		}, client.ErrLogFork, func(n client.LogFailureCounts) int64 { return n.Fork }},
	} {
		before := tc.count(c.Stats().LogFailures)
		bad := *st
		tc.edit(&bad)
		err := c.VerifyCached(ctx, &bad)
		var ve *client.VerifyError
		if !errors.As(err, &ve) || !errors.Is(err, tc.cause) || ve.Key != key {
			t.Errorf("%s: %v (%T); want a *VerifyError for %+v matching %v", tc.name, err, err, key, tc.cause)
		}
		if got := tc.count(c.Stats().LogFailures); got != before+1 {
			t.Errorf("%s: counted %d times; want once", tc.name, got-before)
		}
	}
	if err := c.VerifyCached(ctx, st); err != nil {
		t.Errorf("the genuine status after the forgeries: %v", err)
	}
}

// Statuses a fleet's Redis holds were answered over time, each under the
// checkpoint of its day. Reading them back checks each checkpoint's
// signature once, not on every read: a listing page read from Redis on a
// cold server must not pay a signature per product.
func TestVerifyCachedChecksEachCheckpointOnce(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{})
	ctx := ctxT(t)
	d := demoOf(t, srv, client.VerdictCommitted)
	var sts []*client.ProductStatus
	for range 40 {
		if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
		st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	for range 2 {
		for _, st := range sts {
			if err := c.VerifyCached(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, _ := client.VerifyCosts(c)
	for _, st := range sts {
		if err := c.VerifyCached(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := client.VerifyCosts(c); after != before {
		t.Errorf("reading 40 statuses of 40 checkpoints again checked %d signatures; want none", after-before)
	}
}
