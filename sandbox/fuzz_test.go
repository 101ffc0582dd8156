package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// fuzzSandbox builds one in-process sandbox for a fuzz target, with rate
// limiting off so the fuzzer's speed is not mistaken for abuse.
func fuzzSandbox(f *testing.F) *sandbox.Sandbox {
	sb, err := sandbox.New(sandbox.WithRateLimit(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sb.Close() })
	return sb
}

// checkAnswer holds the sandbox to its promise for any input: never a 5xx,
// a problem document for every error, valid JSON for every success.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	body := rec.Body.Bytes()
	switch {
	case rec.Code >= 500:
		t.Fatalf("%s: status %d: %s", what, rec.Code, body)
	case rec.Code >= 300 && rec.Code < 400:
		// The mux cleans paths with a redirect; nothing to decode.
	case rec.Code >= 400:
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s: status %d with Content-Type %q", what, rec.Code, ct)
		}
		var p client.Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Code == "" || p.Status != rec.Code {
			t.Fatalf("%s: status %d with a bad problem document (%v): %s", what, rec.Code, err, body)
		}
	default:
		if !json.Valid(body) {
			t.Fatalf("%s: status %d with invalid JSON: %.200s", what, rec.Code, body)
		}
	}
}

var fuzzGetPaths = []string{
	"/v1/products/%s", "/v1/products/lookup", "/v1/enterprises", "/v1/enterprises/%s",
	"/v1/enterprises/%s/commitments", "/v1/commitments/%s", "/v1/inspections",
	"/v1/inspections/%s", "/v1/cases", "/v1/cases/%s", "/v1/changes", "/v1/reports/%s",
}

func FuzzGetRoutes(f *testing.F) {
	sb := fuzzSandbox(f)
	f.Add(uint8(0), "06910000100003", "")
	f.Add(uint8(0), "690123", "")
	f.Add(uint8(1), "", "uscc=91330100MA0000001F&brand=%E6%B8%85%E6%BA%90&model=QY-1000")
	f.Add(uint8(2), "", "limit=0&cursor=zzz&region=33&q=%3Cscript%3E")
	f.Add(uint8(3), "91330100MA0000001F", "")
	f.Add(uint8(6), "", "published_since=2026-13-45&result=fail&enterprise=x")
	f.Add(uint8(10), "", "after=c-1&wait=61&limit=5")
	f.Fuzz(func(t *testing.T, which uint8, segment, query string) {
		path := strings.Replace(fuzzGetPaths[int(which)%len(fuzzGetPaths)], "%s", url.PathEscape(segment), 1)
		if strings.Contains(query, "wait=") {
			query = strings.ReplaceAll(query, "wait=", "wait_=") // a fuzzer must not sit in long polls
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		checkAnswer(t, rec, "GET "+path+"?"+query)
	})
}

func FuzzPostBodies(f *testing.F) {
	sb := fuzzSandbox(f)
	f.Add(false, []byte(`{"keys":[{"gtin":"06910000100003"},{"uscc":"91330100MA0000001F","brand":"x"}]}`))
	f.Add(false, []byte(`{"keys":[]}`))
	f.Add(false, []byte(`{"keys":[{"gtin":"1","uscc":"2"}]} trailing`))
	f.Add(true, []byte(`{"product":{"gtin":"06910000100003"},"kind":"counterfeit","listing_url":"https://shop.example/1","platform":"p","description":"d"}`))
	f.Add(true, []byte(`{"product":{},"kind":"?","listing_url":"javascript:alert(1)","platform":"","description":""}`))
	f.Fuzz(func(t *testing.T, report bool, body []byte) {
		path := "/v1/products/batch"
		if report {
			path = "/v1/reports"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		checkAnswer(t, rec, "POST "+path)
	})
}
