package sandbox_test

// The sandbox's contract tests: every answer of every route, successes and
// errors alike, is validated against api/openapi.yaml with kin-openapi, over
// real HTTP. Each exchange is recorded as (method, path template, status),
// and a coverage check fails when an operation of the document was never
// answered with each of its documented 2xx statuses, or a documented error
// status was never produced, so a route added to the document fails here
// until it is exercised.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	contractapi "github.com/qualitycommit/qcsdk/api"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// --- the contract, loaded once per test binary ---------------------------------

type contractSpec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	contractOnce   sync.Once
	contractLoaded *contractSpec
	contractErr    error
)

func contractLoad(t testing.TB) *contractSpec {
	t.Helper()
	contractOnce.Do(func() {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		doc, err := loader.LoadFromData(contractapi.Spec())
		if err != nil {
			contractErr = fmt.Errorf("load openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = fmt.Errorf("openapi.yaml is invalid: %w", err)
			return
		}
		// The test servers listen on random ports, which the document's
		// server entry does not match; without servers any host routes.
		doc.Servers = nil
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			contractErr = fmt.Errorf("router: %w", err)
			return
		}
		contractLoaded = &contractSpec{doc: doc, router: router}
	})
	if contractErr != nil {
		t.Fatal(contractErr)
	}
	return contractLoaded
}

// contractOperations lists the document's operations as "METHOD /path".
func contractOperations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

func contractOperation(doc *openapi3.T, op string) *openapi3.Operation {
	method, path, _ := strings.Cut(op, " ")
	if item := doc.Paths.Value(path); item != nil {
		return item.GetOperation(method)
	}
	return nil
}

// contractVisit validates a decoded JSON value against a schema the way
// openapi3filter validates a 3.1 document's response bodies.
func contractVisit(s *openapi3.SchemaRef, v any, asRequest bool) error {
	opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}
	if asRequest {
		opts = append(opts, openapi3.VisitAsRequest())
	} else {
		opts = append(opts, openapi3.VisitAsResponse())
	}
	return s.Value.VisitJSON(v, opts...)
}

// contractCheckHeaders validates h against the headers a response object
// documents: present when required, and matching its schema.
func contractCheckHeaders(resp *openapi3.Response, h http.Header) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(resp.Headers)) {
		hv := resp.Headers[name].Value
		v := h.Get(name)
		if v == "" {
			if hv.Required {
				errs = append(errs, fmt.Errorf("header %s is missing", name))
			}
			continue
		}
		var val any = v
		if hv.Schema.Value.Type.Is("integer") {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("header %s = %q is not an integer", name, v))
				continue
			}
			val = float64(n)
		}
		if err := hv.Schema.Value.VisitJSON(val, openapi3.EnableJSONSchema2020()); err != nil {
			errs = append(errs, fmt.Errorf("header %s = %q: %v", name, v, err))
		}
	}
	return errors.Join(errs...)
}

// --- coverage --------------------------------------------------------------------

// contractCoverage records the (operation, status) pairs validated.
type contractCoverage struct {
	mu   sync.Mutex
	seen map[string]map[int]int // "METHOD /path" -> status -> exchanges
}

func (c *contractCoverage) add(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]map[int]int{}
	}
	if c.seen[op] == nil {
		c.seen[op] = map[int]int{}
	}
	c.seen[op][status]++
}

func (c *contractCoverage) statuses(op string) map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.seen[op])
}

// contractMustExercise are the error statuses that must be produced on
// every operation that documents them.
var contractMustExercise = []int{304, 400, 401, 404, 409, 413, 415, 429, 500, 503}

// --- exchanges ---------------------------------------------------------------------

var contractHTTP = &http.Client{
	Timeout: timescale.Scale(30 * time.Second),
	// No idle connections outlive a test (TestMain checks for leaks).
	Transport: &http.Transport{DisableKeepAlives: true},
}

// The API key every exchange sends unless it says otherwise.
const contractKey = "contract-key-a"

type contractCall struct {
	method, target string
	header         http.Header
	body           string
	noAuth         bool   // send no Authorization header
	key            string // API key to send instead of contractKey
	// invalid marks a request the contract itself rejects: request
	// validation is skipped, the answer is still validated.
	invalid bool
	// noConditional skips the automatic If-None-Match replay of a 200.
	noConditional bool
}

func contractGet(target string) contractCall {
	return contractCall{method: http.MethodGet, target: target}
}

func contractPost(target, body string) contractCall {
	return contractCall{method: http.MethodPost, target: target, body: body}
}

func (c contractCall) with(name, value string) contractCall {
	c.header = c.header.Clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Set(name, value)
	return c
}

func (c contractCall) bad() contractCall { c.invalid = true; return c }

func (c contractCall) String() string { return c.method + " " + c.target }

type contractResult struct {
	status  int
	header  http.Header
	body    []byte
	op      string // the operation it was validated against, or ""
	problem *client.Problem
}

// contractEnv is one test's sandbox and what it validates against.
type contractEnv struct {
	t     *testing.T
	spec  *contractSpec
	srv   *sandbox.Server
	cov   *contractCoverage
	no304 bool // no automatic If-None-Match replays (rate-limited sandboxes)
}

var contractReqSeq atomic.Int64

// contractWellFormedID is an X-Request-Id the contract says to echo.
var contractWellFormedID = regexp.MustCompile(`^[!-~]{1,128}$`)

func (cx *contractEnv) newRequest(c contractCall) *http.Request {
	cx.t.Helper()
	var body io.Reader
	if c.method == http.MethodPost || c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, cx.srv.URL+c.target, body)
	if err != nil {
		cx.t.Fatalf("%s: %v", c, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !c.noAuth {
		key := c.key
		if key == "" {
			key = contractKey
		}
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	return req
}

// exchange sends c to the sandbox and validates request and answer against
// the contract.
func (cx *contractEnv) exchange(c contractCall) contractResult {
	t := cx.t
	t.Helper()
	if c.header.Get("X-Request-Id") == "" {
		c = c.with("X-Request-Id", "contract-"+strconv.FormatInt(contractReqSeq.Add(1), 10))
	}
	sentID := c.header.Get("X-Request-Id")

	resp, err := contractHTTP.Do(cx.newRequest(c))
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", c, err)
	}
	res := contractResult{status: resp.StatusCode, header: resp.Header, body: body}
	where := fmt.Sprintf("%s -> %d", c, res.status)

	// What every answer carries.
	if got := res.header.Get("X-Request-Id"); got == "" {
		t.Errorf("%s: no X-Request-Id", where)
	} else if contractWellFormedID.MatchString(sentID) && got != sentID {
		t.Errorf("%s: X-Request-Id %q, want the caller's well-formed %q echoed", where, got, sentID)
	}
	if res.status >= 400 {
		if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", where, ct)
		}
		var p client.Problem
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("%s: the problem document does not decode: %v: %.300s", where, err, body)
		} else {
			res.problem = &p
			if p.Status != res.status {
				t.Errorf("%s: problem status %d", where, p.Status)
			}
			if p.RequestID != "" && p.RequestID != res.header.Get("X-Request-Id") {
				t.Errorf("%s: problem request_id %q differs from X-Request-Id %q", where, p.RequestID, res.header.Get("X-Request-Id"))
			}
		}
	}

	spec := cx.spec
	route, params, rerr := spec.router.FindRoute(cx.newRequest(c))
	switch {
	case rerr != nil && rerr.Error() == routers.ErrPathNotFound.Error():
		// No route: a 404 problem document.
		if res.status != http.StatusNotFound {
			t.Errorf("%s: an unknown route answered %d, want 404", where, res.status)
		}
		cx.checkProblemBody(where, res)
		cx.checkErrorHeaders(where, spec.doc.Components.Responses["NotFound"].Value, res)
		res.op = "(no route)"
	case rerr != nil && rerr.Error() == routers.ErrMethodNotAllowed.Error():
		// No operation answers it, so no operation documents it: check it
		// against components.responses.MethodNotAllowed directly.
		if res.status != http.StatusMethodNotAllowed {
			t.Errorf("%s: a method the path does not take answered %d, want 405", where, res.status)
		}
		cx.checkProblemBody(where, res)
		cx.checkErrorHeaders(where, spec.doc.Components.Responses["MethodNotAllowed"].Value, res)
		res.op = "(method not allowed)"
	case rerr != nil:
		t.Fatalf("%s: routing: %v", where, rerr)
	default:
		res.op = route.Method + " " + route.Path
		opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
		reqIn := &openapi3filter.RequestValidationInput{
			Request: cx.newRequest(c), PathParams: params, Route: route, Options: opts,
		}
		if !c.invalid {
			if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
				t.Errorf("%s: the test's request does not conform: %v", where, err)
			}
		}
		if res.status == http.StatusNotModified {
			cx.checkNotModified(where, route.Operation, c, res)
		} else {
			err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: reqIn,
				Status:                 res.status,
				Header:                 res.header,
				Body:                   io.NopCloser(bytes.NewReader(body)),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			})
			if err != nil {
				t.Errorf("%s: the answer breaks the contract: %v\nbody: %.500s", where, err, body)
			}
			if res.status < 300 && len(body) > 0 {
				var v any
				if json.Unmarshal(body, &v) == nil {
					for _, msg := range contractKeyRules(v) {
						t.Errorf("%s: %s\nbody: %.500s", where, msg, body)
					}
				}
			}
		}
	}
	if cx.cov != nil {
		cx.cov.add(res.op, res.status)
	}
	return res
}

