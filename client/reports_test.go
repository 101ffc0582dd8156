package client_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func reportOf(srv *sandbox.Sandbox) client.ReportParams {
	p := srv.Demo()[0]
	return client.ReportParams{
		Product:     client.ProductKey{GTIN: p.GTIN[1:]}, // sent as printed, answered canonical
		Kind:        client.ReportCounterfeit,
		ListingURL:  "https://shop.example/item/42",
		Platform:    "shop.example",
		Description: "包装与正品不符，疑似假冒。",
	}
}

// idemKeys records the Idempotency-Key of every report attempt.
type idemKeys struct {
	mu   sync.Mutex
	keys []string
}

func (k *idemKeys) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/reports" {
			k.mu.Lock()
			k.keys = append(k.keys, r.Header.Get("Idempotency-Key"))
			k.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (k *idemKeys) all() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

func TestReportsCreateIsIdempotentUnderItsKey(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	params := reportOf(srv)
	opts := &client.ReportOptions{IdempotencyKey: "order-42-report-1"}

	first, resp, err := c.Reports.Create(ctx, params, opts)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Replayed() {
		t.Errorf("first create: status %d, replayed %v; want 201, false", resp.StatusCode, resp.Replayed())
	}
	if first.Product != (client.ProductKey{GTIN: srv.Demo()[0].GTIN}) || first.Status == "" {
		t.Errorf("report %+v: want the canonical key and a status", first)
	}

	again, resp, err := c.Reports.Create(ctx, params, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Replayed() || resp.StatusCode != http.StatusOK {
		t.Errorf("repeat: status %d, replayed %v; want 200, true", resp.StatusCode, resp.Replayed())
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("repeat answered another report (-first +repeat):\n%s", diff)
	}
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports stored, want 1", n)
	}

	got, _, err := c.Reports.Get(ctx, first.ID, first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	created := *first
	created.AccessToken = "" // answered once, at filing
	if diff := cmp.Diff(&created, got); diff != "" {
		t.Errorf("Get (-created +got):\n%s", diff)
	}

	// The same key with another report is a conflict, not a replay.
	params.Description = "另一份举报"
	_, _, err = c.Reports.Create(ctx, params, opts)
	requireAPIError(t, err, http.StatusConflict, client.CodeIdempotencyConflict)
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports stored after a conflict, want 1", n)
	}
}

func TestReportsCreateGeneratesAKeyAndRetriesSafely(t *testing.T) {
	t.Parallel()
	for _, fault := range []sandbox.Fault{
		// Refused before the server stores anything.
		{Kind: sandbox.FaultError, Status: 503, Probability: 0.5, Route: "POST /v1/reports"},
		// Stored, but the answer is lost on the way: only the key keeps
		// the retry from filing the report twice.
		{Kind: sandbox.FaultTruncated, Probability: 0.5, Route: "POST /v1/reports"},
	} {
		t.Run(string(fault.Kind), func(t *testing.T) {
			t.Parallel()
			keys := &idemKeys{}
			// Seed 7 fails the first attempt and lets the second through.
			srv, c := setupWith(t, fixture{
				sandbox: []sandbox.Option{sandbox.WithFaults(fault), sandbox.WithFaultSeed(7)},
				wrap:    keys.wrap,
			})
			rep, resp, err := c.Reports.Create(ctxT(t), reportOf(srv), nil)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if resp.Attempts < 2 || int64(resp.Attempts) != srv.Requests("POST /v1/reports") {
				t.Errorf("%d attempts, %d reached the sandbox; want a retry", resp.Attempts, srv.Requests("POST /v1/reports"))
			}
			if n := srv.Reports(); n != 1 {
				t.Errorf("%d reports stored, want exactly 1", n)
			}
			sent := keys.all()
			for _, k := range sent {
				if k != sent[0] {
					t.Errorf("attempts sent keys %q, want one key for all", sent)
					break
				}
			}
			if b, err := hex.DecodeString(sent[0]); err != nil || len(b) != 16 {
				t.Errorf("generated key %q is not 128 bits of hex", sent[0])
			}
			if got, _, err := c.Reports.Get(ctxT(t), rep.ID, rep.AccessToken); err != nil || got.ID != rep.ID {
				t.Errorf("Get(%s) = %v, %v", rep.ID, got, err)
			}
		})
	}
}

