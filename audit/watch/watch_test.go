package watch_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// TestRecheckMatchesAudit: re-deciding the whole index gives every
// listing the finding a full audit with All gives it.
func TestRecheckMatchesAudit(t *testing.T) {
	e := newEnv(t)
	csvText, items := catalogue(t, e)
	idx := openIndex(t, csvText)
	if n, err := idx.Len(context.Background()); err != nil || n != len(items) {
		t.Fatalf("index holds %d listings (%v), want %d", n, err, len(items))
	}
	got := sink{}
	w := newWatcher(t, e, idx, watch.WithOnFinding(func(f audit.Finding) { got.Write(f) }))
	if err := w.Recheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullAudit(t, e, csvText), got, ignoreWhen); diff != "" {
		t.Fatalf("Recheck and audit.Run differ (-audit +recheck):\n%s", diff)
	}
}

// TestEventsTouchExactlyTheirListings revokes a commitment, publishes a
// failed inspection and delists a maker, and checks after each that the
// findings name exactly the listings the record touches by the mapping
// rules, that no listing the change moved is missed (a full audit before
// and after, diffed), and that each finding is the full audit's.
func TestEventsTouchExactlyTheirListings(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	csvText, items := catalogue(t, e)
	idx := openIndex(t, csvText)
	got := sink{}
	w := newWatcher(t, e, idx, watch.WithOnFinding(func(f audit.Finding) { got.Write(f) }))
	if err := w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	before := fullAudit(t, e, csvText)
	cursor, err := e.api.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A commitment scoped by brands only: its GTIN listings are found
	// through the makers learnt by Recheck.
	revokedMaker, c := pick(t, e, false)
	// An inspection of a product of another maker.
	inspMaker, _ := pick(t, e, false, revokedMaker)
	inspProd, _ := e.srv.Product(inspMaker, 3)
	// A maker whose commitment names GTIN prefixes.
	delistMaker, _ := pick(t, e, true, revokedMaker, inspMaker)

	steps := []struct {
		name    string
		do      func() error
		touches func(it item) bool
	}{
		{"revoke " + c.ID, func() error { _, err := e.srv.Revoke(c.ID); return err },
			func(it item) bool {
				return it.e == revokedMaker && c.Scope.Covers(it.key.GTIN, it.key.Brand, it.key.Model) ||
					it.e == revokedMaker && it.key.GTIN != "" && c.Scope.Covers(it.key.GTIN, it.prod.Brand, it.prod.Model)
			}},
		{"fail " + string(inspProd.GTIN), func() error {
			_, err := e.srv.PublishInspection(inspProd.GTIN, client.InspectionFail)
			return err
		}, func(it item) bool {
			return it.prod.GTIN == inspProd.GTIN ||
				it.e == inspMaker && it.key.USCC != "" && it.key.Brand == inspProd.Brand && it.key.Model == ""
		}},
		{"delist " + itoa(delistMaker), func() error { return e.srv.Delist(entID(delistMaker)) },
			func(it item) bool { return it.e == delistMaker }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, e, cursor)
			cursor = ev.Cursor
			clear(got)
			if err := w.Handle(ctx, ev); err != nil {
				t.Fatal(err)
			}
			after := fullAudit(t, e, csvText)

			var want []string
			for id, it := range items {
				if s.touches(it) {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			touched := slices.Sorted(maps.Keys(got))
			if diff := cmp.Diff(want, touched); diff != "" {
				t.Errorf("listings touched (-rules +watcher):\n%s", diff)
			}
			moved := 0
			for id, f := range after {
				if cmp.Equal(f, before[id]) {
					continue
				}
				moved++
				if _, ok := got[id]; !ok {
					t.Errorf("listing %s moved from %s to %s, the watcher missed it", id, before[id].Verdict, f.Verdict)
				}
			}
			if moved == 0 {
				t.Errorf("the change moved no listing: the test proves nothing")
			}
			for id, f := range got {
				if diff := cmp.Diff(after[id], f, ignoreWhen); diff != "" {
					t.Errorf("listing %s (-audit +watcher):\n%s", id, diff)
				}
				if c := f.Cause; c == nil || c.EventID != ev.ID || c.Seq != ev.Seq || c.Seq == 0 || !c.OccurredAt.Equal(ev.OccurredAt) || c.Type != string(ev.Type) {
					t.Errorf("listing %s: finding caused by %+v, want event %s (seq %d)", id, f.Cause, ev.ID, ev.Seq)
				}
				if !f.DecidedAt.Equal(now()) {
					t.Errorf("listing %s: decided at %v, want the watcher's clock %v", id, f.DecidedAt, now())
				}
			}
			t.Logf("%s: %d listings touched, %d moved", ev.Type, len(got), moved)
			before = after
		})
	}
}

