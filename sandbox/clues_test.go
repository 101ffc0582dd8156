package sandbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The clue loop: a report's private token, its lifecycle, its changes on
// the filer's feed alone, the platform's list, and a rights holder's
// batch of clues.

const (
	platformA = "Bearer platform-a"
	platformB = "Bearer platform-b"
)

func fileReport(t *testing.T, c *api, srv *sandbox.Server, auth string) client.Report {
	t.Helper()
	resp, body := c.postJSON("/v1/reports", reportParams(srv.Demo()[0].GTIN, "疑似假冒"), "Authorization", auth)
	wantStatus(t, resp, body, http.StatusCreated)
	return decode[client.Report](t, body)
}

// requestIDs drops what differs between any two answers, the request's id
// and path, so that two 404s can be compared byte for byte.
var requestIDs = regexp.MustCompile(`"(request_id|instance)":"[^"]*"`)

func TestReportTokenIsTheOnlyWayIn(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	a := fileReport(t, c, srv, platformA)
	b := fileReport(t, c, srv, platformA)

	for _, tok := range []client.ReportToken{a.AccessToken, b.AccessToken} {
		raw, err := base64.RawURLEncoding.DecodeString(string(tok))
		if err != nil || len(raw) < 16 {
			t.Errorf("token of %d bytes (%v): want at least 128 bits, URL-safe", len(raw), err)
		}
	}
	if a.AccessToken == b.AccessToken {
		t.Error("two reports share a token")
	}

	// The right token answers, from any API key: the token is the reporter's.
	resp, body := c.get("/v1/reports/"+a.ID, client.ReportTokenHeader, string(a.AccessToken), "Authorization", platformB)
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[client.Report](t, body); got.ID != a.ID || got.AccessToken != "" {
		t.Errorf("read %s with its token: %+v", a.ID, got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}

	// No token, another report's token, a truncated one and an unknown id
	// are one answer: nothing tells which was wrong.
	var answers []string
	for _, tc := range []struct{ id, tok string }{
		{a.ID, ""},
		{a.ID, string(b.AccessToken)},
		{a.ID, string(a.AccessToken[:len(a.AccessToken)-1])},
		{"rpt_99999999", string(a.AccessToken)},
	} {
		resp, body := c.get("/v1/reports/"+tc.id, client.ReportTokenHeader, tc.tok)
		wantProblem(t, resp, body, http.StatusNotFound, client.CodeNotFound)
		answers = append(answers, requestIDs.ReplaceAllString(string(body), ""))
	}
	for i, ans := range answers[1:] {
		if ans != answers[0] {
			t.Errorf("wrong-token answer %d differs from the first:\n%s\n%s", i+1, ans, answers[0])
		}
	}
}

func TestReportLookupsAreRateLimited(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithReportLookupLimit(0.001, 3))
	rep := fileReport(t, c, srv, platformA)
	// Guesses spend the quota as answers do.
	for i := range 3 {
		tok := "guess-" + fmt.Sprint(i) + strings.Repeat("x", 20)
		resp, body := c.get("/v1/reports/"+rep.ID, client.ReportTokenHeader, tok, "Authorization", platformA)
		wantProblem(t, resp, body, http.StatusNotFound, client.CodeNotFound)
	}
	resp, body := c.get("/v1/reports/"+rep.ID, client.ReportTokenHeader, string(rep.AccessToken), "Authorization", platformA)
	wantProblem(t, resp, body, http.StatusTooManyRequests, client.CodeRateLimited)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a 429 without Retry-After")
	}
	// Other routes are not held back by the lookups.
	resp, body = c.get("/v1/categories", "Authorization", platformA)
	wantStatus(t, resp, body, http.StatusOK)
}

// feed reads every event after from=start that auth may read.
func feed(t *testing.T, c *api, auth string) []client.Event {
	t.Helper()
	resp, body := c.get("/v1/changes?limit=1000", "Authorization", auth)
	wantStatus(t, resp, body, http.StatusOK)
	return decode[client.ChangePage](t, body).Data
}

