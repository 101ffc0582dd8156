package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// badCheck returns s with its last character replaced by another from set,
// so that only the check digit or character is wrong.
func badCheck(s, set string) string {
	last := s[len(s)-1]
	for i := 0; i < len(set); i++ {
		if set[i] != last {
			return s[:len(s)-1] + string(set[i])
		}
	}
	panic("no other character in " + set)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	d := srv.Demo()[0]
	gtin := string(d.GTIN)
	badGTIN := badCheck(gtin, "0123456789")
	badUSCC := badCheck(string(d.USCC), "0123456789ABCDEFGHJKLMNPQRTUWXY")
	if _, err := client.ParseGTIN(badGTIN); err == nil {
		t.Fatalf("%s should fail its check digit", badGTIN)
	}
	if _, err := client.ParseUSCC(badUSCC); err == nil {
		t.Fatalf("%s should fail its check character", badUSCC)
	}
	// A valid USCC from Beijing (11), where the demo set has no maker.
	nobody, err := client.CompleteUSCC("91110000MA0000000")
	if err != nil {
		t.Fatal(err)
	}

	// A cursor issued for one list and set of filters.
	first := getJSON[client.List[client.Enterprise]](t, c, "/v1/enterprises?limit=2")
	if first.NextCursor == "" {
		t.Fatal("no next_cursor on a page of 2")
	}
	cursor := url.QueryEscape(first.NextCursor)

	key := func(g string) client.ProductKey { return client.ProductKey{GTIN: client.GTIN(g)} }
	batch := func(n int) string {
		keys := make([]client.ProductKey, n)
		for i := range keys {
			keys[i] = key(gtin)
		}
		b, _ := json.Marshal(client.BatchRequest{Keys: keys})
		return string(b)
	}
	oneKey := batch(1)
	huge := `{"keys":[{"uscc":"` + string(d.USCC) + `","brand":"` + strings.Repeat("x", 70<<10) + `"}]}`
	report := `{"product":{"gtin":"` + gtin + `"},"kind":"other","listing_url":"https://shop.example/1","platform":"p","description":"` + strings.Repeat("y", 17<<10) + `"}`

	const appJSON = "application/json"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        string
		allow       string // the Allow header a 405 must carry
	}{
		{"GTIN too short", "GET", "/v1/products/1234567", "", "", 400, client.CodeInvalidGTIN, ""},
		{"GTIN too long", "GET", "/v1/products/" + gtin + "0", "", "", 400, client.CodeInvalidGTIN, ""},
		{"GTIN eleven digits", "GET", "/v1/products/" + gtin[3:], "", "", 400, client.CodeInvalidGTIN, ""},
		{"GTIN non-digit", "GET", "/v1/products/" + gtin[:6] + "x" + gtin[7:], "", "", 400, client.CodeInvalidGTIN, ""},
		{"GTIN full-width digit", "GET", "/v1/products/" + url.PathEscape(gtin[:13]+"１"), "", "", 400, client.CodeInvalidGTIN, ""},
		{"GTIN check digit", "GET", "/v1/products/" + badGTIN, "", "", 400, client.CodeInvalidGTIN, ""},
		{"lookup USCC check character", "GET", "/v1/products/lookup?brand=x&uscc=" + badUSCC, "", "", 400, client.CodeInvalidUSCC, ""},
		{"lookup USCC too short", "GET", "/v1/products/lookup?brand=x&uscc=91330100", "", "", 400, client.CodeInvalidUSCC, ""},
		{"lookup USCC with I", "GET", "/v1/products/lookup?brand=x&uscc=" + "I" + badUSCC[1:], "", "", 400, client.CodeInvalidUSCC, ""},
		{"lookup without uscc", "GET", "/v1/products/lookup?brand=x", "", "", 400, client.CodeInvalidParameter, ""},
		{"lookup without brand", "GET", "/v1/products/lookup?uscc=" + string(d.USCC), "", "", 400, client.CodeInvalidParameter, ""},
		{"enterprise USCC check character", "GET", "/v1/enterprises/" + badUSCC, "", "", 400, client.CodeInvalidUSCC, ""},
		{"commitments of bad USCC", "GET", "/v1/enterprises/" + badUSCC + "/commitments", "", "", 400, client.CodeInvalidUSCC, ""},
		{"inspections of bad USCC", "GET", "/v1/inspections?enterprise=" + badUSCC, "", "", 400, client.CodeInvalidUSCC, ""},
		{"limit 0", "GET", "/v1/enterprises?limit=0", "", "", 400, client.CodeInvalidParameter, ""},
		{"limit 101", "GET", "/v1/enterprises?limit=101", "", "", 400, client.CodeInvalidParameter, ""},
		{"limit x", "GET", "/v1/enterprises?limit=x", "", "", 400, client.CodeInvalidParameter, ""},
		{"inspections limit 101", "GET", "/v1/inspections?limit=101", "", "", 400, client.CodeInvalidParameter, ""},
		{"cases limit -1", "GET", "/v1/cases?limit=-1", "", "", 400, client.CodeInvalidParameter, ""},
		{"region not digits", "GET", "/v1/enterprises?region=zj", "", "", 400, client.CodeInvalidParameter, ""},
		// The pattern takes a province (2 digits), a city (4) or a full code (6).
		{"region of 1 digit", "GET", "/v1/enterprises?region=4", "", "", 400, client.CodeInvalidParameter, ""},
		{"region of 3 digits", "GET", "/v1/enterprises?region=440", "", "", 400, client.CodeInvalidParameter, ""},
		{"region of 5 digits", "GET", "/v1/enterprises?region=44030", "", "", 400, client.CodeInvalidParameter, ""},
		{"region of 7 digits", "GET", "/v1/enterprises?region=4403000", "", "", 400, client.CodeInvalidParameter, ""},
		{"region empty", "GET", "/v1/enterprises?region=", "", "", 400, client.CodeInvalidParameter, ""},
		{"region with a sign", "GET", "/v1/enterprises?region=%2B44", "", "", 400, client.CodeInvalidParameter, ""},
		{"published_since not a time", "GET", "/v1/inspections?published_since=yesterday", "", "", 400, client.CodeInvalidParameter, ""},
		{"garbage cursor", "GET", "/v1/enterprises?cursor=%21%21not-a-cursor", "", "", 400, client.CodeInvalidCursor, ""},
		{"cursor with other filters", "GET", "/v1/enterprises?limit=2&category=toys&cursor=" + cursor, "", "", 400, client.CodeInvalidCursor, ""},
		{"cursor of another list", "GET", "/v1/cases?cursor=" + cursor, "", "", 400, client.CodeInvalidCursor, ""},
		{"unknown enterprise", "GET", "/v1/enterprises/ent_9999999", "", "", 404, client.CodeNotFound, ""},
		{"unknown enterprise USCC", "GET", "/v1/enterprises/" + string(nobody), "", "", 404, client.CodeNotFound, ""},
		{"commitments of unknown enterprise", "GET", "/v1/enterprises/ent_9999999/commitments", "", "", 404, client.CodeNotFound, ""},
		{"unknown commitment", "GET", "/v1/commitments/cmt_nope", "", "", 404, client.CodeNotFound, ""},
		{"unknown inspection", "GET", "/v1/inspections/ins_nope", "", "", 404, client.CodeNotFound, ""},
		{"unknown case", "GET", "/v1/cases/case_nope", "", "", 404, client.CodeNotFound, ""},
		{"unknown report", "GET", "/v1/reports/rpt_nope", "", "", 404, client.CodeNotFound, ""},
		{"unknown route", "GET", "/v1/nothing-here", "", "", 404, client.CodeNotFound, ""},
		{"unknown version", "GET", "/v2/products/" + gtin, "", "", 404, client.CodeNotFound, ""},
		{"root", "GET", "/", "", "", 404, client.CodeNotFound, ""},
		{"DELETE a product", "DELETE", "/v1/products/" + gtin, "", "", 405, client.CodeMethodNotAllowed, "GET"},
		{"POST enterprises", "POST", "/v1/enterprises", appJSON, "{}", 405, client.CodeMethodNotAllowed, "GET"},
		{"GET batch", "GET", "/v1/products/batch", "", "", 405, client.CodeMethodNotAllowed, "POST"},
		{"PUT reports", "PUT", "/v1/reports", appJSON, "{}", 405, client.CodeMethodNotAllowed, "POST"},
		{"POST changes", "POST", "/v1/changes", appJSON, "{}", 405, client.CodeMethodNotAllowed, "GET"},
		{"batch of 101", "POST", "/v1/products/batch", appJSON, batch(101), 400, client.CodeTooManyKeys, ""},
		{"batch of 0", "POST", "/v1/products/batch", appJSON, `{"keys":[]}`, 400, client.CodeInvalidBody, ""},
		{"batch without keys", "POST", "/v1/products/batch", appJSON, `{}`, 400, client.CodeInvalidBody, ""},
		{"batch malformed", "POST", "/v1/products/batch", appJSON, `{"keys":[{"gtin":`, 400, client.CodeInvalidBody, ""},
		{"batch empty body", "POST", "/v1/products/batch", appJSON, ``, 400, client.CodeInvalidBody, ""},
		{"batch wrong type", "POST", "/v1/products/batch", appJSON, `{"keys":"all"}`, 400, client.CodeInvalidBody, ""},
		{"batch trailing data", "POST", "/v1/products/batch", appJSON, oneKey + ` {}`, 400, client.CodeInvalidBody, ""},
		{"batch text/plain", "POST", "/v1/products/batch", "text/plain", oneKey, 415, client.CodeUnsupportedMediaType, ""},
		{"batch without Content-Type", "POST", "/v1/products/batch", "", oneKey, 415, client.CodeUnsupportedMediaType, ""},
		{"batch over 64 KiB", "POST", "/v1/products/batch", appJSON, huge, 413, client.CodePayloadTooLarge, ""},
		{"report over 16 KiB", "POST", "/v1/reports", appJSON, report, 413, client.CodePayloadTooLarge, ""},
		{"report text/plain", "POST", "/v1/reports", "text/plain; charset=utf-8", `{}`, 415, client.CodeUnsupportedMediaType, ""},
		{"changes garbage after", "GET", "/v1/changes?after=garbage", "", "", 400, client.CodeInvalidCursor, ""},
		{"changes after ahead of head", "GET", "/v1/changes?after=czzzzzz", "", "", 400, client.CodeInvalidCursor, ""},
		{"changes wait 61", "GET", "/v1/changes?wait=61", "", "", 400, client.CodeInvalidParameter, ""},
		{"changes wait -1", "GET", "/v1/changes?wait=-1", "", "", 400, client.CodeInvalidParameter, ""},
		{"changes wait 1m", "GET", "/v1/changes?wait=1m", "", "", 400, client.CodeInvalidParameter, ""},
		{"changes limit 1001", "GET", "/v1/changes?limit=1001", "", "", 400, client.CodeInvalidParameter, ""},
		{"changes limit 0", "GET", "/v1/changes?limit=0", "", "", 400, client.CodeInvalidParameter, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc := newAPI(t, srv.URL)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			resp, b := cc.do(tc.method, tc.path, body, hdr...)
			if resp.StatusCode >= 500 {
				t.Fatalf("%s %s: %d: bad input must never be a server error\n%s", tc.method, tc.path, resp.StatusCode, b)
			}
			wantProblem(t, resp, b, tc.status, tc.code)
			if tc.allow != "" {
				if got := resp.Header.Get("Allow"); !strings.Contains(got, tc.allow) {
					t.Errorf("Allow %q, want it to list %s", got, tc.allow)
				}
			}
		})
	}
}