// contractKeyRules checks the rules the document states in prose rather
// than as a oneOf (which code generators reject): a ProductKey names
// either gtin alone or uscc and brand (model optional), and a BatchResult
// carries exactly one of status and error.
func contractKeyRules(v any) []string {
	var msgs []string
	checkKey := func(where string, k any) {
		m, ok := k.(map[string]any)
		if !ok {
			msgs = append(msgs, where+" is not an object")
			return
		}
		_, gtin := m["gtin"]
		_, uscc := m["uscc"]
		_, brand := m["brand"]
		_, model := m["model"]
		if gtin && (uscc || brand || model) || !gtin && !(uscc && brand) {
			msgs = append(msgs, fmt.Sprintf("%s %v names neither or both forms of a product key", where, m))
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if _, ok := v["listed"]; ok {
				checkKey("a product status's key", v["key"])
			}
			if _, ok := v["listing_url"]; ok {
				checkKey("a report's product", v["product"])
			}
			// A batch result's key is a product key; a log key's is a string.
			if k, ok := v["key"].(map[string]any); ok && k != nil {
				_, st := v["status"]
				_, pr := v["error"]
				if _, listed := v["listed"]; !listed && st == pr {
					msgs = append(msgs, "a batch result carries both or neither of status and error")
				}
			}
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return msgs
}

func (cx *contractEnv) checkProblemBody(where string, res contractResult) {
	cx.t.Helper()
	var v any
	if err := json.Unmarshal(res.body, &v); err != nil {
		cx.t.Errorf("%s: body is not JSON: %v", where, err)
		return
	}
	if err := contractVisit(cx.spec.doc.Components.Schemas["Problem"], v, false); err != nil {
		cx.t.Errorf("%s: body is not a Problem: %v", where, err)
	}
}

func (cx *contractEnv) checkErrorHeaders(where string, resp *openapi3.Response, res contractResult) {
	cx.t.Helper()
	if err := contractCheckHeaders(resp, res.header); err != nil {
		cx.t.Errorf("%s: %v", where, err)
	}
}

// checkNotModified checks a 304, which ValidateResponse skips.
func (cx *contractEnv) checkNotModified(where string, op *openapi3.Operation, c contractCall, res contractResult) {
	cx.t.Helper()
	ref := op.Responses.Status(http.StatusNotModified)
	if ref == nil {
		cx.t.Errorf("%s: the operation does not document 304", where)
		return
	}
	if len(res.body) != 0 {
		cx.t.Errorf("%s: a 304 with a body: %.200s", where, res.body)
	}
	if err := contractCheckHeaders(ref.Value, res.header); err != nil {
		cx.t.Errorf("%s: %v", where, err)
	}
	if inm := c.header.Get("If-None-Match"); inm != "" && res.header.Get("ETag") != inm {
		cx.t.Errorf("%s: ETag %q, sent If-None-Match %q", where, res.header.Get("ETag"), inm)
	}
}

// expect exchanges c and checks its status and, for an error, its code.
// A 200 to a GET is asked again with its ETag in If-None-Match, which must
// answer 304.
func (cx *contractEnv) expect(c contractCall, status int, code string) contractResult {
	cx.t.Helper()
	res := cx.exchange(c)
	if res.status != status {
		cx.t.Errorf("%s: status %d, want %d: %.300s", c, res.status, status, res.body)
		return res
	}
	if code != "" && (res.problem == nil || res.problem.Code != code) {
		got := ""
		if res.problem != nil {
			got = res.problem.Code
		}
		cx.t.Errorf("%s: code %q, want %q", c, got, code)
	}
	if status == http.StatusOK && c.method == http.MethodGet && !cx.no304 && !c.noConditional {
		etag := res.header.Get("ETag")
		if etag == "" {
			return res // the validation above reported it
		}
		again := cx.exchange(c.with("If-None-Match", etag))
		if again.status != http.StatusNotModified {
			cx.t.Errorf("%s with If-None-Match %s: status %d, want 304", c, etag, again.status)
		}
	}
	return res
}

// contractDecode decodes an answer into T.
func contractDecode[T any](cx *contractEnv, res contractResult) T {
	cx.t.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		cx.t.Fatalf("decoding %T: %v: %.300s", v, err, res.body)
	}
	return v
}

// --- data helpers -------------------------------------------------------------------

// contractUnknownUSCC is a valid USCC no sandbox enterprise has (the
// sandbox's region codes do not include Beijing's 110000).
func contractUnknownUSCC(t testing.TB) client.USCC {
	u, err := client.CompleteUSCC("91110000MA0000001")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// contractBadCheck returns s with its last character replaced by another
// one of the same set, so that only the check character is wrong.
func contractBadCheck(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

func contractProduct(cx *contractEnv) sandbox.DemoProduct {
	d := cx.srv.Demo()
	if len(d) == 0 {
		cx.t.Fatal("the sandbox has no demo products")
	}
	return d[0]
}

func contractLookupTarget(u client.USCC, brand, model string) string {
	q := url.Values{"uscc": {string(u)}, "brand": {brand}}
	if model != "" {
		q.Set("model", model)
	}
	return "/v1/products/lookup?" + q.Encode()
}

func contractReportBody(product, kind, description string) string {
	b, _ := json.Marshal(map[string]any{
		"product":     json.RawMessage(product),
		"kind":        kind,
		"listing_url": "https://shop.example/item/1",
		"platform":    "Example Mall",
		"description": description,
		"contact":     "shopper@example.com",
	})
	return string(b)
}

// contractClueBody is a rights holder's batch of one clue per evidence
// link.
func contractClueBody(gtin string, evidence ...string) string {
	clues := make([]client.ClueParams, len(evidence))
	for i, e := range evidence {
		clues[i] = client.ClueParams{
			IdempotencyKey: "contract-clue-" + strconv.Itoa(i), Product: client.ProductKey{GTIN: client.GTIN(gtin)},
			Kind: client.ReportCounterfeit, ListingIDs: []string{"item-" + strconv.Itoa(i)}, EvidenceURLs: []string{e},
			Description: "假冒注册商标",
		}
	}
	b, _ := json.Marshal(client.ClueBatch{RightsHolder: "示例品牌管理有限公司", Platform: "Example Mall", Clues: clues})
	return string(b)
}

var contractHTTPS = regexp.MustCompile(`^https://`)

// contractCheckStatus checks what the schema cannot say about a status.
func contractCheckStatus(cx *contractEnv, where string, st client.ProductStatus) {
	cx.t.Helper()
	if st.Listed && st.Enterprise == nil {
		cx.t.Errorf("%s: listed without an enterprise", where)
	}
	want := int64(0)
	if st.Enterprise != nil {
		want = st.Enterprise.Version
	}
	if st.Commitment != nil {
		want = max(want, st.Commitment.Version)
	}
	for _, in := range st.Inspections {
		want = max(want, in.Version)
	}
	if st.Listed && st.Version != want {
		cx.t.Errorf("%s: version %d, want the largest of its records' %d", where, st.Version, want)
	}
	if st.Listed && !contractHTTPS.MatchString(st.VerifyURL) {
		cx.t.Errorf("%s: a listed product's verify_url %q is not https", where, st.VerifyURL)
	}
	for i := 1; i < len(st.Inspections); i++ {
		if st.Inspections[i].PublishedAt.After(st.Inspections[i-1].PublishedAt) {
			cx.t.Errorf("%s: inspections are not newest published first", where)
		}
	}
	if len(st.Key.GTIN) != 0 && len(st.Key.GTIN) != 14 {
		cx.t.Errorf("%s: key GTIN %q is not in its 14-digit form", where, st.Key.GTIN)
	}
}

// contractPage walks a list with limit per page, checking each page is a
// valid answer, and returns every item's id.
func contractPage(cx *contractEnv, target string, limit int) []string {
	cx.t.Helper()
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	var ids []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			cx.t.Fatalf("%s: more than 50 pages", target)
		}
		tgt := target + sep + "limit=" + strconv.Itoa(limit)
		if next != "" {
			tgt += "&cursor=" + url.QueryEscape(next)
		}
		res := cx.expect(contractGet(tgt), http.StatusOK, "")
		if res.status != http.StatusOK {
			return ids
		}
		page := contractDecode[struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}](cx, res)
		if len(page.Data) > limit {
			cx.t.Errorf("%s: %d items, more than limit", tgt, len(page.Data))
		}
		for _, d := range page.Data {
			ids = append(ids, d.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		if len(page.Data) == 0 {
			cx.t.Errorf("%s: an empty page with a next_cursor", tgt)
		}
		next = *page.NextCursor
	}
}

// --- the representative request of each operation ------------------------------------

// contractRepresentative names, for each operation, a request that conforms
// to the contract. The generic error cases (401, 429, 500, 503) send it; it
// need not name an existing record, since those answers come first.
func contractRepresentative(cx *contractEnv) map[string]contractCall {
	d := contractProduct(cx)
	return map[string]contractCall{
		"GET /v1/products/{gtin}":              contractGet("/v1/products/" + string(d.GTIN)),
		"GET /v1/products/lookup":              contractGet(contractLookupTarget(d.USCC, d.Brand, d.Model)),
		"POST /v1/products/batch":              contractPost("/v1/products/batch", `{"keys":[{"gtin":"`+string(d.GTIN)+`"}]}`),
		"GET /v1/enterprises":                  contractGet("/v1/enterprises?limit=3"),
		"GET /v1/enterprises/{id}":             contractGet("/v1/enterprises/" + string(d.USCC)),
		"GET /v1/enterprises/{id}/commitments": contractGet("/v1/enterprises/" + string(d.USCC) + "/commitments"),
		"GET /v1/commitments/{id}":             contractGet("/v1/commitments/cmt_0000001_1"),
		"GET /v1/inspections":                  contractGet("/v1/inspections?limit=3"),
		"GET /v1/inspections/{id}":             contractGet("/v1/inspections/ins_00000001"),
		"GET /v1/cases":                        contractGet("/v1/cases?limit=3"),
		"GET /v1/cases/{id}":                   contractGet("/v1/cases/case_000001"),
		"GET /v1/categories":                   contractGet("/v1/categories"),
		"GET /v1/changes":                      contractGet("/v1/changes"),
		"POST /v1/reports": contractPost("/v1/reports", contractReportBody(`{"gtin":"`+string(d.GTIN)+`"}`, "counterfeit", "疑似假冒")).
			with("Idempotency-Key", "contract-representative"),
		"GET /v1/reports/{id}":          contractGet("/v1/reports/rpt_00000001").with(client.ReportTokenHeader, "contract-representative-token"),
		"GET /v1/reports":               contractGet("/v1/reports?status=closed"),
		"POST /v1/reports/batch":        contractPost("/v1/reports/batch", contractClueBody(string(d.GTIN), "https://evidence.example/1.pdf")),
		"GET /v1/log/checkpoint":        contractGet("/v1/log/checkpoint"),
		"GET /v1/log/proof/inclusion":   contractGet("/v1/log/proof/inclusion?index=0&size=2"),
		"GET /v1/log/proof/consistency": contractGet("/v1/log/proof/consistency?from=1&to=2"),
		"GET /v1/log/leaf":              contractGet("/v1/log/leaf?index=0"),
		"GET /v1/keys":                  contractGet("/v1/keys"),
	}
}

// --- the cases --------------------------------------------------------------------------

// pollSignal is a log handler that tells, on its channel, that a long
// poll of the sandbox is waiting for a change.
type pollSignal struct{ waiting chan<- struct{} }

func (pollSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h pollSignal) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h pollSignal) WithGroup(string) slog.Handler          { return h }
func (h pollSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "sandbox long poll waits" {
		select {
		case h.waiting <- struct{}{}:
		default:
		}
	}
	return nil
}

type contractCase struct {
	name    string
	opts    []sandbox.Option
	no304   bool
	hostile bool // also run against a sandbox WithHostileText
	run     func(cx *contractEnv)
}

// contractGenericCases are the errors every operation can answer, sent
// with its representative request.
func contractGenericCases(doc *openapi3.T) []contractCase {
	var cases []contractCase
	for _, op := range contractOperations(doc) {
		lookup := func(cx *contractEnv) contractCall {
			c, ok := contractRepresentative(cx)[op]
			if !ok {
				cx.t.Fatalf("no representative request for %s: add one to contractRepresentative", op)
			}
			return c
		}
		cases = append(cases,
			contractCase{name: op + "/401 without a key", opts: []sandbox.Option{sandbox.WithAPIKeys(contractKey)}, run: func(cx *contractEnv) {
				c := lookup(cx)
				c.noAuth = true
				cx.expect(c, http.StatusUnauthorized, client.CodeUnauthorized)
			}},
			contractCase{name: op + "/401 unknown key", opts: []sandbox.Option{sandbox.WithAPIKeys(contractKey)}, run: func(cx *contractEnv) {
				c := lookup(cx)
				c.key = "contract-key-unknown"
				cx.expect(c, http.StatusUnauthorized, client.CodeUnauthorized)
			}},
			contractCase{name: op + "/429 over the rate", opts: []sandbox.Option{sandbox.WithRateLimit(0.05, 1)}, no304: true, run: func(cx *contractEnv) {
				cx.expect(contractGet("/v1/categories"), http.StatusOK, "")
				res := cx.expect(lookup(cx), http.StatusTooManyRequests, client.CodeRateLimited)
				if res.header.Get("Retry-After") == "" {
					cx.t.Error("a 429 without Retry-After")
				}
			}},
			contractCase{name: op + "/429 injected", run: func(cx *contractEnv) {
				contractSetFaults(cx, sandbox.Fault{Kind: sandbox.FaultRateLimit})
				cx.expect(lookup(cx), http.StatusTooManyRequests, client.CodeRateLimited)
			}},
			contractCase{name: op + "/500 injected", run: func(cx *contractEnv) {
				contractSetFaults(cx, sandbox.Fault{Kind: sandbox.FaultError, Status: 500})
				cx.expect(lookup(cx), http.StatusInternalServerError, client.CodeInternal)
			}},
			contractCase{name: op + "/503 injected", run: func(cx *contractEnv) {
				contractSetFaults(cx, sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
				cx.expect(lookup(cx), http.StatusServiceUnavailable, client.CodeUnavailable)
			}},
		)
	}
	return cases
}

func contractSetFaults(cx *contractEnv, faults ...sandbox.Fault) {
	cx.t.Helper()
	if err := cx.srv.SetFaults(faults...); err != nil {
		cx.t.Fatal(err)
	}
}

// contractPublishAll publishes one change of every kind the sandbox can
// make and returns how many events that is.
func contractPublishAll(cx *contractEnv) int {
	cx.t.Helper()
	demo := cx.srv.Demo()
	if len(demo) < 3 {
		cx.t.Fatal("the demo set is too small")
	}
	// Commitments and ids come from the API, as a platform would see them.
	cmts := contractDecode[client.List[client.Commitment]](cx,
		cx.expect(contractGet("/v1/enterprises/"+string(demo[0].USCC)+"/commitments"), http.StatusOK, ""))
	if len(cmts.Data) == 0 {
		cx.t.Fatal("the first demo enterprise has no commitments")
	}
	ent2 := contractDecode[client.Enterprise](cx, cx.expect(contractGet("/v1/enterprises/"+string(demo[1].USCC)), http.StatusOK, ""))
	if _, err := cx.srv.Revoke(cmts.Data[0].ID); err != nil {
		cx.t.Fatal(err)
	}
	if _, err := cx.srv.PublishInspection(demo[0].GTIN, client.InspectionFail); err != nil {
		cx.t.Fatal(err)
	}
	if _, err := cx.srv.RenameEnterprise(ent2.ID, client.Text{ZH: "新名字有限公司", EN: "New Name Co., Ltd."}); err != nil {
		cx.t.Fatal(err)
	}
	if err := cx.srv.Delist(string(demo[2].USCC)); err != nil {
		cx.t.Fatal(err)
	}
	// A report of the contract's key, through its lifecycle into a case:
	// three report.status_changed events (on this key's feed alone) and
	// the case's case.updated.
	rep := contractDecode[client.Report](cx, cx.expect(contractPost("/v1/reports",
		contractReportBody(`{"gtin":"`+string(demo[0].GTIN)+`"}`, "counterfeit", "疑似假冒")), http.StatusCreated, ""))
	for _, adv := range []sandbox.ReportAdvance{{}, {}, {Outcome: client.OutcomeCasePublished}} {
		if _, err := cx.srv.AdvanceReport(rep.ID, adv); err != nil {
			cx.t.Fatal(err)
		}
	}
	cx.srv.PublishCase(client.Case{
		Title:     client.Text{ZH: "销售假冒围巾案", EN: "Counterfeit scarves"},
		Summary:   client.Text{ZH: "当事人销售假冒注册商标的围巾。"},
		Category:  "childrens_clothing",
		Brand:     "清源",
		Platform:  "集市网",
		Authority: client.Text{ZH: "杭州市市场监督管理局"},
	})
	return 9
}

func contractCases() []contractCase {
	ok := http.StatusOK
	polling := make(chan struct{}, 1) // the long poll below waits
	return []contractCase{
		// --- GET /v1/products/{gtin} ---
		{name: "product/every demo product", hostile: true, run: func(cx *contractEnv) {
			for _, d := range cx.srv.Demo() {
				st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet("/v1/products/"+string(d.GTIN)), ok, ""))
				contractCheckStatus(cx, string(d.GTIN), st)
				if !st.Listed || st.Key.GTIN != d.GTIN {
					cx.t.Errorf("%s: listed %v key %+v", d.GTIN, st.Listed, st.Key)
				}
			}
		}},
		{name: "product/13-digit GTIN answered in 14 digits", hostile: true, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet("/v1/products/"+strings.TrimPrefix(string(d.GTIN), "0")), ok, ""))
			if st.Key.GTIN != d.GTIN {
				cx.t.Errorf("key %q, want %q", st.Key.GTIN, d.GTIN)
			}
			contractCheckStatus(cx, "13-digit", st)
		}},
		{name: "product/not listed", hostile: true, run: func(cx *contractEnv) {
			res := cx.expect(contractGet("/v1/products/"+string(cx.srv.NotListedGTIN())), ok, "")
			st := contractDecode[client.ProductStatus](cx, res)
			if st.Listed || st.Enterprise != nil || st.Version != 0 {
				cx.t.Errorf("not listed: listed %v enterprise %v version %d", st.Listed, st.Enterprise != nil, st.Version)
			}
			if !bytes.Contains(res.body, []byte(`"version":0`)) {
				cx.t.Errorf("version 0 is not written: %s", res.body)
			}
		}},
		{name: "product/delisted enterprise", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			if err := cx.srv.Delist(string(d.USCC)); err != nil {
				cx.t.Fatal(err)
			}
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet("/v1/products/"+string(d.GTIN)), ok, ""))
			if st.Listed || st.Enterprise != nil {
				cx.t.Errorf("a delisted maker's product: listed %v, enterprise %v", st.Listed, st.Enterprise != nil)
			}
			st = contractDecode[client.ProductStatus](cx, cx.expect(contractGet(contractLookupTarget(d.USCC, d.Brand, d.Model)), ok, ""))
			if st.Listed {
				cx.t.Error("a delisted maker's product by key is listed")
			}
			cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)), http.StatusNotFound, client.CodeNotFound)
			cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)+"/commitments"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "product/400 wrong check digit", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractGet("/v1/products/"+contractBadCheck(string(d.GTIN))), http.StatusBadRequest, client.CodeInvalidGTIN)
		}},
		{name: "product/400 wrong length", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/products/12345").bad(), http.StatusBadRequest, client.CodeInvalidGTIN)
		}},
		{name: "product/log_size: the records' proof and the consistency proof", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet("/v1/products/"+string(d.GTIN)+"?log_size=1"), ok, ""))
			if st.Proof == nil || st.Proof.Checkpoint == "" || st.Proof.Consistency == nil {
				cx.t.Fatalf("proof %+v, want the records', a checkpoint and a consistency proof", st.Proof)
			}
			if err := client.VerifyStatus(&st, cx.srv.LogKeys(), time.Now()); err != nil {
				cx.t.Error(err)
			}
			st = contractDecode[client.ProductStatus](cx, cx.expect(contractGet(contractLookupTarget(d.USCC, d.Brand, d.Model)+"&log_size=1"), ok, ""))
			if err := client.VerifyStatus(&st, cx.srv.LogKeys(), time.Now()); err != nil {
				cx.t.Error(err)
			}
			page := contractDecode[client.BatchResponse](cx, cx.expect(contractPost("/v1/products/batch?log_size=1", `{"keys":[{"gtin":"`+string(d.GTIN)+`"}]}`), ok, ""))
			if page.Checkpoint == "" || page.Consistency == nil || page.Data[0].Status.Proof == nil {
				cx.t.Errorf("batch: checkpoint %q, consistency %+v, want both and the status's proof", page.Checkpoint, page.Consistency)
			}
		}},
		{name: "product/400 log_size", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractGet("/v1/products/"+string(d.GTIN)+"?log_size=x").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "product/400 not digits", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/products/69012345678AB").bad(), http.StatusBadRequest, client.CodeInvalidGTIN)
		}},

		// --- GET /v1/products/lookup ---
		{name: "lookup/listed", hostile: true, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet(contractLookupTarget(d.USCC, d.Brand, d.Model)), ok, ""))
			contractCheckStatus(cx, "lookup", st)
			if !st.Listed || st.Product == nil || st.Key.USCC != d.USCC || st.Key.Brand != d.Brand || st.Key.Model != d.Model {
				cx.t.Errorf("lookup: listed %v product %v key %+v", st.Listed, st.Product != nil, st.Key)
			}
		}},
		{name: "lookup/brand only", hostile: true, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet(contractLookupTarget(d.USCC, d.Brand, "")), ok, ""))
			contractCheckStatus(cx, "brand only", st)
		}},
		{name: "lookup/not listed", run: func(cx *contractEnv) {
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet(contractLookupTarget(contractUnknownUSCC(cx.t), "无名", "X-1")), ok, ""))
			if st.Listed || st.Version != 0 {
				cx.t.Errorf("unknown maker: listed %v version %d", st.Listed, st.Version)
			}
		}},
		{name: "lookup/400 wrong check character", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractGet(contractLookupTarget(client.USCC(contractBadCheck(string(d.USCC))), d.Brand, d.Model)), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "lookup/400 USCC outside the set", run: func(cx *contractEnv) {
			cx.expect(contractGet(contractLookupTarget("91440300MA5F000AIL", "b", "")).bad(), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "lookup/400 no uscc", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/products/lookup?brand=x").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "lookup/400 no brand", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractGet("/v1/products/lookup?uscc="+string(d.USCC)).bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "lookup/400 brand too long", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractGet(contractLookupTarget(d.USCC, strings.Repeat("b", 101), "")).bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- POST /v1/products/batch ---
		{name: "batch/mixed keys", hostile: true, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			keys := []map[string]string{
				{"gtin": string(d.GTIN)},
				{"gtin": strings.TrimPrefix(string(d.GTIN), "0")},
				{"gtin": string(cx.srv.NotListedGTIN())},
				{"uscc": string(d.USCC), "brand": d.Brand, "model": d.Model},
				{"gtin": "123"},
				{"gtin": contractBadCheck(string(d.GTIN))},
				{"uscc": contractBadCheck(string(d.USCC)), "brand": "b"},
				{"model": "only a model"},
				{"gtin": string(d.GTIN), "uscc": string(d.USCC), "brand": "b"},
			}
			want := []string{"", "", "", "", client.CodeInvalidGTIN, client.CodeInvalidGTIN, client.CodeInvalidUSCC, client.CodeInvalidParameter, client.CodeInvalidParameter}
			body, _ := json.Marshal(map[string]any{"keys": keys})
			out := contractDecode[struct {
				Data []client.BatchResult `json:"data"`
			}](cx, cx.expect(contractPost("/v1/products/batch", string(body)), ok, ""))
			if len(out.Data) != len(keys) {
				cx.t.Fatalf("%d results for %d keys", len(out.Data), len(keys))
			}
			for i, r := range out.Data {
				switch {
				case want[i] == "" && (r.Status == nil || r.Error != nil):
					cx.t.Errorf("key %d %v: want a status, got %+v", i, keys[i], r)
				case want[i] == "":
					contractCheckStatus(cx, fmt.Sprintf("key %d", i), *r.Status)
				case r.Error == nil || r.Error.Code != want[i]:
					cx.t.Errorf("key %d %v: want problem %s, got %+v", i, keys[i], want[i], r)
				default:
					for _, f := range r.Error.Errors {
						if !strings.HasPrefix(f.Field, "/keys/"+strconv.Itoa(i)) {
							cx.t.Errorf("key %d: problem field %q is not a JSON pointer to the key", i, f.Field)
						}
					}
				}
			}
			if s := out.Data[1].Status; s != nil && s.Key.GTIN != d.GTIN {
				cx.t.Errorf("a 13-digit key is answered as %q, want %q", s.Key.GTIN, d.GTIN)
			}
		}},
		{name: "batch/400 body not a BatchRequest", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/products/batch", `{"keys":"06901234567892"}`).bad(), http.StatusBadRequest, client.CodeInvalidBody)
		}},
		{name: "batch/400 malformed JSON", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/products/batch", `{"keys":[`).bad(), http.StatusBadRequest, client.CodeInvalidBody)
		}},
		{name: "batch/400 too many keys", run: func(cx *contractEnv) {
			body := `{"keys":[` + strings.TrimSuffix(strings.Repeat(`{"gtin":"`+string(contractProduct(cx).GTIN)+`"},`, 101), ",") + `]}`
			cx.expect(contractPost("/v1/products/batch", body).bad(), http.StatusBadRequest, client.CodeTooManyKeys)
		}},
		{name: "batch/413 over 64 KiB", run: func(cx *contractEnv) {
			body := `{"keys":[` + strings.TrimSuffix(strings.Repeat(`{"gtin":"06901234567892"},`, 3000), ",") + `]}`
			cx.expect(contractPost("/v1/products/batch", body).bad(), http.StatusRequestEntityTooLarge, client.CodePayloadTooLarge)
		}},
		{name: "batch/415 text/plain", run: func(cx *contractEnv) {
			c := contractPost("/v1/products/batch", `{"keys":[{"gtin":"06901234567892"}]}`).with("Content-Type", "text/plain").bad()
			cx.expect(c, http.StatusUnsupportedMediaType, client.CodeUnsupportedMediaType)
		}},

		// --- GET /v1/enterprises ---
		{name: "enterprises/every page", hostile: true, run: func(cx *contractEnv) {
			ids := contractPage(cx, "/v1/enterprises", 20)
			n, _ := cx.srv.Size()
			if len(ids) != n {
				cx.t.Errorf("walked %d enterprises, the set has %d", len(ids), n)
			}
			if !slices.IsSorted(ids) {
				cx.t.Error("enterprises are not ordered by id")
			}
			if len(slices.Compact(slices.Clone(ids))) != len(ids) {
				cx.t.Error("an enterprise appears on two pages")
			}
		}},
		{name: "enterprises/second page", run: func(cx *contractEnv) {
			first := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?limit=5"), ok, ""))
			if first.NextCursor == "" {
				cx.t.Fatal("a first page of 5 out of 50 has no next_cursor")
			}
			second := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?limit=5&cursor="+url.QueryEscape(first.NextCursor)), ok, ""))
			if len(second.Data) != 5 || second.Data[0].ID <= first.Data[4].ID {
				cx.t.Errorf("the second page does not follow the first")
			}
		}},
		{name: "enterprises/filters", hostile: true, run: func(cx *contractEnv) {
			list := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?limit=100&category=household_appliances&region=33"), ok, ""))
			for _, e := range list.Data {
				if !strings.HasPrefix(e.RegionCode, "33") || !slices.Contains(e.Categories, "household_appliances") {
					cx.t.Errorf("%s does not match the filters: %s %v", e.ID, e.RegionCode, e.Categories)
				}
			}
			q := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?q="+url.QueryEscape("清源")), ok, ""))
			if len(q.Data) == 0 {
				cx.t.Error("q=清源 finds nothing")
			}
		}},
		{name: "enterprises/empty page", run: func(cx *contractEnv) {
			res := cx.expect(contractGet("/v1/enterprises?q="+url.QueryEscape("没有这样的企业")), ok, "")
			if !bytes.Contains(res.body, []byte(`"data":[]`)) || bytes.Contains(res.body, []byte(`next_cursor`)) {
				cx.t.Errorf("an empty last page: %s", res.body)
			}
		}},
		{name: "enterprises/400 limit 0", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises?limit=0").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "enterprises/400 limit not a number", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises?limit=ten").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "enterprises/400 region", run: func(cx *contractEnv) {
			for _, region := range []string{"zj", "4", "440", "44030", "4403000", ""} {
				cx.expect(contractGet("/v1/enterprises?region="+region).bad(), http.StatusBadRequest, client.CodeInvalidParameter)
			}
		}},
		{name: "enterprises/400 q too long", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises?q="+strings.Repeat("q", 101)).bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "enterprises/400 cursor not issued", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises?cursor=bm90LWEtY3Vyc29y"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},
		{name: "enterprises/400 cursor of other filters", run: func(cx *contractEnv) {
			first := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?limit=1&region=33"), ok, ""))
			if first.NextCursor == "" {
				cx.t.Fatal("no next_cursor")
			}
			cx.expect(contractGet("/v1/enterprises?limit=1&region=44&cursor="+url.QueryEscape(first.NextCursor)), http.StatusBadRequest, client.CodeInvalidCursor)
		}},

		// --- GET /v1/enterprises/{id} ---
		{name: "enterprise/by USCC and by id", hostile: true, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			byUSCC := contractDecode[client.Enterprise](cx, cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)), ok, ""))
			if byUSCC.USCC != d.USCC {
				cx.t.Errorf("by USCC: got %s", byUSCC.USCC)
			}
			byID := contractDecode[client.Enterprise](cx, cx.expect(contractGet("/v1/enterprises/"+byUSCC.ID), ok, ""))
			if byID.ID != byUSCC.ID || byID.Version != byUSCC.Version {
				cx.t.Errorf("by id and by USCC differ: %+v / %+v", byID, byUSCC)
			}
		}},
		{name: "enterprise/renamed", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			e := contractDecode[client.Enterprise](cx, cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)), ok, ""))
			if _, err := cx.srv.RenameEnterprise(e.ID, client.Text{ZH: "改名后的公司"}); err != nil {
				cx.t.Fatal(err)
			}
			after := contractDecode[client.Enterprise](cx, cx.expect(contractGet("/v1/enterprises/"+e.ID), ok, ""))
			if after.Name.ZH != "改名后的公司" || after.Version <= e.Version {
				cx.t.Errorf("after a rename: %+v", after)
			}
		}},
		{name: "enterprise/400 wrong check character", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/"+contractBadCheck(string(contractProduct(cx).USCC))), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "enterprise/400 neither an id nor a USCC", run: func(cx *contractEnv) {
			res := cx.exchange(contractGet("/v1/enterprises/acme").bad())
			if res.status != http.StatusBadRequest {
				cx.t.Errorf("/v1/enterprises/acme: status %d, want 400", res.status)
			}
		}},
		{name: "enterprise/404 unknown id", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/ent_9999999"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "enterprise/404 unknown USCC", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/"+string(contractUnknownUSCC(cx.t))), http.StatusNotFound, client.CodeNotFound)
		}},

		// --- GET /v1/enterprises/{id}/commitments ---
		{name: "enterprise commitments/list", hostile: true, run: func(cx *contractEnv) {
			for _, d := range cx.srv.Demo() {
				list := contractDecode[client.List[client.Commitment]](cx, cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)+"/commitments"), ok, ""))
				if len(list.Data) == 0 {
					cx.t.Errorf("%s: no commitments", d.USCC)
				}
			}
		}},
		{name: "enterprise commitments/second page", run: func(cx *contractEnv) {
			ents := contractDecode[client.List[client.Enterprise]](cx, cx.expect(contractGet("/v1/enterprises?limit=100"), ok, ""))
			for _, e := range ents.Data {
				if len(e.Categories) < 2 {
					continue
				}
				ids := contractPage(cx, "/v1/enterprises/"+e.ID+"/commitments", 1)
				if len(ids) < 2 {
					cx.t.Errorf("%s has %d categories but %d commitments", e.ID, len(e.Categories), len(ids))
				}
				return
			}
			// The data set is generated from a fixed seed: a set without
			// such a maker is a change to the generator, not a reason to
			// test nothing.
			cx.t.Error("no enterprise with two categories in the first page of the set")
		}},
		{name: "enterprise commitments/400 limit", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/"+string(contractProduct(cx).USCC)+"/commitments?limit=101").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "enterprise commitments/400 cursor", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/"+string(contractProduct(cx).USCC)+"/commitments?cursor=xyz"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},
		{name: "enterprise commitments/400 USCC", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/"+contractBadCheck(string(contractProduct(cx).USCC))+"/commitments"), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "enterprise commitments/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/enterprises/ent_9999999/commitments"), http.StatusNotFound, client.CodeNotFound)
		}},

		// --- GET /v1/commitments/{id} ---
		{name: "commitment/every demo commitment", hostile: true, run: func(cx *contractEnv) {
			for _, d := range cx.srv.Demo() {
				list := contractDecode[client.List[client.Commitment]](cx, cx.expect(contractGet("/v1/enterprises/"+string(d.USCC)+"/commitments"), ok, ""))
				for _, c := range list.Data {
					got := contractDecode[client.Commitment](cx, cx.expect(contractGet("/v1/commitments/"+c.ID), ok, ""))
					if got.ID != c.ID || got.Version != c.Version {
						cx.t.Errorf("%s: the record differs from its list entry", c.ID)
					}
				}
			}
		}},
		{name: "commitment/revoked", run: func(cx *contractEnv) {
			list := contractDecode[client.List[client.Commitment]](cx, cx.expect(contractGet("/v1/enterprises/"+string(contractProduct(cx).USCC)+"/commitments"), ok, ""))
			c := list.Data[0]
			if _, err := cx.srv.Revoke(c.ID); err != nil {
				cx.t.Fatal(err)
			}
			got := contractDecode[client.Commitment](cx, cx.expect(contractGet("/v1/commitments/"+c.ID), ok, ""))
			if got.Status != client.CommitmentRevoked || got.Version <= c.Version || got.StatusReason == nil {
				cx.t.Errorf("after a revocation: status %s version %d reason %v", got.Status, got.Version, got.StatusReason)
			}
		}},
		{name: "commitment/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/commitments/cmt_9999999_9"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "commitment/400 malformed id", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/commitments/xyz").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- GET /v1/inspections ---
		{name: "inspections/every page", hostile: true, run: func(cx *contractEnv) {
			ids := contractPage(cx, "/v1/inspections", 7)
			if len(ids) < 8 {
				cx.t.Errorf("only %d inspections: no second page was walked", len(ids))
			}
			if len(slices.Compact(slices.Clone(ids))) != len(ids) {
				cx.t.Error("an inspection appears twice")
			}
		}},
		{name: "inspections/newest published first", run: func(cx *contractEnv) {
			list := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?limit=100"), ok, ""))
			for i := 1; i < len(list.Data); i++ {
				if list.Data[i].PublishedAt.After(list.Data[i-1].PublishedAt) {
					cx.t.Errorf("%s (published %s) comes after %s (published %s)", list.Data[i].ID, list.Data[i].PublishedAt.Format(time.DateOnly),
						list.Data[i-1].ID, list.Data[i-1].PublishedAt.Format(time.DateOnly))
					break
				}
			}
			// A walk stays consistent while the registry grows: a publish
			// between two pages neither repeats nor skips an inspection.
			first := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?limit=5"), ok, ""))
			if _, err := cx.srv.PublishInspection(contractProduct(cx).GTIN, client.InspectionPass); err != nil {
				cx.t.Fatal(err)
			}
			second := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?limit=5&cursor="+url.QueryEscape(first.NextCursor)), ok, ""))
			if len(list.Data) >= 10 && len(second.Data) == 5 && second.Data[0].ID != list.Data[5].ID {
				cx.t.Errorf("after a publish, page 2 starts with %s, want %s", second.Data[0].ID, list.Data[5].ID)
			}
		}},
		{name: "inspections/filters", hostile: true, run: func(cx *contractEnv) {
			fails := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?limit=100&result=fail"), ok, ""))
			if len(fails.Data) == 0 {
				cx.t.Error("no failed inspection")
			}
			for _, in := range fails.Data {
				if in.Result != client.InspectionFail || len(in.FailedItems) == 0 {
					cx.t.Errorf("%s: result %s with %d failed items", in.ID, in.Result, len(in.FailedItems))
				}
			}
			d := cx.srv.Demo()[2] // a failed inspection
			byUSCC := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?enterprise="+string(d.USCC)), ok, ""))
			if len(byUSCC.Data) == 0 {
				cx.t.Fatalf("no inspection of %s", d.USCC)
			}
			entID := byUSCC.Data[0].EnterpriseID
			byID := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?enterprise="+entID), ok, ""))
			if len(byID.Data) != len(byUSCC.Data) {
				cx.t.Errorf("by id %d, by USCC %d", len(byID.Data), len(byUSCC.Data))
			}
			since := cx.srv.ReferenceTime().AddDate(0, 0, -100).Format(time.RFC3339)
			cx.expect(contractGet("/v1/inspections?category=childrens_clothing&published_since="+url.QueryEscape(since)), ok, "")
			cx.expect(contractGet("/v1/inspections?enterprise="+string(contractUnknownUSCC(cx.t))), ok, "")
		}},
		{name: "inspections/unknown result is an empty page", run: func(cx *contractEnv) {
			res := cx.expect(contractGet("/v1/inspections?result=retest"), ok, "")
			if !bytes.Contains(res.body, []byte(`"data":[]`)) {
				cx.t.Errorf("want an empty page: %s", res.body)
			}
		}},
		{name: "inspections/400 published_since", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections?published_since=yesterday").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "inspections/400 enterprise USCC", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections?enterprise="+contractBadCheck(string(contractProduct(cx).USCC))), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "inspections/400 limit", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections?limit=500").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "inspections/400 cursor", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections?cursor=xyz"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},

		// --- GET /v1/inspections/{id} ---
		{name: "inspection/listed ones", hostile: true, run: func(cx *contractEnv) {
			list := contractDecode[client.List[client.Inspection]](cx, cx.expect(contractGet("/v1/inspections?limit=10"), ok, ""))
			for _, in := range list.Data {
				cx.expect(contractGet("/v1/inspections/"+in.ID), ok, "")
			}
		}},
		{name: "inspection/published", hostile: true, run: func(cx *contractEnv) {
			in, err := cx.srv.PublishInspection(contractProduct(cx).GTIN, client.InspectionFail)
			if err != nil {
				cx.t.Fatal(err)
			}
			got := contractDecode[client.Inspection](cx, cx.expect(contractGet("/v1/inspections/"+in.ID), ok, ""))
			if got.Result != client.InspectionFail || len(got.FailedItems) == 0 || got.Rectification == nil {
				cx.t.Errorf("a published failure: %+v", got)
			}
			st := contractDecode[client.ProductStatus](cx, cx.expect(contractGet("/v1/products/"+string(contractProduct(cx).GTIN)), ok, ""))
			if len(st.Inspections) == 0 || st.Inspections[0].ID != in.ID {
				cx.t.Error("the product status does not start with the newest inspection")
			}
			contractCheckStatus(cx, "after an inspection", st)
		}},
		{name: "inspection/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections/ins_99999999"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "inspection/400 malformed id", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/inspections/xyz").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- GET /v1/cases, /v1/cases/{id} ---
		{name: "cases/every page and filters", hostile: true, run: func(cx *contractEnv) {
			ids := contractPage(cx, "/v1/cases", 5)
			if len(ids) < 6 {
				cx.t.Errorf("only %d cases: no second page was walked", len(ids))
			}
			for _, id := range ids {
				cx.expect(contractGet("/v1/cases/"+id), ok, "")
			}
			cx.expect(contractGet("/v1/cases?category=childrens_clothing&brand="+url.QueryEscape("清源")), ok, "")
		}},
		{name: "cases/newest published first", run: func(cx *contractEnv) {
			cx.srv.PublishCase(client.Case{Title: client.Text{ZH: "新案例"}, Summary: client.Text{ZH: "摘要"}, Brand: "清源", Authority: client.Text{ZH: "市场监督管理局"}})
			list := contractDecode[client.List[client.Case]](cx, cx.expect(contractGet("/v1/cases?limit=100"), ok, ""))
			for i := 1; i < len(list.Data); i++ {
				if list.Data[i].PublishedAt.After(list.Data[i-1].PublishedAt) {
					cx.t.Errorf("%s (published %s) comes after %s (published %s)", list.Data[i].ID, list.Data[i].PublishedAt.Format(time.DateOnly),
						list.Data[i-1].ID, list.Data[i-1].PublishedAt.Format(time.DateOnly))
					break
				}
			}
		}},
		{name: "cases/published case", run: func(cx *contractEnv) {
			c := cx.srv.PublishCase(client.Case{
				Title: client.Text{ZH: "销售假冒围巾案"}, Summary: client.Text{ZH: "摘要"}, Brand: "清源",
				Platform: "集市网", Authority: client.Text{ZH: "杭州市市场监督管理局"},
			})
			cx.expect(contractGet("/v1/cases/"+c.ID), ok, "")
			list := contractDecode[client.List[client.Case]](cx, cx.expect(contractGet("/v1/cases?brand="+url.QueryEscape("清源")+"&limit=100"), ok, ""))
			if !slices.ContainsFunc(list.Data, func(x client.Case) bool { return x.ID == c.ID }) {
				cx.t.Error("a published case is not listed")
			}
		}},
		{name: "cases/400 limit", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/cases?limit=-1").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "cases/400 cursor", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/cases?cursor=xyz"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},
		{name: "case/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/cases/case_999999"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "case/400 malformed id", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/cases/xyz").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- GET /v1/categories ---
		{name: "categories", hostile: true, run: func(cx *contractEnv) {
			res := cx.expect(contractGet("/v1/categories"), ok, "")
			list := contractDecode[client.List[client.Category]](cx, res)
			var codes []string
			for _, c := range list.Data {
				codes = append(codes, c.Code)
			}
			for _, want := range []string{"household_appliances", "washing_products", "childrens_clothing"} {
				if !slices.Contains(codes, want) {
					cx.t.Errorf("no launch category %s in %v", want, codes)
				}
			}
			if !slices.IsSorted(codes) {
				cx.t.Errorf("categories are not ordered by code: %v", codes)
			}
			if list.NextCursor != "" {
				cx.t.Error("categories have a next_cursor")
			}
		}},

		// --- the log ---
		{name: "log", hostile: true, run: func(cx *contractEnv) {
			keys := contractDecode[struct {
				Data []client.LogKey `json:"data"`
			}](cx, cx.expect(contractGet("/v1/keys"), ok, ""))
			res := cx.expect(contractGet("/v1/log/checkpoint"), ok, "")
			cp, err := client.VerifyCheckpoint(res.body, sandbox.DefaultLogOrigin, keys.Data, time.Now())
			if err != nil {
				cx.t.Fatalf("the checkpoint does not verify: %v", err)
			}
			if asOf := res.header.Get("QC-As-Of"); asOf != strconv.FormatInt(cp.Size, 10) {
				cx.t.Errorf("a checkpoint of %d leaves answered at position %s", cp.Size, asOf)
			}
			last := cp.Size - 1
			leaf := cx.expect(contractGet(fmt.Sprintf("/v1/log/leaf?index=%d", last)), ok, "")
			proof := contractDecode[client.InclusionProof](cx, cx.expect(contractGet(fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", last, cp.Size)), ok, ""))
			if err := client.VerifyInclusion(cp, last, leaf.body, proof); err != nil {
				cx.t.Errorf("the last leaf: %v", err)
			}
			cx.expect(contractGet(fmt.Sprintf("/v1/log/proof/consistency?from=1&to=%d", cp.Size)), ok, "")
			cx.expect(contractGet("/v1/log/proof/consistency?from=0&to=0"), ok, "")
		}},
		{name: "log/400", run: func(cx *contractEnv) {
			for _, path := range []string{
				"/v1/log/leaf?index=99999999",
				"/v1/log/proof/inclusion?index=2&size=2",
				"/v1/log/proof/inclusion?index=0&size=99999999",
				"/v1/log/proof/consistency?from=3&to=2",
				"/v1/log/proof/consistency?from=1&to=99999999",
			} {
				cx.expect(contractGet(path), http.StatusBadRequest, client.CodeInvalidParameter)
			}
			// Malformed or missing: the document refuses these requests too.
			for _, path := range []string{
				"/v1/log/leaf",
				"/v1/log/leaf?index=x",
				"/v1/log/proof/inclusion?index=-1&size=2",
				"/v1/log/proof/inclusion?index=0",
				"/v1/log/proof/consistency?from=a&to=2",
				"/v1/log/proof/consistency?to=2",
			} {
				cx.expect(contractGet(path).bad(), http.StatusBadRequest, client.CodeInvalidParameter)
			}
		}},

		// --- GET /v1/changes ---
		{name: "changes/no events", run: func(cx *contractEnv) {
			page := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes"), ok, ""))
			if len(page.Data) != 0 || page.HasMore || page.NextCursor == "" {
				cx.t.Errorf("an empty feed: %+v", page)
			}
			again := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?after="+url.QueryEscape(page.NextCursor)+"&wait=0"), ok, ""))
			if again.NextCursor != page.NextCursor || len(again.Data) != 0 {
				cx.t.Errorf("after the head of an empty feed: %+v", again)
			}
		}},
		{name: "changes/events", hostile: true, run: func(cx *contractEnv) {
			n := contractPublishAll(cx)
			page := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes"), ok, ""))
			if len(page.Data) != n || page.HasMore {
				cx.t.Fatalf("%d events (has_more %v), want %d", len(page.Data), page.HasMore, n)
			}
			records := map[string]func(client.Event) bool{
				"enterprise": func(e client.Event) bool { return e.Enterprise != nil },
				"commitment": func(e client.Event) bool { return e.Commitment != nil },
				"inspection": func(e client.Event) bool { return e.Inspection != nil },
				"case":       func(e client.Event) bool { return e.Case != nil },
				"category":   func(e client.Event) bool { return e.Category != nil },
				"report":     func(e client.Event) bool { return e.Report != nil },
			}
			for _, ev := range page.Data {
				kind, _, _ := strings.Cut(string(ev.Type), ".")
				set := 0
				for name, has := range records {
					if has(ev) {
						set++
						if name != kind {
							cx.t.Errorf("%s (%s) carries a %s", ev.ID, ev.Type, name)
						}
					}
				}
				if set != 1 {
					cx.t.Errorf("%s (%s) carries %d records, want 1", ev.ID, ev.Type, set)
				}
			}
			if last := page.Data[len(page.Data)-1]; page.NextCursor != last.Cursor {
				cx.t.Errorf("next_cursor %q is not the last event's cursor %q", page.NextCursor, last.Cursor)
			}
			two := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?limit=2"), ok, ""))
			if len(two.Data) != 2 || !two.HasMore {
				cx.t.Errorf("limit 2 of %d: %d events, has_more %v", n, len(two.Data), two.HasMore)
			}
			rest := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?after="+url.QueryEscape(two.NextCursor)), ok, ""))
			if len(rest.Data) != n-2 || rest.Data[0].ID != page.Data[2].ID {
				cx.t.Errorf("after the second event: %d events", len(rest.Data))
			}
			end := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?after="+url.QueryEscape(page.NextCursor)), ok, ""))
			if len(end.Data) != 0 || end.NextCursor != page.NextCursor {
				cx.t.Errorf("past the last event: %+v", end)
			}
		}},
		{name: "changes/long poll woken by a change", opts: []sandbox.Option{sandbox.WithLogger(slog.New(pollSignal{polling}))}, run: func(cx *contractEnv) {
			head := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes"), ok, ""))
			done := make(chan error, 1)
			go func() {
				<-polling // the poll waits: the change must wake it
				_, err := cx.srv.PublishInspection(cx.srv.Demo()[0].GTIN, client.InspectionPass)
				done <- err
			}()
			start := time.Now()
			c := contractGet("/v1/changes?wait=10s&after=" + url.QueryEscape(head.NextCursor))
			c.noConditional = true
			page := contractDecode[client.ChangePage](cx, cx.expect(c, ok, ""))
			if err := <-done; err != nil {
				cx.t.Fatal(err)
			}
			if len(page.Data) != 1 || page.Data[0].Type != client.EventInspectionPublished {
				cx.t.Errorf("the long poll answered %+v", page)
			}
			if time.Since(start) > 8*time.Second {
				cx.t.Error("the long poll was not woken by the change")
			}
		}},
		{name: "changes/400 cursor not issued", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/changes?after=zzz"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},
		{name: "changes/400 cursor ahead of the feed", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/changes?after=czzzzzz"), http.StatusBadRequest, client.CodeInvalidCursor)
		}},
		{name: "changes/from head", run: func(cx *contractEnv) {
			n := contractPublishAll(cx)
			all := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes"), ok, ""))
			if len(all.Data) != n {
				cx.t.Fatalf("%d events, want %d", len(all.Data), n)
			}
			// Explicitly from the start is the default.
			start := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?from=start"), ok, ""))
			if diff := cmp.Diff(all, start); diff != "" {
				cx.t.Errorf("from=start differs from no from (-default +from=start):\n%s", diff)
			}
			head := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?from=head&wait=0"), ok, ""))
			if len(head.Data) != 0 || head.HasMore || head.NextCursor != all.NextCursor {
				cx.t.Errorf("from=head: %+v, want no events and the newest event's cursor %q", head, all.NextCursor)
			}
			end := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?after="+url.QueryEscape(head.NextCursor)), ok, ""))
			if len(end.Data) != 0 || end.NextCursor != head.NextCursor {
				cx.t.Errorf("after the head: %+v", end)
			}
		}},
		{name: "changes/400 from with after", run: func(cx *contractEnv) {
			head := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?from=head"), ok, ""))
			res := cx.expect(contractGet("/v1/changes?from=head&after="+url.QueryEscape(head.NextCursor)), http.StatusBadRequest, client.CodeInvalidParameter)
			if res.problem != nil && (len(res.problem.Errors) != 1 || res.problem.Errors[0].Field != "from") {
				cx.t.Errorf("from with after: errors %+v, want one for from", res.problem.Errors)
			}
		}},
		{name: "changes/400 from unknown", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/changes?from=middle"), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "changes/400 cursor expired", opts: []sandbox.Option{sandbox.WithFeedRetention(1)}, run: func(cx *contractEnv) {
			head := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes?from=head"), ok, ""))
			contractPublishAll(cx)
			res := cx.expect(contractGet("/v1/changes?after="+url.QueryEscape(head.NextCursor)), http.StatusBadRequest, client.CodeInvalidCursor)
			if res.problem != nil && !slices.Equal(res.problem.Errors, []client.ProblemField{{Field: "after", Message: "expired"}}) {
				cx.t.Errorf("expired cursor: errors %+v, want after expired", res.problem.Errors)
			}
			kept := contractDecode[client.ChangePage](cx, cx.expect(contractGet("/v1/changes"), ok, ""))
			if len(kept.Data) != 1 || kept.Data[0].Type != client.EventCasePublished {
				cx.t.Errorf("a feed retaining one event serves %+v, want the last published", kept.Data)
			}
		}},
		{name: "changes/400 wait over 60", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/changes?wait=61s").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "changes/400 limit", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/changes?limit=0").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- POST /v1/reports, GET /v1/reports/{id} ---
		{name: "reports/create, replay, read", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			body := contractReportBody(`{"gtin":"`+strings.TrimPrefix(string(d.GTIN), "0")+`"}`, "counterfeit", "疑似假冒")
			c := contractPost("/v1/reports", body).with("Idempotency-Key", "contract-report-1")
			created := cx.expect(c, http.StatusCreated, "")
			rep := contractDecode[client.Report](cx, created)
			if loc := created.header.Get("Location"); loc != "/v1/reports/"+rep.ID {
				cx.t.Errorf("Location %q for report %s", loc, rep.ID)
			}
			if rep.Product.GTIN != d.GTIN {
				cx.t.Errorf("the report's key %q is not the 14-digit form %q", rep.Product.GTIN, d.GTIN)
			}
			if bytes.Contains(created.body, []byte("shopper@example.com")) {
				cx.t.Error("the shopper's contact is echoed")
			}
			replay := cx.expect(c, http.StatusOK, "")
			if replay.header.Get("Idempotent-Replayed") != "true" || contractDecode[client.Report](cx, replay).ID != rep.ID {
				cx.t.Errorf("a replay: %s %s", replay.header.Get("Idempotent-Replayed"), replay.body)
			}
			got := contractDecode[client.Report](cx, cx.expect(contractGet(created.header.Get("Location")).with(client.ReportTokenHeader, string(rep.AccessToken)), ok, ""))
			if got.ID != rep.ID {
				cx.t.Errorf("GET answers %s, want %s", got.ID, rep.ID)
			}
		}},
		{name: "reports/without an Idempotency-Key", run: func(cx *contractEnv) {
			body := contractReportBody(`{"uscc":"`+string(contractProduct(cx).USCC)+`","brand":"清源"}`, "substandard", "质量差")
			a := contractDecode[client.Report](cx, cx.expect(contractPost("/v1/reports", body), http.StatusCreated, ""))
			b := contractDecode[client.Report](cx, cx.expect(contractPost("/v1/reports", body), http.StatusCreated, ""))
			if a.ID == b.ID {
				cx.t.Error("two reports without a key share an id")
			}
		}},
		{name: "reports/409 key reused with another body", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			c := contractPost("/v1/reports", contractReportBody(`{"gtin":"`+string(d.GTIN)+`"}`, "counterfeit", "第一次")).with("Idempotency-Key", "contract-conflict")
			cx.expect(c, http.StatusCreated, "")
			c.body = contractReportBody(`{"gtin":"`+string(d.GTIN)+`"}`, "counterfeit", "第二次")
			cx.expect(c, http.StatusConflict, client.CodeIdempotencyConflict)
		}},
		{name: "reports/the token decides, not the API key", opts: []sandbox.Option{sandbox.WithAPIKeys(contractKey, "contract-key-b")}, run: func(cx *contractEnv) {
			d := contractProduct(cx)
			c := contractPost("/v1/reports", contractReportBody(`{"gtin":"`+string(d.GTIN)+`"}`, "counterfeit", "疑似假冒")).with("Idempotency-Key", "contract-shared")
			a := contractDecode[client.Report](cx, cx.expect(c, http.StatusCreated, ""))
			c.key = "contract-key-b"
			b := contractDecode[client.Report](cx, cx.expect(c, http.StatusCreated, ""))
			if a.ID == b.ID {
				cx.t.Error("another API key's Idempotency-Key replays a report it did not file")
			}
			read := contractGet("/v1/reports/"+a.ID).with(client.ReportTokenHeader, string(a.AccessToken))
			read.key = "contract-key-b"
			cx.expect(read, http.StatusOK, "")
			wrong := contractGet("/v1/reports/"+a.ID).with(client.ReportTokenHeader, string(b.AccessToken))
			cx.expect(wrong, http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "reports/unknown kind filed as other", run: func(cx *contractEnv) {
			body := contractReportBody(`{"gtin":"`+string(contractProduct(cx).GTIN)+`"}`, "misleading_advert", "虚假宣传")
			rep := contractDecode[client.Report](cx, cx.expect(contractPost("/v1/reports", body), http.StatusCreated, ""))
			if rep.Kind != client.ReportOther {
				cx.t.Errorf("an unknown kind is filed as %q, want other", rep.Kind)
			}
		}},
		{name: "reports/4000-character description", run: func(cx *contractEnv) {
			body := contractReportBody(`{"gtin":"`+string(contractProduct(cx).GTIN)+`"}`, "other", strings.Repeat("假", 4000))
			cx.expect(contractPost("/v1/reports", body), http.StatusCreated, "")
		}},
		{name: "reports/400 fields missing", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/reports", `{"kind":"counterfeit"}`).bad(), http.StatusBadRequest, client.CodeInvalidBody)
		}},
		{name: "reports/400 malformed JSON", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/reports", `{"kind":`).bad(), http.StatusBadRequest, client.CodeInvalidBody)
		}},
		{name: "reports/400 listing_url not http", run: func(cx *contractEnv) {
			body := strings.Replace(contractReportBody(`{"gtin":"`+string(contractProduct(cx).GTIN)+`"}`, "other", "x"), "https://shop.example/item/1", "javascript:alert(1)", 1)
			res := cx.expect(contractPost("/v1/reports", body).bad(), http.StatusBadRequest, client.CodeInvalidBody)
			if res.problem != nil && (len(res.problem.Errors) == 0 || res.problem.Errors[0].Field != "/listing_url") {
				cx.t.Errorf("want the field named by the JSON pointer /listing_url: %+v", res.problem.Errors)
			}
		}},
		{name: "reports/400 product GTIN", run: func(cx *contractEnv) {
			body := contractReportBody(`{"gtin":"`+contractBadCheck(string(contractProduct(cx).GTIN))+`"}`, "other", "x")
			cx.expect(contractPost("/v1/reports", body), http.StatusBadRequest, client.CodeInvalidGTIN)
		}},
		{name: "reports/400 product USCC", run: func(cx *contractEnv) {
			body := contractReportBody(`{"uscc":"`+contractBadCheck(string(contractProduct(cx).USCC))+`","brand":"b"}`, "other", "x")
			cx.expect(contractPost("/v1/reports", body), http.StatusBadRequest, client.CodeInvalidUSCC)
		}},
		{name: "reports/400 product names neither form", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/reports", contractReportBody(`{"model":"m"}`, "other", "x")), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "reports/413 over 16 KiB", run: func(cx *contractEnv) {
			body := contractReportBody(`{"gtin":"`+string(contractProduct(cx).GTIN)+`"}`, "other", strings.Repeat("x", 17<<10))
			cx.expect(contractPost("/v1/reports", body).bad(), http.StatusRequestEntityTooLarge, client.CodePayloadTooLarge)
		}},
		{name: "reports/415 form body", run: func(cx *contractEnv) {
			c := contractPost("/v1/reports", "kind=counterfeit").with("Content-Type", "application/x-www-form-urlencoded").bad()
			cx.expect(c, http.StatusUnsupportedMediaType, client.CodeUnsupportedMediaType)
		}},
		{name: "report/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/reports/rpt_99999999").with(client.ReportTokenHeader, "no-such-token-0123456789"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "report/404 without a token", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/reports/rpt_00000001").bad(), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "report/429 lookups", opts: []sandbox.Option{sandbox.WithReportLookupLimit(0.001, 1)}, no304: true, run: func(cx *contractEnv) {
			d := cx.srv.DemoReports()[0]
			read := contractGet("/v1/reports/"+d.ID).with(client.ReportTokenHeader, string(d.Token))
			cx.expect(read, http.StatusOK, "")
			res := cx.expect(read, http.StatusTooManyRequests, client.CodeRateLimited)
			if res.header.Get("Retry-After") == "" {
				cx.t.Error("a 429 without Retry-After")
			}
		}},
		{name: "reports/every demo stage reads", run: func(cx *contractEnv) {
			for _, d := range cx.srv.DemoReports() {
				got := contractDecode[client.Report](cx, cx.expect(contractGet("/v1/reports/"+d.ID).with(client.ReportTokenHeader, string(d.Token)), ok, ""))
				if got.Status != d.Status {
					cx.t.Errorf("%s: status %q, want %q", d.ID, got.Status, d.Status)
				}
			}
		}},
		{name: "reports/list, filtered, paged", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			cx.expect(contractPost("/v1/reports", contractReportBody(`{"gtin":"`+string(d.GTIN)+`"}`, "counterfeit", "疑似假冒")), http.StatusCreated, "")
			all := contractPage(cx, "/v1/reports", 3)
			if want := len(cx.srv.DemoReports()) + 1; len(all) != want {
				cx.t.Errorf("%d reports listed, want %d", len(all), want)
			}
			closed := contractPage(cx, "/v1/reports?status=closed&reporter_kind=consumer", 2)
			if len(closed) == 0 {
				cx.t.Error("no closed consumer report listed")
			}
		}},
		{name: "reports/list 400 status", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/reports?status=lost"), http.StatusBadRequest, client.CodeInvalidParameter)
		}},
		{name: "clues/batch, each on its own, replayed", run: func(cx *contractEnv) {
			d := contractProduct(cx)
			body := contractClueBody(string(d.GTIN), "https://evidence.example/a.pdf", "http://evidence.example/b.pdf")
			res := cx.expect(contractPost("/v1/reports/batch", body), http.StatusOK, "")
			out := contractDecode[struct{ Results []client.ClueResult }](cx, res)
			if len(out.Results) != 2 || out.Results[0].Status != client.ClueCreated || out.Results[1].Status != client.ClueFailed {
				cx.t.Errorf("results %+v, want created then failed", out.Results)
			}
			again := contractDecode[struct{ Results []client.ClueResult }](cx, cx.expect(contractPost("/v1/reports/batch", body), http.StatusOK, ""))
			if len(again.Results) != 2 || again.Results[0].Status != client.ClueReplayed {
				cx.t.Errorf("resent: %+v, want the first replayed", again.Results)
			}
		}},
		{name: "clues/400 more than 100", run: func(cx *contractEnv) {
			links := make([]string, 101)
			for i := range links {
				links[i] = "https://evidence.example/" + strconv.Itoa(i)
			}
			cx.expect(contractPost("/v1/reports/batch", contractClueBody(string(contractProduct(cx).GTIN), links...)).bad(), http.StatusBadRequest, client.CodeTooManyKeys)
		}},
		{name: "clues/400 no rights holder", run: func(cx *contractEnv) {
			cx.expect(contractPost("/v1/reports/batch", `{"rights_holder":"","platform":"p","clues":[]}`).bad(), http.StatusBadRequest, client.CodeInvalidBody)
		}},
		{name: "clues/413 over 1 MiB", run: func(cx *contractEnv) {
			body := `{"rights_holder":"r","platform":"p","clues":[{"description":"` + strings.Repeat("x", 1<<20) + `"}]}`
			cx.expect(contractPost("/v1/reports/batch", body).bad(), http.StatusRequestEntityTooLarge, client.CodePayloadTooLarge)
		}},
		{name: "clues/415 form body", run: func(cx *contractEnv) {
			c := contractPost("/v1/reports/batch", "clues=1").with("Content-Type", "application/x-www-form-urlencoded").bad()
			cx.expect(c, http.StatusUnsupportedMediaType, client.CodeUnsupportedMediaType)
		}},
		{name: "report/400 malformed id", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/reports/xyz").bad(), http.StatusBadRequest, client.CodeInvalidParameter)
		}},

		// --- what no operation answers ---
		{name: "no route/404", run: func(cx *contractEnv) {
			cx.expect(contractGet("/v1/nope"), http.StatusNotFound, client.CodeNotFound)
			cx.expect(contractGet("/v2/products/06901234567892"), http.StatusNotFound, client.CodeNotFound)
		}},
		{name: "wrong method/405", run: func(cx *contractEnv) {
			for _, c := range []struct {
				call  contractCall
				allow string
			}{
				{contractCall{method: http.MethodDelete, target: "/v1/reports"}, "GET, POST"},
				{contractCall{method: http.MethodPut, target: "/v1/reports/batch"}, "POST"},
				{contractGet("/v1/products/batch"), "POST"},
				{contractPost("/v1/categories", `{}`), "GET"},
				{contractCall{method: http.MethodPut, target: "/v1/enterprises/ent_0000001"}, "GET"},
			} {
				res := cx.expect(c.call, http.StatusMethodNotAllowed, client.CodeMethodNotAllowed)
				if got := res.header.Get("Allow"); got != c.allow {
					cx.t.Errorf("%s: Allow %q, want %q", c.call, got, c.allow)
				}
			}
		}},
		{name: "request id/echoed when well formed", run: func(cx *contractEnv) {
			// Any 1 to 128 visible ASCII characters are the caller's id.
			for _, id := range []string{"req-1", "a/b+c=d", "{trace:7}!", strings.Repeat("x", 128)} {
				res := cx.expect(contractGet("/v1/categories").with("X-Request-Id", id), ok, "")
				if got := res.header.Get("X-Request-Id"); got != id {
					cx.t.Errorf("sent X-Request-Id %q, got %q", id, got)
				}
			}
			for _, id := range []string{"has space", strings.Repeat("x", 129)} {
				res := cx.exchange(contractGet("/v1/categories").with("X-Request-Id", id).bad())
				if got := res.header.Get("X-Request-Id"); got == id || got == "" {
					cx.t.Errorf("sent malformed X-Request-Id %q, got %q", id, got)
				}
			}
		}},
	}
}

