package watch_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// runner runs a Watcher's Run in the background and hands over each event
// it handled.
type runner struct {
	t       *testing.T
	mu      sync.Mutex
	got     sink
	handled chan client.Event
	cancel  context.CancelFunc
	done    chan error
}

func startRun(t *testing.T, e *env, idx *watch.Index) *runner {
	r := &runner{t: t, got: sink{}, handled: make(chan client.Event, 16), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	w := newWatcher(t, e, idx,
		watch.WithOnFinding(func(f audit.Finding) { r.mu.Lock(); r.got.Write(f); r.mu.Unlock() }),
		watch.WithHandled(func(ev client.Event) { r.handled <- ev }))
	go func() { r.done <- w.Run(ctx, &client.FollowOptions{Wait: 5 * time.Second}) }()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		r.t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// next waits for the next event handled, and returns the findings given
// for it, clearing them.
func (r *runner) next() (client.Event, sink) {
	r.t.Helper()
	select {
	case ev := <-r.handled:
		r.mu.Lock()
		defer r.mu.Unlock()
		got := r.got
		r.got = sink{}
		return ev, got
	case <-time.After(timescale.Scale(60 * time.Second)): // a guard against a hang, not a synchronisation
		r.t.Fatal("no event handled in 60 s")
		return client.Event{}, nil
	}
}

// revocationTouches is the rule of a brand-scoped commitment c of maker en
// revoked: the listings of en whose key or product its scope covers.
func revocationTouches(items map[string]item, en int, c *client.Commitment) []string {
	var want []string
	for id, it := range items {
		if it.e == en && (c.Scope.Covers(it.key.GTIN, it.key.Brand, it.key.Model) ||
			it.key.GTIN != "" && c.Scope.Covers(it.key.GTIN, it.prod.Brand, it.prod.Model)) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	return want
}

// TestRunLearnsMakersAfterAKilledFirstStart: the feed position was saved
// and the start that was to learn every key's maker was killed part way.
// Run, started again, still finds every GTIN-keyed listing under a
// commitment that names brands rather than GTIN prefixes.
func TestRunLearnsMakersAfterAKilledFirstStart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	csvText, items := catalogue(t, e)
	idx := openIndex(t, csvText)
	head, err := e.api.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SaveCursor(ctx, head); err != nil {
		t.Fatal(err)
	}
	// The first start, killed after its first findings.
	kctx, kill := context.WithCancel(ctx)
	w := newWatcher(t, e, idx, watch.WithOnFinding(func(audit.Finding) { kill() }))
	if err := w.Recheck(kctx); err == nil {
		t.Fatal("the killed first start ran to its end: the test proves nothing")
	}

	r := startRun(t, e, idx)
	en, c := pick(t, e, false)
	if _, err := e.srv.Revoke(c.ID); err != nil {
		t.Fatal(err)
	}
	ev, got := r.next()
	if ev.Type != client.EventCommitmentRevoked {
		t.Fatalf("event handled: %s, want the revocation", ev.Type)
	}
	want := revocationTouches(items, en, c)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Fatalf("listings found for the revocation of %s (-rules +watcher):\n%s", c.ID, diff)
	}
}
