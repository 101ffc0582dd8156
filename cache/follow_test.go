package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// follower runs Follow in the background and reports each applied event.
type follower struct {
	applied chan client.Event
	synced  chan struct{} // a resynchronisation, at most one noted
	done    chan error
	cancel  context.CancelFunc
}

func startFollower(t testing.TB, api *client.Client, store cache.Store) *follower {
	t.Helper()
	return startFollowerAt(t, api, store, nil)
}

// startFollowerAt is startFollower on a clock of the test's.
func startFollowerAt(t testing.TB, api *client.Client, store cache.Store, clk *fakeClock) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{applied: make(chan client.Event, 100), synced: make(chan struct{}, 1), done: make(chan error, 1), cancel: cancel}
	go func() {
		f.done <- cache.Follow(ctx, api, store, &cache.FollowOptions{
			Clock:         clk.Now,
			Logger:        slog.New(slog.NewTextHandler(tbWriter{t}, nil)),
			FollowOptions: client.FollowOptions{Wait: 5 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
			Applied:       func(ev client.Event) { f.applied <- ev },
			Resynced: func(error) {
				select {
				case f.synced <- struct{}{}:
				default:
				}
			},
		})
	}()
	t.Cleanup(f.stop)
	return f
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
	f.done <- context.Canceled // later stops return at once
}

// started waits until a follower that had no cursor has marked what was
// cached as to be revalidated, so that answers fetched afterwards are not.
func (f *follower) started(t testing.TB) {
	t.Helper()
	select {
	case <-f.synced:
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("the follower did not start within 10s")
	}
}

func (f *follower) next(t *testing.T) client.Event {
	t.Helper()
	select {
	case ev := <-f.applied:
		return ev
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("no event applied within 10s")
		return client.Event{}
	}
}

// A product's new inspection, and a change of its maker, each make the
// next lookup ask the API, once: the status served after it is the
// registry's, with the proof that verifies it.
func TestFollowAppliesChanges(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	committed := string(e.demo(client.VerdictCommitted))
	st, err := statusByGTIN(e.cache, ctx, client.GTIN(committed))
	if err != nil {
		t.Fatal(err)
	}
	f := startFollowerAt(t, e.api, e.cache.Store(), e.clock)
	f.started(t)
	e.clock.Advance(time.Millisecond) // the changes come after the lookup

	if _, err := e.srv.PublishInspection(client.GTIN(committed), client.InspectionFail); err != nil {
		t.Fatal(err)
	}
	if ev := f.next(t); ev.Type != client.EventInspectionPublished {
		t.Fatalf("applied %s, want inspection.published", ev.Type)
	}
	got, err := statusByGTIN(e.cache, ctx, client.GTIN(committed))
	if err != nil {
		t.Fatal(err)
	}
	if d := client.Decide(got, time.Now(), 0); d.Verdict != client.VerdictInspectionFailed {
		t.Errorf("after a failed inspection was pushed: %s, want inspection_failed", d.Verdict)
	}
	if got.Version <= st.Version {
		t.Errorf("version %d did not grow past %d", got.Version, st.Version)
	}
	// What the cache serves after the change is what the registry's log
	// proves, so that its badge verifies for anyone.
	if err := client.VerifyStatus(got, e.srv.LogKeys(), time.Now()); err != nil {
		t.Errorf("the status served after the inspection does not verify: %v", err)
	}
	if n := e.srv.Requests(productRoute); n != 2 {
		t.Errorf("the API was asked %d times; want 2: the inspected product is asked about once, as its maker's stamp makes its entry old", n)
	}

	e.clock.Advance(time.Millisecond)
	if _, err := e.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	f.next(t)
	for range 3 {
		got, _ = statusByGTIN(e.cache, ctx, client.GTIN(committed))
		if d := client.Decide(got, time.Now(), 0); d.Verdict != client.VerdictWithdrawn {
			t.Errorf("after the revocation was pushed: %s, want withdrawn", d.Verdict)
		}
	}
	if n := e.srv.Requests(productRoute); n != 3 {
		t.Errorf("the API was asked %d times; want 3: a change of the maker is asked about once", n)
	}
}