// --- the tests -----------------------------------------------------------------------

// TestContract runs every case against its own sandbox, the hostile-text
// variants, the webhook push, then checks what was covered.
func TestContract(t *testing.T) {
	spec := contractLoad(t)
	cov := &contractCoverage{}
	ran := map[string]bool{}
	groups := []struct {
		name  string
		cases []contractCase
		extra []sandbox.Option
	}{
		{"routes", contractCases(), nil},
		{"errors", contractGenericCases(spec.doc), nil},
	}
	var hostile []contractCase
	for _, c := range contractCases() {
		if c.hostile {
			hostile = append(hostile, c)
		}
	}
	groups = append(groups, struct {
		name  string
		cases []contractCase
		extra []sandbox.Option
	}{"hostile text", hostile, []sandbox.Option{sandbox.WithHostileText()}})

	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			ran[g.name] = true
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					opts := append(append([]sandbox.Option{sandbox.WithReferenceTime(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))}, c.opts...), g.extra...)
					cx := &contractEnv{t: t, spec: spec, srv: sandbox.NewServer(t, opts...), cov: cov, no304: c.no304}
					c.run(cx)
				})
			}
		})
	}
	t.Run("webhook", func(t *testing.T) {
		ran["webhook"] = true
		contractWebhook(t, spec)
	})

	t.Run("coverage", func(t *testing.T) {
		if !ran["routes"] || !ran["errors"] {
			t.Skip("the exchange subtests did not run (filtered by -run)")
		}
		contractCheckCoverage(t, spec, cov)
	})
}