func TestReportsCreateGeneratesAFreshKeyPerCall(t *testing.T) {
	t.Parallel()
	keys := &idemKeys{}
	srv, c := setupWith(t, fixture{wrap: keys.wrap})
	for range 2 {
		if _, _, err := c.Reports.Create(ctxT(t), reportOf(srv), nil); err != nil {
			t.Fatal(err)
		}
	}
	if sent := keys.all(); len(sent) != 2 || sent[0] == sent[1] {
		t.Errorf("keys %q, want two different ones", sent)
	}
	if n := srv.Reports(); n != 2 {
		t.Errorf("%d reports stored, want 2: without a caller's key, two calls are two reports", n)
	}
}

func TestReportsErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)

	bad := reportOf(srv)
	bad.ListingURL = "javascript:alert(1)"
	_, _, err := c.Reports.Create(ctx, bad, nil)
	apiErr := requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidBody)
	if len(apiErr.Fields) != 1 || !strings.HasSuffix(apiErr.Fields[0].Field, "listing_url") {
		t.Errorf("fields %+v, want the listing URL named", apiErr.Fields)
	}

	_, _, err = c.Reports.Get(ctx, "rpt_nope", "a-token-of-the-right-shape")
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown report: err = %v, want ErrNotFound", err)
	}
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	before := srv.Requests("")
	noKey := reportOf(srv)
	noKey.Product = client.ProductKey{}
	var keyErr *client.KeyError
	if _, _, err := c.Reports.Create(ctx, noKey, nil); !errors.As(err, &keyErr) {
		t.Errorf("report without a product: err = %v, want a *KeyError", err)
	}
	if _, _, err := c.Reports.Create(ctx, reportOf(srv), &client.ReportOptions{IdempotencyKey: "has space"}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("malformed idempotency key: err = %v, want ErrInvalidInput", err)
	}
	for _, id := range []string{"", "rpt_", "case_000001", "rpt_../x"} {
		if _, _, err := c.Reports.Get(ctx, id, "a-token-of-the-right-shape"); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidInput", id, err)
		}
	}
	noRequests(t, srv, before)
	if n := srv.Reports(); n != 0 {
		t.Errorf("%d reports stored, want none", n)
	}
}

func TestResponseReplayedOnNil(t *testing.T) {
	t.Parallel()
	var r *client.Response
	if r.Replayed() {
		t.Error("a nil Response says it was replayed")
	}
}

func TestReportsGetNeedsTheToken(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	a, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.AccessToken) < 22 || a.AccessToken == b.AccessToken {
		t.Fatalf("tokens %d and %d characters, equal %v: want two of at least 128 bits", len(a.AccessToken), len(b.AccessToken), a.AccessToken == b.AccessToken)
	}
	got, _, err := c.Reports.Get(ctx, a.ID, a.AccessToken)
	if err != nil || got.ID != a.ID || got.Status != client.ReportReceived || len(got.Steps) != 1 {
		t.Fatalf("Get with the token = %+v, %v", got, err)
	}
	// Another report's token is the same answer as an unknown id.
	_, _, wrong := c.Reports.Get(ctx, a.ID, b.AccessToken)
	_, _, unknown := c.Reports.Get(ctx, "rpt_99999999", a.AccessToken)
	for _, err := range []error{wrong, unknown} {
		apiErr := requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)
		if apiErr.Detail != "no report has this id and token" {
			t.Errorf("detail %q says more than that there is no such report", apiErr.Detail)
		}
	}
	// A malformed token is refused before sending, and not quoted.
	before := srv.Requests("")
	for _, tok := range []client.ReportToken{"", "short", "has space in it and more", client.ReportToken(strings.Repeat("x", 129))} {
		_, _, err := c.Reports.Get(ctx, a.ID, tok)
		if !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("token %q: err = %v, want ErrInvalidInput", tok, err)
		}
		if tok != "" && strings.Contains(err.Error(), string(tok)) {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
	noRequests(t, srv, before)
}

