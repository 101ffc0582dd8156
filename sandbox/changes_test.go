package sandbox_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func changesPath(after string, extra ...string) string {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return "/v1/changes"
	}
	return "/v1/changes?" + q.Encode()
}

// recordVersion is the version of the record an event carries.
func recordVersion(t *testing.T, ev client.Event) int64 {
	t.Helper()
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
	t.Errorf("event %s (%s) carries no record", ev.ID, ev.Type)
	return 0
}

func eventIDs(evs []client.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func TestChangeFeed(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	demo := srv.Demo()

	head := getJSON[client.ChangePage](t, c, "/v1/changes")
	if len(head.Data) != 0 || head.NextCursor == "" || head.HasMore {
		t.Fatalf("feed of a fresh sandbox: %+v, want no events and a cursor", head)
	}
	// The cursor of an empty answer is stable.
	if again := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor)); again.NextCursor != head.NextCursor || len(again.Data) != 0 {
		t.Errorf("reading past the end again: %+v, want no events and next_cursor %q", again, head.NextCursor)
	}

	committed := demoWith(t, srv, client.VerdictCommitted)
	st := getJSON[client.ProductStatus](t, c, productPath(committed.GTIN))
	revoked, err := srv.Revoke(st.Commitment.ID)
	if err != nil {
		t.Fatal(err)
	}
	inspected := demo[1]
	in, err := srv.PublishInspection(inspected.GTIN, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	delisted := demo[len(demo)-1]
	if delisted.USCC == committed.USCC || delisted.USCC == inspected.USCC {
		t.Fatal("pick another maker to delist")
	}
	if err := srv.Delist(string(delisted.USCC)); err != nil {
		t.Fatal(err)
	}

	page := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor))
	wantTypes := []client.EventType{client.EventCommitmentRevoked, client.EventInspectionPublished, client.EventEnterpriseDelisted}
	var gotTypes []client.EventType
	for _, ev := range page.Data {
		gotTypes = append(gotTypes, ev.Type)
	}
	if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	if page.HasMore || page.NextCursor != page.Data[2].Cursor {
		t.Errorf("has_more %v next_cursor %q, want false and the last event's cursor %q", page.HasMore, page.NextCursor, page.Data[2].Cursor)
	}
	if ev := page.Data[0]; ev.Commitment == nil || ev.Commitment.ID != revoked.ID || ev.Commitment.Status != client.CommitmentRevoked {
		t.Errorf("revocation event carries %+v, want commitment %s revoked", ev.Commitment, revoked.ID)
	} else if diff := cmp.Diff(revoked, *ev.Commitment); diff != "" {
		t.Errorf("revocation event's commitment differs from what Revoke returned (-Revoke +event):\n%s", diff)
	}
	if ev := page.Data[1]; ev.Inspection == nil || ev.Inspection.ID != in.ID || ev.Inspection.Product.GTIN != inspected.GTIN || ev.Inspection.Result != client.InspectionFail {
		t.Errorf("inspection event carries %+v, want %s, a failure of %s", ev.Inspection, in.ID, inspected.GTIN)
	}
	if ev := page.Data[2]; ev.Enterprise == nil || ev.Enterprise.USCC != delisted.USCC {
		t.Errorf("delisting event carries %+v, want the maker %s", ev.Enterprise, delisted.USCC)
	}

	prev := st.Version
	seen := map[string]bool{}
	for i, ev := range page.Data {
		if ev.ID == "" || seen[ev.ID] || ev.Cursor == "" || ev.OccurredAt.IsZero() {
			t.Errorf("event %d: id %q cursor %q occurred_at %v: want a new id, a cursor and a time", i, ev.ID, ev.Cursor, ev.OccurredAt)
		}
		seen[ev.ID] = true
		v := recordVersion(t, ev)
		if v <= prev {
			t.Errorf("event %d (%s): record version %d after %d, want strictly increasing", i, ev.Type, v, prev)
		}
		prev = v
		// Each event's cursor resumes right after it.
		rest := getJSON[client.ChangePage](t, c, changesPath(ev.Cursor))
		if diff := cmp.Diff(eventIDs(page.Data[i+1:]), eventIDs(rest.Data)); diff != "" {
			t.Errorf("after event %d's cursor (-want +got):\n%s", i, diff)
		}
	}

	// One at a time, with has_more.
	cursor := head.NextCursor
	var one []client.Event
	for i := range len(page.Data) + 1 {
		p := getJSON[client.ChangePage](t, c, changesPath(cursor, "limit", "1"))
		if i == len(page.Data) {
			if len(p.Data) != 0 || p.HasMore || p.NextCursor != cursor {
				t.Errorf("past the last event with limit=1: %+v, want nothing, has_more false, next_cursor %q", p, cursor)
			}
			break
		}
		if len(p.Data) != 1 {
			t.Fatalf("limit=1 page %d holds %d events", i, len(p.Data))
		}
		if want := i < len(page.Data)-1; p.HasMore != want {
			t.Errorf("limit=1 page %d: has_more %v, want %v", i, p.HasMore, want)
		}
		one = append(one, p.Data...)
		cursor = p.NextCursor
	}
	if diff := cmp.Diff(page.Data, one); diff != "" {
		t.Errorf("paging with limit=1 differs from one page (-page +limit=1):\n%s", diff)
	}

	// The changes took effect on the records.
	resp, body := c.get("/v1/enterprises/" + string(delisted.USCC))
	wantProblem(t, resp, body, http.StatusNotFound, client.CodeNotFound)
	gone := getJSON[client.ProductStatus](t, c, productPath(delisted.GTIN))
	if gone.Listed || verdictAt(srv.ReferenceTime(), &gone) != client.VerdictNotListed {
		t.Errorf("product of a delisted maker: listed=%v verdict %s, want not listed", gone.Listed, verdictAt(srv.ReferenceTime(), &gone))
	}
	failed := getJSON[client.ProductStatus](t, c, productPath(inspected.GTIN))
	if len(failed.Inspections) == 0 || failed.Inspections[0].ID != in.ID {
		t.Errorf("the newest inspection of %s is not the one just published: %+v", inspected.GTIN, failed.Inspections)
	}
}

