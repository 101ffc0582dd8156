package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// badgeItem is one product's badge in a batch answer, as the OpenAPI
// document's Badge.
type badgeItem struct {
	GTIN   string `json:"gtin"`
	HTML   string `json:"html"`
	JSONLD string `json:"jsonld"`
}

// envOf is an environment of QC_* variables.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// newTestService is qcbadge on its embedded sandbox, behind an httptest
// server.
func newTestService(t *testing.T, kv ...string) (*service, *httptest.Server) {
	t.Helper()
	return newTestServiceWith(t, nil, discardLog(), kv...)
}

// newTestServiceWith is newTestService with what no setting offers
// (tune, when not nil, changes the parsed configuration) and its log.
func newTestServiceWith(t *testing.T, tune func(*config), log *slog.Logger, kv ...string) (*service, *httptest.Server) {
	t.Helper()
	// A page budget no loaded machine misses: these tests are about what
	// the service answers, not how fast.
	cfg, err := parseConfig(nil, envOf(append([]string{"QC_RENDER_TIMEOUT", "10s"}, kv...)...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	s, err := newService(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	hs := httptest.NewServer(s.routes())
	t.Cleanup(hs.Close)
	return s, hs
}

func fetch(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// demo is the sandbox's demo products, as qcbadge's own sandbox has them.
func demo(t testing.TB) []sandbox.DemoProduct {
	sb, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	return sb.Demo()
}

// A listing page's badges in one call: each product's HTML and JSON-LD,
// in the order asked, every answer what the service's OpenAPI document
// says.
func TestBatchAnswersAListingPage(t *testing.T) {
	_, hs := newTestService(t)
	products := demo(t)
	q := ""
	for _, p := range products {
		q += "&gtin=" + string(p.GTIN)
	}
	code, h, body := fetch(t, hs.URL+"/quality/badges?locale=en-AU"+q)
	if code != http.StatusOK || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("batch: %d %v\n%s", code, h, body)
	}
	var got struct {
		Badges []badgeItem
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Badges) != len(products) {
		t.Fatalf("%d badges for %d products", len(got.Badges), len(products))
	}
	state := map[client.Verdict]string{client.VerdictCommitted: "qcb-committed", client.VerdictInspectionFailed: "qcb-failed", client.VerdictWithdrawn: "qcb-withdrawn"}
	for i, p := range products {
		b := got.Badges[i]
		if b.GTIN != string(p.GTIN) {
			t.Errorf("badge %d is %s; want %s", i, b.GTIN, p.GTIN)
		}
		// Under the page's budget a badge may be the neutral one; the
		// states it shows are the verdict's, in English.
		if want, ok := state[p.Verdict]; ok && !strings.Contains(b.HTML, want) && !strings.Contains(b.HTML, "qcb-unknown") {
			t.Errorf("%s (%s): %s", p.GTIN, p.Verdict, b.HTML)
		}
		if b.HTML != "" && !strings.Contains(b.HTML, `lang="en"`) {
			t.Errorf("%s: not in English: %s", p.GTIN, b.HTML)
		}
		if p.Verdict != client.VerdictNotListed && !strings.HasPrefix(b.JSONLD, `<script type="application/ld+json">`) {
			t.Errorf("%s: JSON-LD %q", p.GTIN, b.JSONLD)
		}
	}
	validate(t, hs.URL+"/quality/badges?locale=en-AU"+q, code, h, body)
}

func TestBatchRefusesWhatItCannotAnswer(t *testing.T) {
	_, hs := newTestService(t)
	many := strings.Repeat("&gtin=06910000100003", maxBatch+1)
	for _, c := range []struct{ query, says string }{
		{"", "at least one"},
		{many[1:], "at most 100"},
		{"gtin=06910000100003&gtin=123&gtin=6901234567893&gtin=69O1234567892", `"index":1,"gtin":"123","reason":"length"},{"index":2,"gtin":"6901234567893","reason":"check_digit"},{"index":3,"gtin":"69O1234567892","reason":"character"`},
		{"gtin=06910000100003&theme=neon", "theme must be"},
		{"gtin=06910000100003&locale=en_AU!", "locale must be"},
	} {
		url := hs.URL + "/quality/badges?" + c.query
		code, h, body := fetch(t, url)
		if code != http.StatusBadRequest || !strings.Contains(body, c.says) {
			t.Errorf("?%.60s: %d %s; want 400 saying %s", c.query, code, body, c.says)
		}
		validate(t, url, code, h, body)
	}
}

// textDecoders teaches the validator the badge's text formats, which it
// reads as strings.
var textDecoders sync.Once

// validate checks an exchange against qcbadge's own OpenAPI document.
func validate(t *testing.T, url string, code int, h http.Header, body string) {
	t.Helper()
	textDecoders.Do(func() {
		asText := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		}
		openapi3filter.RegisterBodyDecoder("text/html", asText)
		openapi3filter.RegisterBodyDecoder("image/svg+xml", asText)
	})
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("qcbadge's OpenAPI document: %v", err)
	}
	// An answer may say only what the document declares: a property the
	// service adds (as a later issue's badge fields would be) fails here
	// until it is declared, although a client is told to ignore those it
	// does not know.
	closed := map[*openapi3.Schema]bool{}
	for _, s := range doc.Components.Schemas {
		closeObjects(s, closed)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				for _, mt := range resp.Value.Content {
					closeObjects(mt.Schema, closed)
				}
			}
		}
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, url, nil)
	route, vars, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: no route in the document: %v", url, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: vars, Route: route}
	if code == http.StatusOK {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s: the document refuses a request the service answers: %v", url, err)
		}
	}
	// The validator checks the headers a response declares, and lets any
	// other through: the ones a client or a cache acts on must be
	// declared, or a generated client and an operator never learn of them.
	if declared := route.Operation.Responses.Status(code); declared != nil && declared.Value != nil {
		for _, name := range []string{"ETag", "Cache-Control", "Vary"} {
			if h.Get(name) != "" && declared.Value.Headers[name] == nil {
				t.Errorf("%s: answered %d with %s: %s, which the document does not declare", url, code, name, h.Get(name))
			}
		}
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: code, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}); err != nil {
		t.Errorf("%s: the answer is not what the document says: %v", url, err)
	}
}