// The contract's schemas allow properties they do not name, so that a
// client newer than the server can send them: they are ignored, and a key
// made of nothing the server knows is that key's problem, not the call's.
func TestBatchIgnoresUnknownProperties(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	g := srv.Demo()[0].GTIN
	body := `{"keys":[{"gtin":"` + string(g) + `","sku":"A-1"},{"sku":"A-2"}],"locale":"en"}`
	resp, b := c.do("POST", "/v1/products/batch", strings.NewReader(body), "Content-Type", "application/json")
	wantStatus(t, resp, b, http.StatusOK)
	got := decode[client.List[client.BatchResult]](t, b)
	if len(got.Data) != 2 {
		t.Fatalf("%d results for 2 keys", len(got.Data))
	}
	if r := got.Data[0]; r.Error != nil || r.Status == nil || r.Status.Key.GTIN != g {
		t.Errorf("key with an extra property: %+v, want the status of %s", r, g)
	}
	if r := got.Data[1]; r.Status != nil || r.Error == nil || r.Error.Code != client.CodeInvalidParameter {
		t.Errorf("key with neither a gtin nor a uscc: %+v, want an invalid_parameter problem", r)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ok := productPath(srv.Demo()[0].GTIN)

	for _, id := range []string{"req-42", "a1b2c3d4-e5f6-4711-8899-aabbccddeeff", "trace:abc.def_01", "span/7+x=1", strings.Repeat("r", 128)} {
		for _, path := range []string{ok, "/v1/enterprises/ent_9999999"} {
			resp, body := c.get(path, "X-Request-Id", id)
			if got := resp.Header.Get("X-Request-Id"); got != id {
				t.Errorf("GET %s with X-Request-Id %q: answered %q, want it echoed", path, id, got)
			}
			if resp.StatusCode == http.StatusNotFound {
				if p := decode[client.Problem](t, body); p.RequestID != id {
					t.Errorf("problem request_id %q, want %q", p.RequestID, id)
				}
			}
		}
	}

	seen := map[string]bool{}
	for _, id := range []string{"has spaces in it", strings.Repeat("x", 200), "tab\there", "naïve"} {
		resp, _ := c.get(ok, "X-Request-Id", id)
		got := resp.Header.Get("X-Request-Id")
		if got == id || got == "" {
			t.Errorf("malformed X-Request-Id %q answered with %q, want a fresh one", id, got)
		}
		if seen[got] {
			t.Errorf("request id %q handed out twice", got)
		}
		seen[got] = true
	}
	// Without one, every answer still has its own.
	a, _ := c.get(ok)
	b, _ := c.get(ok)
	if x, y := a.Header.Get("X-Request-Id"), b.Header.Get("X-Request-Id"); x == "" || x == y {
		t.Errorf("request ids %q and %q, want two different ones", x, y)
	}
}

// Every /v1 answer, success or problem, carries the headers the contract
// promises on every answer.
func TestCommonHeaders(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	for _, path := range []string{productPath(srv.Demo()[0].GTIN), "/v1/products/123", "/v1/nothing"} {
		resp, _ := c.get(path)
		for _, h := range []string{"X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Cache-Control"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s (%d): no %s header", path, resp.StatusCode, h)
			}
		}
	}
}
