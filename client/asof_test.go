package client_test

import (
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// The registry's one clock: every change has a position one past the one
// before, a record's version is its latest change's position, and every
// answer says the position it reflects — so a cache can tell which of two
// answers is newer without comparing any machine's clock.
func TestEveryAnswerSaysThePositionItReflects(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)
	g := srv.Demo()[0].GTIN

	st, before, err := c.Products.ByGTIN(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if before.AsOf <= 0 || before.AsOf < st.Version {
		t.Fatalf("AsOf %d for a status of version %d: an answer reflects at least its own records", before.AsOf, st.Version)
	}

	for i := range 5 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	evs := feed(t, c)
	last := evs[len(evs)-1]
	for i, ev := range evs {
		if i > 0 && ev.Seq != evs[i-1].Seq+1 {
			t.Errorf("event %s at seq %d follows seq %d: positions grow by one", ev.ID, ev.Seq, evs[i-1].Seq)
		}
		if v := recordVersion(ev); v != ev.Seq {
			t.Errorf("event %s (%s): record version %d, seq %d", ev.ID, ev.Type, v, ev.Seq)
		}
	}
	if last.Seq <= before.AsOf {
		t.Fatalf("five changes after position %d end at seq %d", before.AsOf, last.Seq)
	}

	// A revalidation that finds the record unchanged still moves the
	// position forward: the copy is now known current up to it. (A case
	// concerns no product's status.)
	_, now, err := c.Products.ByGTIN(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.publish(3); err != nil {
		t.Fatal(err)
	}
	head := now.AsOf + 1
	_, again, err := c.Products.ByGTIN(ctx, g, &client.GetOptions{ETag: now.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if !again.NotModified || again.AsOf != head {
		t.Errorf("revalidated: NotModified %v, AsOf %d; want true, %d (the head)", again.NotModified, again.AsOf, head)
	}

	// The batch says it per result, for the results the registry gave.
	items, _, err := c.Products.Batch(ctx, []client.ProductKey{{GTIN: g}, {GTIN: srv.Demo()[1].GTIN}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.AsOf != head {
			t.Errorf("batch item %v: AsOf %d, want the head %d", it.Key, it.AsOf, head)
		}
	}
}

func recordVersion(ev client.Event) int64 {
	switch {
	case ev.Enterprise != nil:
		return ev.Enterprise.Version
	case ev.Commitment != nil:
		return ev.Commitment.Version
	case ev.Inspection != nil:
		return ev.Inspection.Version
	case ev.Case != nil:
		return ev.Case.Version
	case ev.Category != nil:
		return ev.Category.Version
	}
	return -1
}