type pollResult struct {
	resp *http.Response
	body []byte
}

// poll runs a GET in a goroutine and delivers its answer on the channel.
func poll(c *api, path string) <-chan pollResult {
	ch := make(chan pollResult, 1)
	req := c.request(http.MethodGet, path, nil)
	go func() {
		resp, err := c.hc.Do(req)
		if err != nil {
			ch <- pollResult{body: []byte("transport error: " + err.Error())}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			ch <- pollResult{body: []byte("reading the body: " + err.Error())}
			return
		}
		ch <- pollResult{resp: resp, body: b}
	}()
	return ch
}

func TestLongPollWakesOnEvent(t *testing.T) {
	t.Parallel()
	logger, arrived := arrivalLogger("/v1/changes")
	srv, c := start(t, sandbox.WithLogger(logger))
	// From the start of the feed: nothing there yet, so the request waits.
	done := poll(c, changesPath("", "wait", "30"))
	select {
	case <-arrived:
	case r := <-done:
		t.Fatalf("long poll answered before anything was published: %s", r.body)
	case <-time.After(hangGuard):
		t.Fatal("the long poll never reached the server")
	}
	select {
	case r := <-done:
		t.Fatalf("long poll answered before anything was published: %s", r.body)
	default:
	}

	in, err := srv.PublishInspection(srv.Demo()[0].GTIN, client.InspectionPass)
	if err != nil {
		t.Fatal(err)
	}
	var r pollResult
	select {
	case r = <-done:
	case <-time.After(hangGuard):
		t.Fatal("the long poll did not answer after an event was published")
	}
	if r.resp == nil {
		t.Fatalf("long poll: %s", r.body)
	}
	wantStatus(t, r.resp, r.body, http.StatusOK)
	page := decode[client.ChangePage](t, r.body)
	if len(page.Data) != 1 || page.Data[0].Type != client.EventInspectionPublished || page.Data[0].Inspection == nil || page.Data[0].Inspection.ID != in.ID {
		t.Fatalf("long poll answered %+v, want the publication of %s", page, in.ID)
	}
	if page.NextCursor != page.Data[0].Cursor {
		t.Errorf("next_cursor %q, want the event's cursor %q", page.NextCursor, page.Data[0].Cursor)
	}
}

