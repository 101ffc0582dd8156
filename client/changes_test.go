package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// polls signals each change-feed request as it reaches the sandbox, so a
// test can act while a long poll is held rather than guess with a sleep.
type polls struct {
	arrived chan string // the request's "after"
}

func newPolls() *polls { return &polls{arrived: make(chan string, 64)} }

func (p *polls) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/changes" {
			select {
			case p.arrived <- r.URL.Query().Get("after"):
			default:
			}
		}
		next.ServeHTTP(w, r)
	})
}

// publisher makes the registry changes the feed tests watch for.
type publisher struct {
	srv         *sandbox.Sandbox
	commitments []string // one commitment of each of the first enterprises
	entIDs      []string
	gtin        client.GTIN
}

func newPublisher(t *testing.T, srv *sandbox.Sandbox, c *client.Client) *publisher {
	t.Helper()
	p := &publisher{srv: srv, gtin: srv.Demo()[1].GTIN}
	for _, e := range allEnterprises(t, c)[:3] {
		cms, _, err := c.Commitments.ListByEnterprise(ctxT(t), e.ID, nil)
		if err != nil || len(cms.Data) == 0 {
			t.Fatalf("commitments of %s: %v, %v", e.ID, cms.Data, err)
		}
		p.commitments = append(p.commitments, cms.Data[0].ID)
		p.entIDs = append(p.entIDs, e.ID)
	}
	return p
}

// publishedTypes are the event types publish(0) to publish(4) make.
var publishedTypes = []client.EventType{
	client.EventCommitmentRevoked,
	client.EventInspectionPublished,
	client.EventEnterpriseUpdated,
	client.EventCasePublished,
	client.EventCommitmentUpdated,
}

// publish makes change i of five different kinds. It may run on any
// goroutine, so it reports failure as an error rather than through t.
func (p *publisher) publish(i int) error {
	var err error
	switch i {
	case 0:
		_, err = p.srv.Revoke(p.commitments[0])
	case 1:
		_, err = p.srv.PublishInspection(p.gtin, client.InspectionFail)
	case 2:
		_, err = p.srv.RenameEnterprise(p.entIDs[2], client.Text{ZH: "改名有限公司", EN: "Renamed Co., Ltd."})
	case 3:
		p.srv.PublishCase(client.Case{Title: client.Text{ZH: "典型案例"}, Summary: client.Text{ZH: "摘要"}, Brand: "某品牌", Authority: client.Text{ZH: "某局"}})
	case 4:
		_, err = p.srv.SetCommitmentStatus(p.commitments[1], client.CommitmentSuspended, nil)
	}
	return err
}