// closeObjects makes every object schema under ref refuse properties it
// does not declare, unless the document says it takes others (a record
// of the registry's, whose schema is the registry's to grow).
func closeObjects(ref *openapi3.SchemaRef, done map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || done[ref.Value] {
		return
	}
	s := ref.Value
	done[s] = true
	if s.Type.Is("object") && s.AdditionalProperties.Schema == nil && s.AdditionalProperties.Has == nil {
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: openapi3.Ptr(false)}
	}
	for _, p := range s.Properties {
		closeObjects(p, done)
	}
	closeObjects(s.Items, done)
	for _, group := range [][]*openapi3.SchemaRef{s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range group {
			closeObjects(sub, done)
		}
	}
}

// ready polls /readyz until it answers 200, or fails the test after 10 s.
func ready(t *testing.T, hs *httptest.Server) readiness {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		code, h, body := fetch(t, hs.URL+"/readyz")
		var r readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz: %v: %s", err, body)
		}
		if code == http.StatusOK {
			validate(t, hs.URL+"/readyz", code, h, body)
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 10 s: %s", body)
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
}

// Health, readiness and metrics: ready once the follower has caught up,
// and the metrics count what the service did.
func TestHealthReadinessAndMetrics(t *testing.T) {
	_, hs := newTestService(t)
	code, h, body := fetch(t, hs.URL+"/healthz")
	if code != http.StatusOK || !strings.Contains(body, "alive") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	validate(t, hs.URL+"/healthz", code, h, body)
	r := ready(t, hs)
	if !r.API.OK || r.Redis.Reason != "off: memory only" || r.Follower.Reason != "caught up" {
		t.Errorf("ready with %v", r)
	}
	fetch(t, hs.URL+"/quality/badges?gtin=06910000100003")
	fetch(t, hs.URL+"/quality/badges?gtin=06910000100003")
	code, h, metrics := fetch(t, hs.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	validate(t, hs.URL+"/metrics", code, h, metrics)
	for _, want := range []string{`qcbadge_cache_lookups_total{outcome="hit"} 1`, `qcbadge_cache_lookups_total{outcome="miss"} 1`, `qcbadge_cache_fetches_total{kind="single"} 1`,
		`qcbadge_upstream_request_duration_seconds_count{code="200",operation="getProductByGTIN"} 1`, `qcbadge_request_duration_seconds_count{code="200",route="badges"} 2`,
		"qcbadge_follower_caught_up_timestamp_seconds", "qcbadge_follower_lag_seconds", "qcbadge_cache_lookups_dropped_total",
		"qcbadge_badges_rate_limited_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// Redis down at start is not fatal: the service starts, says it is not
// ready, and serves from memory and the registry.
func TestRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Kill()
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+addr+"/0")
	code, _, body := fetch(t, hs.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"redis":{"ok":false`) {
		t.Errorf("/readyz with Redis down: %d %s", code, body)
	}
	code, _, body = fetch(t, hs.URL+"/quality/badges?gtin=06910000100003")
	if code != http.StatusOK || !strings.Contains(body, "qcb-") {
		t.Errorf("a badge with Redis down: %d %s", code, body)
	}
}

// With Redis, the replicas share one follower: one leads, and the other
// stands by and is ready all the same; qcbadge_follower_leading says which.
func TestReplicasShareOneFollower(t *testing.T) {
	srv := redistest.Start(t)
	url := "redis://" + srv.Addr() + "/0"
	_, a := newTestService(t, "QC_REDIS_URL", url)
	ra := ready(t, a)
	_, b := newTestService(t, "QC_REDIS_URL", url)
	rb := ready(t, b)
	followers := []string{ra.Follower.Reason, rb.Follower.Reason}
	if !strings.Contains(strings.Join(followers, "|"), "standby") || !ra.Redis.OK {
		t.Errorf("two replicas on one Redis: %v and %v; want one following and one standing by", ra, rb)
	}
	// The gauge says the same: the one that follows leads, the other not.
	la, lb := scrapeMetrics(t, a)["qcbadge_follower_leading"], scrapeMetrics(t, b)["qcbadge_follower_leading"]
	if la+lb != 1 || (la == 1) != (ra.Follower.Reason == "caught up") {
		t.Errorf("qcbadge_follower_leading is %v and %v for replicas %q and %q; want 1 for the one following, 0 for the one standing by", la, lb, ra.Follower.Reason, rb.Follower.Reason)
	}
}

// One badge, in each format, with its validators, and what the service
// refuses: every answer what the OpenAPI document says, the .json one
// typed by its schema.
func TestOneBadgeIsWhatTheDocumentSays(t *testing.T) {
	_, hs := newTestService(t)
	for _, p := range demo(t) {
		for _, format := range []string{"svg", "html", "json"} {
			url := hs.URL + "/quality/badge/" + string(p.GTIN) + "." + format + "?locale=en"
			code, h, body := fetch(t, url)
			if code != http.StatusOK || h.Get("ETag") == "" || h.Get("Cache-Control") == "" {
				t.Fatalf("%s: %d %v", url, code, h)
			}
			validate(t, url, code, h, body)
			if format == "json" && !strings.Contains(body, `"verdict":"`+string(p.Verdict)+`"`) && !strings.Contains(body, `"verdict":"unknown"`) {
				t.Errorf("%s (%s): %s", url, p.Verdict, body)
			}
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("If-None-Match", h.Get("ETag"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("%s with its ETag: %d; want 304", url, resp.StatusCode)
			}
			validate(t, url, resp.StatusCode, resp.Header, "")
		}
	}
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/quality/badge/6901234567893.svg", http.StatusBadRequest, `"code":"invalid_gtin"`},
		{"/quality/badge/06910000100003.svg?theme=neon", http.StatusBadRequest, `"code":"invalid_parameter"`},
		{"/quality/badge/06910000100003.png", http.StatusNotFound, `"code":"not_found"`},
	} {
		code, h, body := fetch(t, hs.URL+c.path)
		if code != c.code || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, c.says) ||
			!strings.Contains(body, `"status":`+strconv.Itoa(c.code)) {
			t.Errorf("%s: %d %s %s; want %d, a problem document saying %s", c.path, code, h.Get("Content-Type"), body, c.code, c.says)
		}
		validate(t, hs.URL+c.path, code, h, body)
	}
}

// What the badge paths refuse outside their operations (another method,
// a path under badge/ that is no badge) is a problem document too, of
// the document's Problem schema, with Allow on a 405.
func TestTheBadgePathsRefuseOtherRequestsWithProblems(t *testing.T) {
	_, hs := newTestService(t)
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["Problem"].Value
	for _, c := range []struct {
		method, path string
		code         int
		problem      string
	}{
		{http.MethodPost, "/quality/badges?gtin=06910000100003", http.StatusMethodNotAllowed, client.CodeMethodNotAllowed},
		{http.MethodDelete, "/quality/badge/06910000100003.svg", http.StatusMethodNotAllowed, client.CodeMethodNotAllowed},
		{http.MethodGet, "/quality/badge/", http.StatusNotFound, client.CodeNotFound},
		{http.MethodGet, "/quality/badge/06910000100003.svg/more", http.StatusNotFound, client.CodeNotFound},
	} {
		req, _ := http.NewRequest(c.method, hs.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p map[string]any
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil {
			t.Errorf("%s %s: %d %s %s; want %d, a problem document", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.code)
			continue
		}
		if err := schema.VisitJSON(p); err != nil {
			t.Errorf("%s %s: not the document's Problem: %v", c.method, c.path, err)
		}
		if p["code"] != c.problem || p["status"] != float64(c.code) {
			t.Errorf("%s %s: %s; want code %s, status %d", c.method, c.path, body, c.problem, c.code)
		}
		if allow := resp.Header.Get("Allow"); c.code == http.StatusMethodNotAllowed && allow != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q; want GET, HEAD", c.method, c.path, allow)
		}
	}
}