// ignoreWhen leaves out of a comparison with the full audit what only the
// watcher says: the change behind a finding and when it was decided.
var ignoreWhen = cmpopts.IgnoreFields(audit.Finding{}, "Cause", "DecidedAt")

func entID(en int) string { return "ent_" + pad7(en+1) }

func pad7(n int) string {
	s := itoa(n)
	for len(s) < 7 {
		s = "0" + s
	}
	return s
}

// TestIndexPutDelete: incremental changes are what a later event sees.
func TestIndexPutDelete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	demo := e.srv.Demo()
	idx := openIndex(t, []byte("listing_id,seller,title,gtin\nA-1,s,kettle,"+string(demo[0].GTIN)+"\n"))
	var got []string
	w := newWatcher(t, e, idx, watch.WithOnFinding(func(f audit.Finding) { got = append(got, f.Listing.ID) }))
	if err := idx.Put(ctx, audit.Listing{ID: "A-2", Title: "kettle", Key: client.ProductKey{GTIN: client.GTIN(string(demo[0].GTIN)[1:])}}); err != nil {
		t.Fatal(err)
	}
	if err := idx.Put(ctx, audit.Listing{ID: "bad", Key: client.ProductKey{GTIN: "123"}}); err == nil {
		t.Fatal("Put took a malformed GTIN")
	}
	if err := w.Handle(ctx, client.Event{Type: client.EventInspectionPublished,
		Inspection: &client.Inspection{Product: client.SampledProduct{GTIN: demo[0].GTIN}}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A-1", "A-2"}; !slices.Equal(got, want) {
		t.Fatalf("findings for %v, want %v", got, want)
	}
	if err := idx.Delete(ctx, "A-1"); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := w.Handle(ctx, client.Event{Type: client.EventInspectionPublished,
		Inspection: &client.Inspection{Product: client.SampledProduct{GTIN: demo[0].GTIN}}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A-2"}; !slices.Equal(got, want) {
		t.Fatalf("after Delete, findings for %v, want %v", got, want)
	}
}

// TestRunResumes stops Run after one event, publishes two more while it
// is down, and starts it again: it handles the two, in order, and not the
// first again.
func TestRunResumes(t *testing.T) {
	e := newEnv(t)
	csvText, _ := catalogue(t, e)
	idx := openIndex(t, csvText)
	head, err := e.api.Changes.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SaveCursor(context.Background(), head); err != nil {
		t.Fatal(err)
	}
	handled := make(chan client.Event, 16)
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		w := newWatcher(t, e, idx, watch.WithHandled(func(ev client.Event) { handled <- ev }))
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, &client.FollowOptions{Wait: 5 * time.Second}) }()
		return func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		}
	}
	recv := func() client.Event {
		t.Helper()
		select {
		case ev := <-handled:
			return ev
		case <-time.After(timescale.Scale(30 * time.Second)): // a guard against a hang, not a synchronisation
			t.Fatal("no event handled in 30 s")
			return client.Event{}
		}
	}

	_, c1 := pick(t, e, false)
	p2, _ := e.srv.Product(20, 1)
	stop := start()
	if _, err := e.srv.Revoke(c1.ID); err != nil {
		t.Fatal(err)
	}
	ev1 := recv()
	stop()
	if ev1.Type != client.EventCommitmentRevoked || ev1.Commitment.ID != c1.ID {
		t.Fatalf("first event handled: %s, want the revocation of %s", ev1.Type, c1.ID)
	}
	if cur, err := idx.Cursor(context.Background()); err != nil || cur != ev1.Cursor {
		t.Fatalf("saved cursor %q (%v), want the revocation's %q", cur, err, ev1.Cursor)
	}

	if _, err := e.srv.PublishInspection(p2.GTIN, client.InspectionFail); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Delist(entID(30)); err != nil {
		t.Fatal(err)
	}
	stop = start()
	ev2, ev3 := recv(), recv()
	stop()
	if ev2.Type != client.EventInspectionPublished || ev3.Type != client.EventEnterpriseDelisted {
		t.Fatalf("after the restart: %s then %s, want the inspection then the delisting", ev2.Type, ev3.Type)
	}
	select {
	case ev := <-handled:
		t.Fatalf("a fourth event handled: %s %s", ev.Type, ev.ID)
	default:
	}
	if cur, _ := idx.Cursor(context.Background()); cur != ev3.Cursor {
		t.Fatalf("saved cursor %q, want the delisting's %q", cur, ev3.Cursor)
	}
}