func TestLongPollTimesOut(t *testing.T) {
	t.Parallel()
	for _, wait := range []string{"1", "1s"} {
		t.Run("wait="+wait, func(t *testing.T) {
			t.Parallel()
			_, c := start(t)
			head := getJSON[client.ChangePage](t, c, "/v1/changes")
			start := time.Now()
			page := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor, "wait", wait))
			if took := time.Since(start); took < time.Second {
				t.Errorf("a long poll with wait=%s and no events answered after %v, want at least 1s", wait, took)
			}
			if len(page.Data) != 0 || page.NextCursor != head.NextCursor || page.HasMore {
				t.Errorf("a long poll that timed out: %+v, want no events and next_cursor %q", page, head.NextCursor)
			}
		})
	}
}

func TestLongPollAnswersAtOnceWhenEventsWait(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	head := getJSON[client.ChangePage](t, c, "/v1/changes")
	if _, err := srv.PublishInspection(srv.Demo()[0].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	// wait=60 would hold the request for a minute if the event were ignored;
	// the hang guard turns that into a failure.
	select {
	case r := <-poll(c, changesPath(head.NextCursor, "wait", "60")):
		if r.resp == nil {
			t.Fatalf("long poll: %s", r.body)
		}
		if page := decode[client.ChangePage](t, r.body); len(page.Data) != 1 {
			t.Errorf("long poll with an event waiting: %d events, want 1", len(page.Data))
		}
	case <-time.After(hangGuard):
		t.Fatal("a long poll with an event already published did not answer")
	}
}

func TestCloseEndsLongPoll(t *testing.T) {
	t.Parallel()
	logger, arrived := arrivalLogger("/v1/changes")
	srv, c := start(t, sandbox.WithLogger(logger))
	done := poll(c, changesPath("", "wait", "60"))
	select {
	case <-arrived:
	case r := <-done:
		t.Fatalf("long poll answered before Close: %s", r.body)
	case <-time.After(hangGuard):
		t.Fatal("the long poll never reached the server")
	}
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case r := <-done:
		if r.resp == nil {
			t.Fatalf("long poll ended by Close: %s, want an answer", r.body)
		}
		wantStatus(t, r.resp, r.body, http.StatusOK)
		if page := decode[client.ChangePage](t, r.body); len(page.Data) != 0 || page.NextCursor == "" {
			t.Errorf("long poll ended by Close: %+v, want no events and a cursor", page)
		}
	case <-time.After(hangGuard):
		t.Fatal("Close did not end a pending long poll")
	}
	select {
	case <-closed:
	case <-time.After(hangGuard):
		t.Fatal("Close did not return")
	}
}

// wantExpired checks an answer is the 400 for a cursor past the feed's
// retention, with the errors entry that names after.
func wantExpired(t *testing.T, c *api, cursor string) {
	t.Helper()
	resp, body := c.get(changesPath(cursor))
	p := wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidCursor)
	if diff := cmp.Diff([]client.ProblemField{{Field: "after", Message: "expired"}}, p.Errors); diff != "" {
		t.Errorf("after=%s: errors (-want +got):\n%s", cursor, diff)
	}
	if !strings.Contains(p.Detail, "expired") || !strings.Contains(p.Detail, "from=head") {
		t.Errorf("after=%s: detail %q, want it to say the cursor expired and to read on from=head", cursor, p.Detail)
	}
}