func TestReportLifecycleOnTheFilersFeedAlone(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	rep := fileReport(t, c, srv, platformA)
	caseID := "case_000003"
	before := getJSON[client.Case](t, c, "/v1/cases/"+caseID)

	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{Status: client.ReportClosed}); !errors.Is(err, sandbox.ErrReportStep) {
		t.Errorf("closing without an outcome: err = %v, want ErrReportStep", err)
	}
	if _, err := srv.AdvanceReport("rpt_nope", sandbox.ReportAdvance{}); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("unknown report: err = %v, want ErrNotFound", err)
	}
	fwd, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{})
	if err != nil {
		t.Fatal(err)
	}
	if fwd.Status != client.ReportForwarded || fwd.Steps[1].Authority == nil || fwd.Steps[1].Authority.ZH == "" {
		t.Errorf("one step on: %+v, want forwarded to a named authority", fwd)
	}
	// Through the operator API, as a program in another language would.
	resp, body := c.postJSON("/_sandbox/reports/"+rep.ID+"/advance", sandbox.ReportAdvance{})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = c.postJSON("/_sandbox/reports/"+rep.ID+"/advance", sandbox.ReportAdvance{Status: client.ReportForwarded})
	wantProblem(t, resp, body, http.StatusConflict, client.CodeInvalidBody)
	closed, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{Outcome: client.OutcomeCasePublished, CaseID: caseID})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []client.ReportStatus
	for i, st := range closed.Steps {
		statuses = append(statuses, st.Status)
		if i > 0 && st.At.Before(closed.Steps[i-1].At) {
			t.Errorf("step %d is dated before the one before it", i)
		}
	}
	want := []client.ReportStatus{client.ReportReceived, client.ReportForwarded, client.ReportUnderInvestigation, client.ReportClosed}
	if fmt.Sprint(statuses) != fmt.Sprint(want) || closed.Outcome != client.OutcomeCasePublished || closed.CaseID != caseID {
		t.Errorf("closed report: steps %v, outcome %q, case %q", statuses, closed.Outcome, closed.CaseID)
	}
	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); !errors.Is(err, sandbox.ErrReportStep) {
		t.Errorf("a closed report moved on: %v", err)
	}

	// The reporter sees the same lifecycle.
	resp, body = c.get("/v1/reports/"+rep.ID, client.ReportTokenHeader, string(rep.AccessToken))
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[client.Report](t, body); len(got.Steps) != 4 || got.Outcome != client.OutcomeCasePublished {
		t.Errorf("the reporter reads %+v", got)
	}

	// The case counts the clue.
	after := getJSON[client.Case](t, c, "/v1/cases/"+caseID)
	if after.Clues.Consumer != before.Clues.Consumer+1 || after.Clues.RightsHolder != before.Clues.RightsHolder || after.Version <= before.Version {
		t.Errorf("case clues %+v v%d, before %+v v%d: want one more consumer clue in a new version", after.Clues, after.Version, before.Clues, before.Version)
	}

	// The filer's feed has each step, without the reporter's words; the
	// other platform's has none of them.
	var steps []client.ReportStatus
	for _, ev := range feed(t, c, platformA) {
		if ev.Type != client.EventReportStatusChanged {
			continue
		}
		if ev.Report == nil || ev.Report.ID != rep.ID {
			t.Fatalf("report event %+v", ev)
		}
		steps = append(steps, ev.Report.Status)
		raw, _ := json.Marshal(ev)
		for _, private := range []string{"疑似假冒", "buyer@example.com", "shop.example", string(rep.AccessToken)} {
			if bytes.Contains(raw, []byte(private)) {
				t.Errorf("a report event carries %q: %s", private, raw)
			}
		}
	}
	if fmt.Sprint(steps) != fmt.Sprint(want[1:]) {
		t.Errorf("the filer's feed has steps %v, want %v", steps, want[1:])
	}
	sawCase := false
	for _, ev := range feed(t, c, platformB) {
		if ev.Type == client.EventReportStatusChanged {
			t.Errorf("another platform reads report event %+v", ev.Report)
		}
		sawCase = sawCase || ev.Type == client.EventCaseUpdated && ev.Case.ID == caseID
	}
	if !sawCase {
		t.Error("the case's new clue count is not on the public feed")
	}
}