// feed reads the whole change feed in one call, the reference a follower's
// events are compared with.
func feed(t *testing.T, c *client.Client) []client.Event {
	t.Helper()
	page, _, err := c.Changes.List(ctxT(t), &client.ChangesOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Data
}

func eventTypes(evs []client.Event) []client.EventType {
	var out []client.EventType
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func TestChangesFollowReceivesChangesPublishedWhileFollowing(t *testing.T) {
	t.Parallel()
	p := newPolls()
	srv, c := setupWith(t, fixture{wrap: p.wrap})
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)

	// Once the follower's first long poll is held, publish five changes
	// in a row: the first wakes the poll, the rest arrive while the
	// follower is busy, and must be read on from the right cursor.
	done := make(chan error, 1)
	go func() {
		select {
		case <-p.arrived:
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		for i := range 5 {
			if err := pub.publish(i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	var got []client.Event
	for ev, err := range c.Changes.Follow(ctx, "", nil) {
		if err != nil {
			t.Fatalf("Follow: %v", err)
		}
		got = append(got, ev)
		if len(got) == 5 {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(feed(t, c), got); diff != "" {
		t.Errorf("followed (-feed +followed):\n%s", diff)
	}
	if diff := cmp.Diff(publishedTypes, eventTypes(got)); diff != "" {
		t.Errorf("event types (-published +followed):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Commitment == nil && got[i].Inspection == nil && got[i].Enterprise == nil && got[i].Case == nil {
			t.Errorf("event %d carries no record", i)
		}
	}
}

func TestChangesFollowResumesAfterErrorsWithoutLossOrRepeats(t *testing.T) {
	t.Parallel()
	// Retry-After 0: the sandbox's 503 would otherwise pause the client
	// for a second per failed poll.
	srv, c := setupWith(t, fixture{client: []client.Option{noRetries()}, wrap: withZeroRetryAfter})
	pub := newPublisher(t, srv, c)
	for i := range 2 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	outage := sandbox.Fault{Kind: sandbox.FaultError, Status: 503, Route: "GET /v1/changes"}

	// The loop body runs between polls, so it can start and end the
	// outage at exact points of the follow.
	var got []client.Event
	failures := 0
	opts := &client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	for ev, err := range c.Changes.Follow(ctxT(t), "", opts) {
		if err != nil {
			failures++
			requireAPIError(t, err, http.StatusServiceUnavailable, client.CodeUnavailable)
			if failures == 3 {
				if err := srv.SetFaults(); err != nil {
					t.Fatal(err)
				}
				for i := 3; i < 5; i++ {
					if err := pub.publish(i); err != nil {
						t.Fatal(err)
					}
				}
			}
			continue
		}
		got = append(got, ev)
		if len(got) == 2 {
			if err := srv.SetFaults(outage); err != nil {
				t.Fatal(err)
			}
			if err := pub.publish(2); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) == 5 {
			break
		}
	}
	if failures != 3 {
		t.Errorf("%d errors yielded, want one per failed poll: 3", failures)
	}
	if diff := cmp.Diff(feed(t, c), got); diff != "" {
		t.Errorf("followed (-feed +followed):\n%s", diff)
	}
}

func TestChangesFollowStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	p := newPolls()
	_, c := setupWith(t, fixture{wrap: p.wrap})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go func() {
		select {
		case <-p.arrived: // the poll is held: cancel it mid-wait
		case <-ctx.Done():
		}
		cancel()
	}()

	start := time.Now()
	var errs []error
	for ev, err := range c.Changes.Follow(ctx, "", nil) {
		if err == nil {
			t.Fatalf("event %+v from an empty feed", ev)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("errors %v, want context.Canceled once", errs)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Follow took %s to stop", d)
	}
}

func TestChangesFollowBackoffEndsWithItsContext(t *testing.T) {
	t.Parallel()
	_, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503, Route: "GET /v1/changes"})},
		client:  []client.Option{noRetries()},
	})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	// A backoff of an hour: only the context can end the wait.
	opts := &client.FollowOptions{MinBackoff: time.Hour, MaxBackoff: time.Hour}
	var errs []error
	for _, err := range c.Changes.Follow(ctx, "", opts) {
		errs = append(errs, err)
		cancel()
	}
	if len(errs) != 2 || !errors.Is(errs[0], client.ErrUnavailable) || !errors.Is(errs[1], context.Canceled) {
		t.Errorf("errors %v, want the outage, then context.Canceled once", errs)
	}
}

func TestChangesFollowYieldsABadCursor(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	for _, err := range c.Changes.Follow(ctxT(t), "not-a-cursor", nil) {
		requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidCursor)
		if !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("err = %v, want ErrInvalidInput, the cue to stop", err)
		}
		break
	}
}

func TestChangesListReadsOnFromItsCursor(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)

	head, resp, err := c.Changes.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Data) != 0 || head.NextCursor == "" || resp.NextCursor != head.NextCursor {
		t.Fatalf("fresh feed: %+v (response cursor %q); want no events and a cursor", head, resp.NextCursor)
	}
	for i := range 3 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	var got []client.Event
	after := head.NextCursor
	for range 3 {
		page, _, err := c.Changes.List(ctx, &client.ChangesOptions{After: after, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.NextCursor != page.Data[0].Cursor {
			t.Fatalf("page of one: %+v", page)
		}
		got = append(got, page.Data...)
		after = page.NextCursor
	}
	if diff := cmp.Diff(feed(t, c), got); diff != "" {
		t.Errorf("pages of one (-feed +pages):\n%s", diff)
	}
	rest, _, err := c.Changes.List(ctx, &client.ChangesOptions{After: after})
	if err != nil || len(rest.Data) != 0 || rest.HasMore || rest.NextCursor != after {
		t.Errorf("past the head: %+v, %v; want no events and the same cursor", rest, err)
	}
}

func TestChangesListLongPollOutlastsTheClientTimeout(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var waits []string
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			waits = append(waits, r.URL.Query().Get("wait"))
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	// A client timeout far shorter than the poll: the call must get the
	// wait on top of it, or it would fail before the server answers.
	_, c := setupWith(t, fixture{wrap: record, client: []client.Option{client.WithTimeout(500 * time.Millisecond)}})
	start := time.Now()
	page, _, err := c.Changes.List(ctxT(t), &client.ChangesOptions{Wait: 900 * time.Millisecond})
	if err != nil {
		t.Fatalf("long poll: %v", err)
	}
	if len(page.Data) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("long poll answered %d events after %s; want none after the wait", len(page.Data), time.Since(start))
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"1s"}, waits); diff != "" {
		t.Errorf("wait sent (-want +got):\n%s", diff)
	}
}

func TestChangesListErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	_, _, err := c.Changes.List(ctx, &client.ChangesOptions{After: "zz"})
	requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidCursor)

	before := srv.Requests("")
	for _, o := range []client.ChangesOptions{
		{Wait: 61 * time.Second},
		{Wait: -time.Second},
		{Limit: 1001},
		{Limit: -1},
		{FromHead: true, After: "c0"},
	} {
		if _, _, err := c.Changes.List(ctx, &o); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("List(%+v) err = %v, want ErrInvalidInput", o, err)
		}
	}
	noRequests(t, srv, before)
}

func TestChangesFollowHonoursRetryAfterUpToMaxBackoff(t *testing.T) {
	t.Parallel()
	// The 503 asks for a second's wait; the backoff alone would be a
	// millisecond.
	_, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503, RetryAfter: time.Second, Route: "GET /v1/changes"})},
		client:  []client.Option{noRetries()},
	})
	opts := &client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Minute}
	var at []time.Time
	for _, err := range c.Changes.Follow(ctxT(t), "", opts) {
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("err = %v, want the outage", err)
		}
		if at = append(at, time.Now()); len(at) == 2 {
			break
		}
	}
	if gap := at[1].Sub(at[0]); gap < time.Second {
		t.Errorf("polled again after %s, want at least the Retry-After of 1s", gap)
	}
}

func TestChangesListFromHead(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var froms []string
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			froms = append(froms, r.URL.Query().Get("from"))
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	srv, c := setupWith(t, fixture{wrap: record})
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)
	for i := range 3 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	all := feed(t, c)

	head, resp, err := c.Changes.List(ctx, &client.ChangesOptions{FromHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Data) != 0 || head.HasMore || head.NextCursor != all[2].Cursor || resp.NextCursor != head.NextCursor {
		t.Fatalf("FromHead: %+v (response cursor %q); want no events and the newest event's cursor %q", head, resp.NextCursor, all[2].Cursor)
	}
	if err := pub.publish(3); err != nil {
		t.Fatal(err)
	}
	next, _, err := c.Changes.List(ctx, &client.ChangesOptions{After: head.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]client.EventType{client.EventCasePublished}, eventTypes(next.Data)); diff != "" {
		t.Errorf("after the head (-published since +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"", "head", ""}, froms[len(froms)-3:]); diff != "" {
		t.Errorf("from sent by the last three calls (-want +got):\n%s", diff)
	}
}

func TestChangesHead(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)
	empty, err := c.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if page, _, err := c.Changes.List(ctx, &client.ChangesOptions{After: empty}); err != nil || len(page.Data) != 0 || page.NextCursor != empty {
		t.Errorf("after the head of an empty feed: %+v, %v; want no events and the same cursor", page, err)
	}
	for i := range 2 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
		head, err := c.Changes.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if all := feed(t, c); head != all[len(all)-1].Cursor {
			t.Errorf("Head() after %d publish(es) = %q, want the newest event's cursor %q", i+1, head, all[len(all)-1].Cursor)
		}
	}
}

func TestChangesHeadRefusesAnAnswerFromTheStart(t *testing.T) {
	t.Parallel()
	// A server that does not know from answers from the start of the feed:
	// its cursor is not the head, and resuming from it would replay.
	ignoreFrom := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			q.Del("from")
			r.URL.RawQuery = q.Encode()
			next.ServeHTTP(w, r)
		})
	}
	srv, c := setupWith(t, fixture{wrap: ignoreFrom})
	pub := newPublisher(t, srv, c)
	if err := pub.publish(0); err != nil {
		t.Fatal(err)
	}
	head, err := c.Changes.Head(ctxT(t))
	var decErr *client.DecodeError
	if !errors.As(err, &decErr) || !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Head() = %q, %v; want a *DecodeError matching ErrUnavailable", head, err)
	}
	if head != "" {
		t.Errorf("Head() returned cursor %q with an error", head)
	}
}