func TestFeedRetentionExpiresOldCursors(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithFeedRetention(2))
	g := srv.Demo()[0].GTIN
	publish := func() {
		t.Helper()
		if _, err := srv.PublishInspection(g, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	fresh := getJSON[client.ChangePage](t, c, "/v1/changes")
	publish()
	publish()
	two := getJSON[client.ChangePage](t, c, "/v1/changes")
	if len(two.Data) != 2 {
		t.Fatalf("%d events within a retention of 2, want 2", len(two.Data))
	}
	first, second := two.Data[0], two.Data[1]

	publish() // drops the first event
	third := getJSON[client.ChangePage](t, c, changesPath(second.Cursor))
	if len(third.Data) != 1 || third.HasMore {
		t.Fatalf("after the second event: %+v, want the third alone", third)
	}
	// A cursor that missed the dropped event has expired...
	wantExpired(t, c, fresh.NextCursor)
	// ...but the dropped event's own cursor missed nothing that was dropped.
	rest := getJSON[client.ChangePage](t, c, changesPath(first.Cursor))
	if diff := cmp.Diff([]string{second.ID, third.Data[0].ID}, eventIDs(rest.Data)); diff != "" {
		t.Errorf("after the newest dropped event (-want +got):\n%s", diff)
	}
	// The start of the feed is the oldest event retained.
	kept := getJSON[client.ChangePage](t, c, "/v1/changes")
	if diff := cmp.Diff(rest.Data, kept.Data); diff != "" {
		t.Errorf("from the start (-retained +got):\n%s", diff)
	}

	publish() // drops the second: the first's cursor has now missed it
	wantExpired(t, c, first.Cursor)
	if got := getJSON[client.ChangePage](t, c, changesPath(second.Cursor)); len(got.Data) != 2 {
		t.Errorf("after the newest dropped event: %d events, want the 2 retained", len(got.Data))
	}
	// A cursor ahead of the feed is still told apart from an expired one.
	resp, body := c.get(changesPath("czzzzzz"))
	if p := wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidCursor); len(p.Errors) != 1 || p.Errors[0].Message != "ahead of the feed" {
		t.Errorf("a cursor ahead of the feed: errors %+v", p.Errors)
	}
}

func TestFeedRetentionMustNotBeNegative(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.WithFeedRetention(-1))
	if err == nil {
		sb.Close()
		t.Fatal("New(WithFeedRetention(-1)) succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "retention") {
		t.Errorf("error %q does not name the retention", err)
	}
}