func TestReportListIsThePlatformsOwn(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	mine := []client.Report{fileReport(t, c, srv, platformA), fileReport(t, c, srv, platformA)}
	fileReport(t, c, srv, platformB)
	if _, err := srv.AdvanceReport(mine[0].ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}

	list := func(q string) []client.Report {
		t.Helper()
		var all []client.Report
		cursor := ""
		for range 20 {
			path := "/v1/reports?limit=2" + q
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			resp, body := c.get(path, "Authorization", platformA)
			wantStatus(t, resp, body, http.StatusOK)
			page := decode[client.List[client.Report]](t, body)
			all = append(all, page.Data...)
			if page.NextCursor == "" {
				return all
			}
			cursor = page.NextCursor
		}
		t.Fatal("more than 20 pages")
		return nil
	}
	demo := srv.DemoReports()
	all := list("")
	if len(all) != len(mine)+len(demo) || all[0].ID != mine[1].ID || all[1].ID != mine[0].ID {
		t.Errorf("platform A lists %d reports starting %v; want its 2, newest first, then the %d demo ones", len(all), reportIDs(all), len(demo))
	}
	for _, r := range all {
		if r.AccessToken != "" {
			t.Errorf("the list shows %s's token", r.ID)
		}
	}
	fwd := list("&status=forwarded&reporter_kind=consumer")
	if len(fwd) == 0 || fwd[0].ID != mine[0].ID {
		t.Errorf("forwarded consumer reports %v, want %s first", reportIDs(fwd), mine[0].ID)
	}
	for _, r := range fwd {
		if r.Status != client.ReportForwarded || r.ReporterKind != client.ReporterConsumer {
			t.Errorf("filter let through %s (%s, %s)", r.ID, r.Status, r.ReporterKind)
		}
	}
	resp, body := c.get("/v1/reports?status=lost", "Authorization", platformA)
	wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidParameter)
}

func reportIDs(rs []client.Report) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestDemoReportsCoverEveryStage(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	seen := map[string]bool{}
	kinds := map[client.ReporterKind]bool{}
	for _, d := range srv.DemoReports() {
		seen[string(d.Status)+"/"+string(d.Outcome)] = true
		kinds[d.ReporterKind] = true
		resp, body := c.get("/v1/reports/"+d.ID, client.ReportTokenHeader, string(d.Token))
		wantStatus(t, resp, body, http.StatusOK)
		if got := decode[client.Report](t, body); got.Status != d.Status || len(got.Steps) == 0 || got.Steps[len(got.Steps)-1].Status != d.Status {
			t.Errorf("demo %s reads %+v", d.ID, got)
		}
	}
	for _, want := range []string{"received/", "forwarded/", "under_investigation/", "closed/case_published", "closed/not_substantiated", "closed/outside_scope"} {
		if !seen[want] {
			t.Errorf("no demo report %s", want)
		}
	}
	if !kinds[client.ReporterConsumer] || !kinds[client.ReporterRightsHolder] {
		t.Errorf("demo reporter kinds %v, want both", kinds)
	}
	// The operator API shows them with their tokens.
	resp, body := c.get("/_sandbox/reports")
	wantStatus(t, resp, body, http.StatusOK)
	if d := srv.DemoReports()[0]; !bytes.Contains(body, []byte(string(d.Token))) {
		t.Errorf("/_sandbox/reports does not show the demo tokens: %.300s", body)
	}
}

func clue(key string, evidence ...string) client.ClueParams {
	return client.ClueParams{
		IdempotencyKey: key, Product: client.ProductKey{GTIN: "06901234567892"}, Kind: client.ReportCounterfeit,
		ListingIDs: []string{"item-" + key}, EvidenceURLs: evidence, Description: "仿冒注册商标",
	}
}