func contractCheckCoverage(t *testing.T, spec *contractSpec, cov *contractCoverage) {
	var unexercised []string
	for _, op := range contractOperations(spec.doc) {
		o := contractOperation(spec.doc, op)
		seen := cov.statuses(op)
		var got []string
		for _, s := range slices.Sorted(maps.Keys(seen)) {
			got = append(got, strconv.Itoa(s))
		}
		t.Logf("%-40s %s", op, strings.Join(got, " "))
		for _, status := range slices.Sorted(maps.Keys(o.Responses.Map())) {
			if status == "default" {
				continue
			}
			code, err := strconv.Atoi(status)
			if err != nil {
				t.Errorf("%s: response %q is not a status this check knows", op, status)
				continue
			}
			if seen[code] > 0 {
				continue
			}
			switch {
			case code >= 200 && code < 300:
				t.Errorf("%s: documented success %d was never exercised", op, code)
			case slices.Contains(contractMustExercise, code):
				t.Errorf("%s: documented %d was never exercised", op, code)
			default:
				unexercised = append(unexercised, op+" "+status)
			}
		}
		for code := range seen {
			if code != http.StatusNotModified && o.Responses.Status(code) == nil {
				t.Errorf("%s: answered %d, which it does not document (it fell to default)", op, code)
			}
		}
	}
	if len(unexercised) > 0 {
		t.Logf("documented but never exercised: %s", strings.Join(unexercised, ", "))
	}
	for _, pseudo := range []string{"(no route)", "(method not allowed)"} {
		if len(cov.statuses(pseudo)) == 0 {
			t.Errorf("%s was never exercised", pseudo)
		}
	}
}