// The token is a secret: it prints as [redacted] however a Report is
// printed or logged, and travels only in its header.
func TestReportTokenStaysSecret(t *testing.T) {
	t.Parallel()
	var seen sync.Map // where the token travelled
	srv, c := setupWith(t, fixture{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Store("url:"+r.URL.String(), true)
			seen.Store("header:"+r.Header.Get(client.ReportTokenHeader), true)
			h.ServeHTTP(w, r)
		})
	}})
	rep, _, err := c.Reports.Create(ctxT(t), reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := string(rep.AccessToken)
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("filed", "report", rep, "token", rep.AccessToken)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, *rep) + fmt.Sprintf(verb, rep.AccessToken); strings.Contains(s, tok) {
			t.Errorf("%s shows the token: %s", verb, s)
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Errorf("slog shows the token: %s", logs.String())
	}
	if _, _, err := c.Reports.Get(ctxT(t), rep.ID, rep.AccessToken); err != nil {
		t.Fatal(err)
	}
	inHeader := false
	seen.Range(func(k, _ any) bool {
		s := k.(string)
		if strings.HasPrefix(s, "url:") && strings.Contains(s, tok) {
			t.Errorf("the token travelled in a URL: %s", s)
		}
		inHeader = inHeader || s == "header:"+tok
		return true
	})
	if !inHeader {
		t.Error("the token was not sent in its header")
	}
}

func TestReportsAllByStatus(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	var mine []string
	for range 3 {
		r, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, r.ID)
	}
	if _, err := srv.AdvanceReport(mine[1], sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	var received []string
	for r, err := range c.Reports.All(ctx, &client.ReportListOptions{Status: client.ReportReceived, ListOptions: client.ListOptions{Limit: 1}}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != client.ReportReceived || r.AccessToken != "" {
			t.Errorf("listed %s: status %q, token shown %v", r.ID, r.Status, r.AccessToken != "")
		}
		received = append(received, r.ID)
	}
	// Newest first: the platform's two received reports, then the demo's one.
	if len(received) < 3 || received[0] != mine[2] || received[1] != mine[0] {
		t.Errorf("received reports %v, want %s and %s first", received, mine[2], mine[0])
	}
	var fwd []string
	for r, err := range c.Reports.All(ctx, &client.ReportListOptions{Status: client.ReportForwarded, ReporterKind: client.ReporterConsumer}) {
		if err != nil {
			t.Fatal(err)
		}
		fwd = append(fwd, r.ID)
	}
	if len(fwd) == 0 || fwd[0] != mine[1] {
		t.Errorf("forwarded consumer reports %v, want %s first", fwd, mine[1])
	}
	if _, _, err := c.Reports.List(ctx, &client.ReportListOptions{ListOptions: client.ListOptions{Limit: 101}}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("limit 101: err = %v, want ErrInvalidInput", err)
	}
}

func TestReportsCreateBatch(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	g := srv.Demo()[0].GTIN
	clue := func(key, link string) client.ClueParams {
		return client.ClueParams{IdempotencyKey: key, Product: client.ProductKey{GTIN: g}, Kind: client.ReportCounterfeit,
			ListingIDs: []string{"item-" + key}, EvidenceURLs: []string{link}, Description: "仿冒注册商标"}
	}
	batch := client.ClueBatch{RightsHolder: "清源品牌管理有限公司", Platform: "shop.example", EvidenceHosts: []string{"evidence.example"},
		Clues: []client.ClueParams{
			clue("a", "https://evidence.example/a.pdf"),
			clue("b", "https://evil.example/b.pdf"),
			clue("", "https://evidence.example/c.pdf"), // the client names it
		}}
	res, _, err := c.Reports.CreateBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err() != nil || res[0].Report.ReporterKind != client.ReporterRightsHolder || res[2].Err() != nil {
		t.Errorf("good clues: %+v, %+v", res[0], res[2])
	}
	bad := res[1].Err()
	var apiErr *client.APIError
	if !errors.Is(bad, client.ErrInvalidInput) || !errors.As(bad, &apiErr) || len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "/evidence_urls/0" {
		t.Errorf("clue on a host not allowed: %v, want ErrInvalidInput naming /evidence_urls/0", bad)
	}
	got, _, err := c.Reports.Get(ctx, res[0].Report.ID, res[0].Report.AccessToken)
	if err != nil || len(got.ListingIDs) != 1 || len(got.EvidenceURLs) != 1 {
		t.Errorf("the filed clue reads %+v, %v", got, err)
	}
	if n := srv.Reports(); n != 2 {
		t.Errorf("%d reports filed, want 2", n)
	}

	// Refused whole, before sending: none, or more than MaxClues.
	before := srv.Requests("")
	for _, n := range []int{0, client.MaxClues + 1} {
		b := batch
		b.Clues = make([]client.ClueParams, n)
		for i := range b.Clues {
			b.Clues[i] = clue(fmt.Sprint(i), "https://evidence.example/x")
		}
		if _, _, err := c.Reports.CreateBatch(ctx, b); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("%d clues: err = %v, want ErrInvalidInput", n, err)
		}
	}
	noRequests(t, srv, before)
}