func TestClueBatchFilesEachClueOnItsOwn(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	batch := client.ClueBatch{
		RightsHolder: "清源品牌管理有限公司", Platform: "Example Mall", EvidenceHosts: []string{"evidence.example"},
		Clues: []client.ClueParams{
			clue("c1", "https://evidence.example/1.pdf"),
			clue("c2", "http://evidence.example/2.pdf"),   // not https
			clue("c3", "https://elsewhere.example/3.pdf"), // not allow-listed
			clue("c1", "https://evidence.example/1.pdf"),  // the same clue twice
			clue("", "https://evidence.example/5.pdf"),    // no key
			clue("c6", "https://evidence.example/6.pdf"),
		},
	}
	batch.Clues[5].Product = client.ProductKey{GTIN: "6901234567893"} // a wrong check digit

	resp, body := c.postJSON("/v1/reports/batch", batch, "Authorization", platformA)
	wantStatus(t, resp, body, http.StatusOK)
	res := decode[struct{ Results []client.ClueResult }](t, body).Results
	if len(res) != len(batch.Clues) {
		t.Fatalf("%d results for %d clues", len(res), len(batch.Clues))
	}
	want := []struct {
		status, code, field string
	}{
		{client.ClueCreated, "", ""},
		{client.ClueFailed, client.CodeInvalidBody, "/evidence_urls/0"},
		{client.ClueFailed, client.CodeInvalidBody, "/evidence_urls/0"},
		{client.ClueFailed, client.CodeDuplicateInBatch, "/idempotency_key"},
		{client.ClueFailed, client.CodeInvalidBody, "/idempotency_key"},
		{client.ClueFailed, client.CodeInvalidGTIN, "/product/gtin"},
	}
	for i, w := range want {
		r := res[i]
		if r.Index != i || r.Status != w.status {
			t.Errorf("clue %d: index %d status %q, want %q", i, r.Index, r.Status, w.status)
			continue
		}
		if w.code == "" {
			if r.Report == nil || r.Report.ReporterKind != client.ReporterRightsHolder || r.Report.AccessToken == "" || r.Problem != nil {
				t.Errorf("clue %d: %+v, want a rights holder's report with its token", i, r)
			}
			continue
		}
		if r.Problem == nil || r.Problem.Code != w.code || len(r.Problem.Errors) == 0 || r.Problem.Errors[0].Field != w.field || r.Report != nil {
			t.Errorf("clue %d: %+v, want %s naming %s", i, r.Problem, w.code, w.field)
		}
	}
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports filed, want the 1 good clue", n)
	}

	// Sent again, the good clue is a replay of the same report.
	resp, body = c.postJSON("/v1/reports/batch", batch, "Authorization", platformA)
	wantStatus(t, resp, body, http.StatusOK)
	again := decode[struct{ Results []client.ClueResult }](t, body).Results
	if again[0].Status != client.ClueReplayed || again[0].Report.ID != res[0].Report.ID {
		t.Errorf("resent clue: %+v, want a replay of %s", again[0], res[0].Report.ID)
	}
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports after a resend, want 1", n)
	}

	// Over 100 clues, or none, is refused whole.
	big := batch
	big.Clues = make([]client.ClueParams, 101)
	for i := range big.Clues {
		big.Clues[i] = clue(fmt.Sprint("k", i), "https://evidence.example/x")
	}
	resp, body = c.postJSON("/v1/reports/batch", big, "Authorization", platformA)
	wantProblem(t, resp, body, http.StatusBadRequest, client.CodeTooManyKeys)
	big.Clues = nil
	resp, body = c.postJSON("/v1/reports/batch", big, "Authorization", platformA)
	wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidBody)
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports after refused batches, want 1", n)
	}
}