func TestIsCursorRejected(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFeedRetention(1)},
		client:  []client.Option{noRetries()},
	})
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)
	head, err := c.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the first falls off a retention of one
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	_, _, expired := c.Changes.List(ctx, &client.ChangesOptions{After: head})
	apiErr := requireAPIError(t, expired, http.StatusBadRequest, client.CodeInvalidCursor)
	if len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "after" || apiErr.Fields[0].Message != "expired" {
		t.Errorf("expired cursor: fields %+v, want after expired", apiErr.Fields)
	}
	_, _, notIssued := c.Changes.List(ctx, &client.ChangesOptions{After: "zz"})
	_, _, badParam := c.Changes.List(ctx, &client.ChangesOptions{Wait: time.Hour})
	_, _, badFromServer := c.Inspections.List(ctx, &client.InspectionListOptions{Result: "pass", ListOptions: client.ListOptions{Cursor: "not-a-cursor"}})
	if err := srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503, Route: "GET /v1/changes"}); err != nil {
		t.Fatal(err)
	}
	_, _, outage := c.Changes.List(ctx, &client.ChangesOptions{After: head})

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"expired cursor", expired, true},
		{"expired cursor, wrapped", fmt.Errorf("following: %w", expired), true},
		{"cursor not issued", notIssued, true},
		{"list cursor not issued", badFromServer, true},
		{"invalid input caught by the client", badParam, false},
		{"another 400", &client.APIError{StatusCode: http.StatusBadRequest, Code: client.CodeInvalidParameter}, false},
		{"outage", outage, false},
		{"nil", nil, false},
		{"another error", errors.New("invalid_cursor"), false},
	} {
		if got := client.IsCursorRejected(tc.err); got != tc.want {
			t.Errorf("%s: IsCursorRejected(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestChangesFollowKeepsYieldingARejectedCursor(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, sandbox.WithFeedRetention(1))
	pub := newPublisher(t, srv, c)
	ctx := ctxT(t)
	stale, err := c.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := pub.publish(i); err != nil {
			t.Fatal(err)
		}
	}
	// The cursor fell off the retention: every poll is refused, and only
	// the consumer can end that.
	before := srv.Requests("GET /v1/changes")
	rejected := 0
	opts := &client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	for ev, err := range c.Changes.Follow(ctx, stale, opts) {
		if !client.IsCursorRejected(err) {
			t.Fatalf("Follow from an expired cursor yielded %+v, %v; want the rejection", ev, err)
		}
		if rejected++; rejected == 3 {
			break
		}
	}
	if n := srv.Requests("GET /v1/changes") - before; n != 3 {
		t.Errorf("%d polls for 3 rejections, want one each", n)
	}

	// The recovery: from the head, only what is published from now on.
	head, err := c.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.publish(2); err != nil {
		t.Fatal(err)
	}
	for ev, err := range c.Changes.Follow(ctx, head, opts) {
		if err != nil {
			t.Fatalf("Follow from the head: %v", err)
		}
		if ev.Type != client.EventEnterpriseUpdated {
			t.Errorf("first event from the head is %s, want %s", ev.Type, client.EventEnterpriseUpdated)
		}
		break
	}
}

// A follower learns at once that it has caught up: until a poll first
// reaches the feed's head, none is held, and the first that reaches it
// says so through CaughtUp; only then do the polls wait for news.
func TestChangesFollowSaysAtOnceThatItHasCaughtUp(t *testing.T) {
	t.Parallel()
	waits := make(chan string, 64)
	_, c := setupWith(t, fixture{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/changes" {
				waits <- r.URL.Query().Get("wait")
			}
			next.ServeHTTP(w, r)
		})
	}})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	caughtUp := make(chan struct{}, 1)
	go func() {
		for range c.Changes.Follow(ctx, "", &client.FollowOptions{Wait: 30 * time.Second, CaughtUp: func() {
			select {
			case caughtUp <- struct{}{}:
			default:
			}
		}}) {
		}
	}()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		t.Fatal("CaughtUp was never called")
	}
	if first := <-waits; first != "" && first != "0" {
		t.Errorf("the first poll asked to be held %ss; want no hold until the head is reached", first)
	}
	if next := <-waits; next != "30s" {
		t.Errorf("the poll after the head was reached asked wait=%q; want 30s", next)
	}
}