// TestContractRoutes checks the sandbox serves exactly the document's
// operations.
func TestContractRoutes(t *testing.T) {
	spec := contractLoad(t)
	sb, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	got := slices.Sorted(slices.Values(sandbox.Routes(sb)))
	want := contractOperations(spec.doc)
	if !slices.Equal(got, want) {
		t.Errorf("sandbox routes %v\ndocument operations %v", got, want)
	}
}

// contractWebhook registers a receiver, publishes one change of every kind
// and validates each push against webhooks.changeEvent.
func contractWebhook(t *testing.T, spec *contractSpec) {
	type push struct {
		header http.Header
		body   []byte
	}
	pushes := make(chan push, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case pushes <- push{r.Header.Clone(), body}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	srv := sandbox.NewServer(t, sandbox.WithWebhookRetry(2, 10*time.Millisecond))
	// The contract's platform: its webhook receives its reports' changes too.
	if err := srv.AddWebhookFor(contractKey, recv.URL+"/qc/hook", "s1"); err != nil {
		t.Fatal(err)
	}
	cx := &contractEnv{t: t, spec: spec, srv: srv}
	n := contractPublishAll(cx)

	item := spec.doc.Webhooks["changeEvent"]
	if item == nil || item.Post == nil {
		t.Fatal("the document has no webhooks.changeEvent.post")
	}
	op := item.Post
	bodySchema := op.RequestBody.Value.Content.Get("application/json").Schema
	sigParam := op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "QC-Signature")
	route := &routers.Route{Spec: spec.doc, Path: "/qc/hook", PathItem: item, Method: http.MethodPost, Operation: op}
	types := map[client.EventType]bool{}
	timeout := time.After(timescale.Scale(5 * time.Second))
	for i := range n {
		var p push
		select {
		case p = <-pushes:
		case <-timeout:
			t.Fatalf("received %d of %d pushes", i, n)
		}
		var ev any
		if err := json.Unmarshal(p.body, &ev); err != nil {
			t.Fatalf("push %d is not JSON: %v", i, err)
		}
		if err := contractVisit(bodySchema, ev, true); err != nil {
			t.Errorf("push %d is not an Event: %v\n%.300s", i, err, p.body)
		}
		sig := p.header.Get(client.SignatureHeader)
		if err := sigParam.Schema.Value.VisitJSON(sig, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("push %d: QC-Signature %q: %v", i, sig, err)
		}
		// The whole request, as the receiver's own validation would see it.
		req := httptest.NewRequest(http.MethodPost, "http://receiver.example/qc/hook", bytes.NewReader(p.body))
		req.Header = p.header.Clone()
		if err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}); err != nil {
			t.Errorf("push %d does not conform to webhooks.changeEvent: %v", i, err)
		}
		// The signature is HMAC-SHA256 over "<t>.<body>" with the secret.
		ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Errorf("push %d: t=%q", i, ts)
		} else if want := client.SignWebhook(p.body, time.Unix(sec, 0), "s1"); sig != want {
			t.Errorf("push %d: signature %q, want %q", i, sig, want)
		}
		var e client.Event
		if err := json.Unmarshal(p.body, &e); err == nil {
			types[e.Type] = true
			if got := p.header.Get(client.EventIDHeader); got != e.ID {
				t.Errorf("push %d: QC-Event-Id %q, body id %q", i, got, e.ID)
			}
		}
	}
	for _, want := range []client.EventType{client.EventCommitmentRevoked, client.EventInspectionPublished,
		client.EventEnterpriseUpdated, client.EventEnterpriseDelisted, client.EventCasePublished,
		client.EventCaseUpdated, client.EventReportStatusChanged} {
		if !types[want] {
			t.Errorf("no %s push", want)
		}
	}
}