func TestChangeFeedFromHead(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	g := srv.Demo()[0].GTIN
	for range 3 {
		if _, err := srv.PublishInspection(g, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	all := getJSON[client.ChangePage](t, c, "/v1/changes")
	if len(all.Data) != 3 {
		t.Fatalf("%d events, want 3", len(all.Data))
	}

	// At once, even when asked to wait a minute: the hang guard fails it
	// otherwise.
	var head client.ChangePage
	select {
	case r := <-poll(c, changesPath("", "from", "head", "wait", "60")):
		if r.resp == nil {
			t.Fatalf("from=head: %s", r.body)
		}
		wantStatus(t, r.resp, r.body, http.StatusOK)
		head = decode[client.ChangePage](t, r.body)
	case <-time.After(hangGuard):
		t.Fatal("from=head with wait=60 did not answer at once")
	}
	if head.Data == nil || len(head.Data) != 0 || head.HasMore || head.NextCursor != all.Data[2].Cursor {
		t.Errorf("from=head: %+v, want data [] and the newest event's cursor %q", head, all.Data[2].Cursor)
	}
	in, err := srv.PublishInspection(g, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	next := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor))
	if len(next.Data) != 1 || next.Data[0].Inspection == nil || next.Data[0].Inspection.ID != in.ID {
		t.Errorf("after the head: %+v, want only the event published since", next.Data)
	}
	if again := getJSON[client.ChangePage](t, c, changesPath("", "from", "head")); again.NextCursor != next.NextCursor {
		t.Errorf("from=head after a publish: next_cursor %q, want the new event's %q", again.NextCursor, next.NextCursor)
	}
	if start := getJSON[client.ChangePage](t, c, changesPath("", "from", "start")); len(start.Data) != 4 {
		t.Errorf("from=start: %d events, want all 4", len(start.Data))
	}
}

func TestChangeFeedFromIsCheckedBeforeReading(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	head := getJSON[client.ChangePage](t, c, changesPath("", "from", "head"))
	for _, tc := range []struct {
		path, message string
	}{
		{changesPath(head.NextCursor, "from", "head"), "not allowed with after"},
		{changesPath(head.NextCursor, "from", "start"), "not allowed with after"},
		{changesPath("", "from", "middle"), "unknown value"},
		{"/v1/changes?from=", "unknown value"},
	} {
		resp, body := c.get(tc.path)
		p := wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidParameter)
		if diff := cmp.Diff([]client.ProblemField{{Field: "from", Message: tc.message}}, p.Errors); diff != "" {
			t.Errorf("%s: errors (-want +got):\n%s", tc.path, diff)
		}
	}
}

func TestExpireFeed(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	fresh := getJSON[client.ChangePage](t, c, "/v1/changes")
	if n := srv.ExpireFeed(); n != 0 {
		t.Errorf("ExpireFeed of an empty feed dropped %d events", n)
	}
	// Nothing was dropped, so nothing has expired.
	if p := getJSON[client.ChangePage](t, c, changesPath(fresh.NextCursor)); len(p.Data) != 0 {
		t.Errorf("after expiring an empty feed: %+v", p)
	}

	g := srv.Demo()[0].GTIN
	for range 2 {
		if _, err := srv.PublishInspection(g, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	all := getJSON[client.ChangePage](t, c, "/v1/changes")
	if n := srv.ExpireFeed(); n != 2 {
		t.Errorf("ExpireFeed dropped %d events, want 2", n)
	}
	wantExpired(t, c, fresh.NextCursor)
	wantExpired(t, c, all.Data[0].Cursor)
	// The head still reads on, and the start of the feed is now the head.
	head := all.Data[1].Cursor
	if p := getJSON[client.ChangePage](t, c, changesPath(head)); len(p.Data) != 0 || p.NextCursor != head {
		t.Errorf("after the head: %+v, want no events and next_cursor %q", p, head)
	}
	if p := getJSON[client.ChangePage](t, c, "/v1/changes"); len(p.Data) != 0 || p.NextCursor != head {
		t.Errorf("from the start of an expired feed: %+v, want no events and next_cursor %q", p, head)
	}
	in, err := srv.PublishInspection(g, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	if p := getJSON[client.ChangePage](t, c, changesPath(head)); len(p.Data) != 1 || p.Data[0].Inspection.ID != in.ID {
		t.Errorf("after the head, once more is published: %+v, want %s", p.Data, in.ID)
	}

	// The operator API does the same.
	resp, body := c.do(http.MethodPost, "/_sandbox/feed/expire", nil)
	wantStatus(t, resp, body, http.StatusOK)
	got := decode[struct {
		Dropped  int    `json:"dropped"`
		FeedHead string `json:"feed_head"`
	}](t, body)
	if got.Dropped != 1 || got.FeedHead == "" {
		t.Errorf("POST /_sandbox/feed/expire: %+v, want 1 dropped and the head", got)
	}
	wantExpired(t, c, head)
	if p := getJSON[client.ChangePage](t, c, changesPath("", "from", "head")); p.NextCursor != got.FeedHead {
		t.Errorf("from=head %q, the operator API said the head is %q", p.NextCursor, got.FeedHead)
	}
}