func TestFollowResumesFromItsCursorAfterARestart(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var ids []string
	for _, d := range e.srv.Demo()[:4] {
		st, err := statusByGTIN(e.cache, ctx, d.GTIN)
		if err != nil {
			t.Fatal(err)
		}
		if st.Commitment != nil {
			ids = append(ids, st.Commitment.ID)
		}
	}
	f := startFollower(t, e.api, e.cache.Store())
	f.started(t)
	if _, err := e.srv.SetCommitmentStatus(ids[0], client.CommitmentSuspended, nil); err != nil {
		t.Fatal(err)
	}
	first := f.next(t)
	f.stop()

	// Changes published while no follower runs are not lost.
	for _, id := range ids[1:] {
		if _, err := e.srv.Revoke(id); err != nil {
			t.Fatal(err)
		}
	}
	f2 := startFollower(t, e.api, e.cache.Store())
	seen := map[string]bool{}
	for range len(ids) - 1 {
		ev := f2.next(t)
		if ev.ID == first.ID {
			t.Errorf("event %s was applied again after the restart", ev.ID)
		}
		if seen[ev.ID] {
			t.Errorf("event %s applied twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	for _, id := range ids[1:] {
		c, _, err := e.api.Commitments.Get(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != client.CommitmentRevoked {
			t.Fatalf("sandbox commitment %s is %s", id, c.Status)
		}
	}
	select {
	case ev := <-f2.applied:
		t.Errorf("an extra event %s was applied", ev.ID)
	default:
	}
	cur, err := e.cache.Store().Get(ctx, cache.CursorKey)
	if err != nil || cur == nil || cur.Cursor == "" {
		t.Fatalf("no cursor saved: %+v, %v", cur, err)
	}
}

func TestFollowStopsWithItsContext(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cache.Follow(ctx, e.api, e.cache.Store(), nil) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("Follow did not stop within 10s of its context ending")
	}
}

func TestWebhookPushesApplyLikeTheFeed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	g := string(e.demo(client.VerdictCommitted))
	st, err := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if err != nil {
		t.Fatal(err)
	}
	applied := make(chan struct{}, 1)
	h := client.WebhookHandler(client.WebhookVerifier{Secrets: []string{"whsec_test"}}, func(ctx context.Context, ev client.Event) error {
		return cache.Apply(ctx, e.cache.Store(), ev)
	})
	recv := httptest.NewServer(httpAfter(h, func() { applied <- struct{}{} }))
	t.Cleanup(recv.Close)
	if err := e.srv.AddWebhook(recv.URL, "whsec_test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("no push within 10s")
	}
	// The push is learnt of by the real clock, which the cache's must
	// pass for its next answer to postdate it.
	e.clock.Advance(time.Hour)
	got, _ := statusByGTIN(e.cache, ctx, client.GTIN(g))
	if d := client.Decide(got, time.Now(), 0); d.Verdict != client.VerdictWithdrawn {
		t.Errorf("after the pushed revocation: %s, want withdrawn", d.Verdict)
	}
	if n := e.srv.Requests(productRoute); n != 2 {
		t.Errorf("%d lookups; want 2: the push makes the next lookup ask once", n)
	}
}

// httpAfter calls fn after h has answered each request.
func httpAfter(h http.Handler, fn func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		fn()
	})
}

// A follower that says it has caught up has applied every change published
// before: a service reports itself ready on it.
func TestFollowSaysWhenItHasCaughtUp(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	committed := e.demo(client.VerdictCommitted)
	st, err := statusByGTIN(e.cache, ctx, committed)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	caughtUp := make(chan struct{}, 1)
	stats := new(cache.FollowStats)
	done := make(chan error, 1)
	go func() {
		done <- cache.Follow(ctx, e.api, e.cache.Store(), &cache.FollowOptions{
			FollowOptions: client.FollowOptions{Wait: 50 * time.Millisecond, CaughtUp: func() {
				select {
				case caughtUp <- struct{}{}:
				default:
				}
			}},
			Clock: e.clock.Now, Stats: stats,
		})
	}()
	select {
	case <-caughtUp:
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("the follower never said it had caught up")
	}
	if stats.CaughtUp.Load() == 0 || stats.Applied.Load() == 0 {
		t.Errorf("caught up with stats %d applied, caught up at %d", stats.Applied.Load(), stats.CaughtUp.Load())
	}
	got, err := statusByGTIN(e.cache, ctx, committed)
	if err != nil {
		t.Fatal(err)
	}
	if d := client.Decide(got, time.Now(), 0); d.Verdict != client.VerdictWithdrawn {
		t.Errorf("caught up, the revoked product reads %s", d.Verdict)
	}
	cancel()
	<-done
}