// A report's changes reach the filing platform's webhooks and no other's.
func TestReportEventsPushedToTheFilerAlone(t *testing.T) {
	t.Parallel()
	type push struct {
		hook string
		ev   client.Event
	}
	pushes := make(chan push, 64)
	var private []string // what a push must never carry, once filed
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		// Signed as every push is, with the webhook's secret.
		ev, err := client.VerifyWebhook(raw, r.Header.Get(client.SignatureHeader), "s")
		if err != nil {
			t.Errorf("push to %s: %v", r.URL.Path, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, p := range private {
			if bytes.Contains(raw, []byte(p)) {
				t.Errorf("a push carries %q: %s", p, raw)
			}
		}
		pushes <- push{r.URL.Path, ev}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	srv, c := start(t, sandbox.WithWebhookRetry(2, 10*time.Millisecond))
	if err := srv.AddWebhookFor("platform-a", recv.URL+"/a", "s"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddWebhookFor("platform-b", recv.URL+"/b", "s"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddWebhookFor("", recv.URL+"/x", "s"); err == nil {
		t.Error("a platform's webhook without a key was accepted")
	}
	rep := fileReport(t, c, srv, platformA)
	private = []string{"疑似假冒", "buyer@example.com", "shop.example", string(rep.AccessToken)}
	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	// A public event after it: each webhook gets its events in order, so
	// once both have this one, the report event has gone where it goes.
	srv.PublishCase(client.Case{Title: client.Text{ZH: "案"}, Summary: client.Text{ZH: "案情"}, Brand: "清源", Authority: client.Text{ZH: "市场监督管理局"}})
	got := map[string][]client.EventType{}
	timeout := time.After(timescale.Scale(10 * time.Second))
	for len(got["/a"]) < 2 || len(got["/b"]) < 1 {
		select {
		case p := <-pushes:
			got[p.hook] = append(got[p.hook], p.ev.Type)
			if p.ev.Type == client.EventReportStatusChanged && (p.ev.Report == nil || p.ev.Report.ID != rep.ID || p.ev.Report.Status != client.ReportForwarded) {
				t.Errorf("report push %+v", p.ev.Report)
			}
		case <-timeout:
			t.Fatalf("pushes so far %v", got)
		}
	}
	if fmt.Sprint(got["/a"]) != fmt.Sprint([]client.EventType{client.EventReportStatusChanged, client.EventCasePublished}) {
		t.Errorf("platform A's webhook got %v", got["/a"])
	}
	if fmt.Sprint(got["/b"]) != fmt.Sprint([]client.EventType{client.EventCasePublished}) {
		t.Errorf("platform B's webhook got %v, want the public event only", got["/b"])
	}
}

// Another platform's report events are passed over on the feed: a reader
// whose only news is someone else's report gets an empty page whose cursor
// has moved past it, so that it does not read it over and over.
func TestFeedPassesOverOtherPlatformsReports(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	resp, body := c.get("/v1/changes?from=head", "Authorization", platformB)
	wantStatus(t, resp, body, http.StatusOK)
	head := decode[client.ChangePage](t, body).NextCursor

	rep := fileReport(t, c, srv, platformA)
	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	resp, body = c.get("/v1/changes?after="+head, "Authorization", platformB)
	wantStatus(t, resp, body, http.StatusOK)
	b := decode[client.ChangePage](t, body)
	if len(b.Data) != 0 || b.HasMore || b.NextCursor == head {
		t.Errorf("platform B after its head: %d events, has_more %v, cursor moved %v; want none, and the cursor past A's event", len(b.Data), b.HasMore, b.NextCursor != head)
	}
	resp, body = c.get("/v1/changes?after="+head, "Authorization", platformA)
	wantStatus(t, resp, body, http.StatusOK)
	a := decode[client.ChangePage](t, body)
	if len(a.Data) != 1 || a.Data[0].Type != client.EventReportStatusChanged || a.NextCursor != b.NextCursor {
		t.Errorf("platform A after the same head: %+v; want its report event, ending where B's cursor is", a)
	}
}

// A long poll is not ended by another platform's report event: it waits
// on, and answers with the reader's own next event.
func TestLongPollWaitsThroughOtherPlatformsReports(t *testing.T) {
	t.Parallel()
	// Each request to /v1/changes logs its arrival, and a long poll each
	// time it starts to wait.
	logger, logged := arrivalLogger("/v1/changes")
	srv, c := start(t, sandbox.WithLogger(logger))
	next := func(what string) {
		t.Helper()
		select {
		case <-logged:
		case <-time.After(timescale.Scale(30 * time.Second)):
			t.Fatalf("never logged: %s", what)
		}
	}
	resp, body := c.get("/v1/changes?from=head", "Authorization", platformB)
	wantStatus(t, resp, body, http.StatusOK)
	next("the head read")
	head := decode[client.ChangePage](t, body).NextCursor
	rep := fileReport(t, c, srv, platformA)

	got := make(chan client.ChangePage, 1)
	go func() {
		resp, body := c.get("/v1/changes?wait=30&after="+head, "Authorization", platformB)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("long poll: %d %s", resp.StatusCode, body)
		}
		got <- decode[client.ChangePage](t, body)
	}()
	next("the poll's arrival")
	next("the poll waiting")
	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-logged: // woken, and waiting again
	case page := <-got:
		t.Fatalf("the long poll answered on another platform's report event: %+v", page)
	case <-time.After(timescale.Scale(30 * time.Second)):
		t.Fatal("the long poll neither answered nor waited on")
	}
	srv.PublishCase(client.Case{Title: client.Text{ZH: "案"}, Summary: client.Text{ZH: "案情"}, Brand: "清源", Authority: client.Text{ZH: "市场监督管理局"}})
	select {
	case page := <-got:
		if len(page.Data) != 1 || page.Data[0].Type != client.EventCasePublished {
			t.Errorf("the long poll answered %+v; want the public case alone", page.Data)
		}
	case <-time.After(timescale.Scale(30 * time.Second)):
		t.Fatal("the long poll never answered")
	}
}

// A sandbox without API keys takes callers without one: such a caller's
// reports are its own, as a platform's are. Their changes reach neither
// another platform's feed, list nor webhooks.
func TestAnonymousReportsAreTheirFilersAlone(t *testing.T) {
	t.Parallel()
	type push struct {
		hook string
		typ  client.EventType
	}
	pushes := make(chan push, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev client.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil {
			pushes <- push{r.URL.Path, ev.Type}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	srv, c := start(t, sandbox.WithWebhookRetry(2, 10*time.Millisecond))
	if err := srv.AddWebhookFor("platform-b", recv.URL+"/b", "s"); err != nil {
		t.Fatal(err)
	}
	// The keyless callers' own webhook, as they register it.
	if err := srv.AddWebhook(recv.URL+"/own", "s"); err != nil {
		t.Fatal(err)
	}
	resp, body := c.postJSON("/v1/reports", reportParams(srv.Demo()[0].GTIN, "疑似假冒"))
	wantStatus(t, resp, body, http.StatusCreated)
	rep := decode[client.Report](t, body)
	if _, err := srv.AdvanceReport(rep.ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	srv.PublishCase(client.Case{Title: client.Text{ZH: "案"}, Summary: client.Text{ZH: "案情"}, Brand: "清源", Authority: client.Text{ZH: "市场监督管理局"}})

	reportEvents := func(auth ...string) int {
		t.Helper()
		resp, body := c.get("/v1/changes?limit=1000", auth...)
		wantStatus(t, resp, body, http.StatusOK)
		n := 0
		for _, ev := range decode[client.ChangePage](t, body).Data {
			if ev.Type == client.EventReportStatusChanged && ev.Report.ID == rep.ID {
				n++
			}
		}
		return n
	}
	if n := reportEvents(); n != 1 {
		t.Errorf("the filer's own feed has %d of its report's events, want 1", n)
	}
	if n := reportEvents("Authorization", platformB); n != 0 {
		t.Errorf("platform B's feed has %d events of a report it did not file", n)
	}
	listed := func(auth ...string) bool {
		t.Helper()
		resp, body := c.get("/v1/reports?limit=100", auth...)
		wantStatus(t, resp, body, http.StatusOK)
		for _, r := range decode[client.List[client.Report]](t, body).Data {
			if r.ID == rep.ID {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Error("the filer's own list lacks its report")
	}
	if listed("Authorization", platformB) {
		t.Error("platform B lists a report it did not file")
	}
	// Pushes come in order: once the public case has come, the report's
	// change would have come before it.
	got := map[string][]client.EventType{}
	for len(got["/b"]) < 1 || len(got["/own"]) < 2 {
		select {
		case p := <-pushes:
			got[p.hook] = append(got[p.hook], p.typ)
		case <-time.After(timescale.Scale(10 * time.Second)):
			t.Fatalf("pushes so far %v", got)
		}
	}
	if fmt.Sprint(got["/b"]) != fmt.Sprint([]client.EventType{client.EventCasePublished}) {
		t.Errorf("platform B's webhook got %v, want the public case alone", got["/b"])
	}
	if fmt.Sprint(got["/own"]) != fmt.Sprint([]client.EventType{client.EventReportStatusChanged, client.EventCasePublished}) {
		t.Errorf("the keyless callers' webhook got %v, want their report's change, then the case", got["/own"])
	}
}