// Report look-ups have a limit of their own, tighter than other reads'.
// Its 429 is about look-ups alone: it must not pause the client's other
// calls, or a flood of status pages would take every badge down with it.
func TestReportLookupLimitHoldsBackLookupsAlone(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithReportLookupLimit(0.001, 1)},
		client:  []client.Option{client.WithRetryPolicy(client.RetryPolicy{MaxRetries: 0})},
	})
	ctx := ctxT(t)
	rep, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Reports.Get(ctx, rep.ID, rep.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Reports.Get(ctx, rep.ID, rep.AccessToken)
	var rl *client.RateLimitError
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("the look-up past the limit: %v, want a *RateLimitError with its RetryAfter", err)
	}
	// A second look-up inside the Retry-After is refused without being sent.
	before := srv.Requests("GET /v1/reports/{id}")
	if _, _, err := c.Reports.Get(ctx, rep.ID, rep.AccessToken); !errors.Is(err, client.ErrRateLimited) {
		t.Errorf("a look-up inside the Retry-After: %v, want ErrRateLimited", err)
	}
	if n := srv.Requests("GET /v1/reports/{id}") - before; n != 0 {
		t.Errorf("a look-up inside the Retry-After was sent %d times", n)
	}
	// Every other call goes on.
	before = srv.Requests("GET /v1/products/{gtin}")
	if _, _, err := c.Products.ByGTIN(ctx, srv.Demo()[0].GTIN, nil); err != nil {
		t.Errorf("a product look-up after a report look-up's 429: %v", err)
	}
	if n := srv.Requests("GET /v1/products/{gtin}") - before; n != 1 {
		t.Errorf("the product look-up reached the registry %d times, want 1", n)
	}
	if _, _, err := c.Reports.CreateBatch(ctx, client.ClueBatch{RightsHolder: "清源品牌管理有限公司", Platform: "shop.example",
		Clues: []client.ClueParams{{Product: client.ProductKey{GTIN: srv.Demo()[0].GTIN}, Kind: client.ReportCounterfeit,
			ListingIDs: []string{"item-1"}, EvidenceURLs: []string{"https://evidence.example/1.pdf"}, Description: "仿冒"}}}); err != nil {
		t.Errorf("a clue batch after a report look-up's 429: %v", err)
	}
	if s := c.Stats(); s.Pauses != 0 {
		t.Errorf("the client paused %d times for a report look-up's limit", s.Pauses)
	}
}

// A report's token never shows in a log line or an error, whatever the
// look-up meets: every fault the sandbox injects, a wrong token, the
// look-ups' limit.
func TestReportTokenInNoLogNorError(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithReportLookupLimit(1000, 1000)},
		client:  []client.Option{client.WithLogger(logger), client.WithRetryPolicy(fastPolicy(1)), client.WithMaxPause(time.Nanosecond)},
		wrap:    withZeroRetryAfter,
	})
	ctx := ctxT(t)
	rep, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := c.Reports.Create(ctx, reportOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := string(rep.AccessToken)
	var errs []error
	for _, fc := range faultCases() {
		f := fc.fault
		f.Route = "GET /v1/reports/{id}"
		if err := srv.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Reports.Get(ctx, rep.ID, rep.AccessToken)
		errs = append(errs, err)
	}
	if err := srv.SetFaults(); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Reports.Get(ctx, other.ID, rep.AccessToken) // a wrong token
	errs = append(errs, err)
	for i, err := range errs {
		if err != nil && (strings.Contains(err.Error(), tok) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), tok)) {
			t.Errorf("error %d shows the token: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("the debug logger logged nothing: the test sees nothing")
	}
	if strings.Contains(logs.String(), tok) {
		t.Errorf("a log line shows the token:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