// The platform's own work on an event runs under the follower's lease
// before the event's cursor is saved, and is retried when it fails: the
// event is never passed over.
func TestFollowHandlesEachEventBeforeSavingItsCursor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := statusByGTIN(e.cache, ctx, e.demo(client.VerdictCommitted))
	if err != nil {
		t.Fatal(err)
	}
	store := e.cache.Store()
	var calls atomic.Int64
	var seenCursor atomic.Value // the saved cursor when Handle last ran
	applied := make(chan client.Event, 1)
	caughtUp := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- cache.Follow(ctx, e.api, store, &cache.FollowOptions{
			FollowOptions: client.FollowOptions{Wait: 50 * time.Millisecond, CaughtUp: func() {
				select {
				case caughtUp <- struct{}{}:
				default:
				}
			}},
			Clock: e.clock.Now,
			Handle: func(ctx context.Context, ev client.Event) error {
				cur, _ := store.Get(ctx, cache.CursorKey)
				saved := ""
				if cur != nil {
					saved = cur.Cursor
				}
				seenCursor.Store(saved + "|" + ev.Cursor)
				if calls.Add(1) <= 2 {
					return errors.New("the platform's database is busy")
				}
				return nil
			},
			Applied: func(ev client.Event) { applied <- ev },
		})
	}()
	select {
	case <-caughtUp:
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("the follower never caught up")
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	var ev client.Event
	select {
	case ev = <-applied:
	case <-time.After(timescale.Scale(10 * time.Second)):
		t.Fatal("the revocation was never applied")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("Handle ran %d times for an event it failed twice; want 3", n)
	}
	saved, current, _ := strings.Cut(seenCursor.Load().(string), "|")
	if saved == current || current != ev.Cursor {
		t.Errorf("when Handle ran, the saved cursor was %q for event %q: saved before the platform handled it", saved, current)
	}
	cur, err := store.Get(ctx, cache.CursorKey)
	if err != nil || cur == nil || cur.Cursor != ev.Cursor {
		t.Errorf("after the event, the saved cursor is %+v (%v); want %q", cur, err, ev.Cursor)
	}
	cancel()
	<-done
}

// unreadable is a store whose entries cannot be read (the shard that holds
// them is failing over), and which records the stamps it is given.
type unreadable struct {
	cache.Store
	stamps []cache.Stamp
}

func (*unreadable) Get(context.Context, string) (*cache.Entry, error) {
	return nil, errors.New("CLUSTERDOWN The cluster is down")
}

func (u *unreadable) Stamp(ctx context.Context, s cache.Stamp) error {
	u.stamps = append(u.stamps, s)
	return u.Store.Stamp(ctx, s)
}

// An inspection is applied to the product's entry exactly, which needs
// the entry read first; when that read failed (its shard failing over),
// the change used to go no further — no stamp, so no server heard of it
// until the follower's backlog got the read through. The maker's stamp,
// which tells every server, does not need the read: it is recorded all
// the same, and the change is done.
func TestAnInspectionWhoseEntryCannotBeReadStampsItsMaker(t *testing.T) {
	t.Parallel()
	store := &unreadable{Store: must(cache.NewMemory())}
	t.Cleanup(func() { store.Store.(*cache.Memory).Close() })
	ev := client.Event{ID: "evt_1", Seq: 42, Type: client.EventInspectionPublished,
		Inspection: &client.Inspection{ID: "ins_1", EnterpriseID: "ent_7", Version: 42,
			Product: client.SampledProduct{GTIN: "06901234567892"}}}
	if err := cache.Apply(context.Background(), store, ev); err != nil {
		t.Errorf("Apply = %v; want nil: the maker's stamp records the change", err)
	}
	want := []cache.Stamp{{Maker: "ent_7", Seq: 42}}
	if diff := cmp.Diff(want, store.stamps); diff != "" {
		t.Errorf("stamps recorded (-want +got):\n%s", diff)
	}
}
