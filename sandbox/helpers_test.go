package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// refTime is the reference day of every sandbox these tests start unless a
// test says otherwise, so that dates and verdicts do not move with the
// calendar.
var refTime = time.Date(2026, time.March, 15, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// hangGuard bounds every wait on another goroutine: long enough never to
// fire on a loaded CI machine, short enough that a hang fails the test
// instead of the whole run.
var hangGuard = timescale.Scale(10 * time.Second)

// api is a plain HTTP client for one sandbox, the way a user of the API in
// another language would talk to it. Each has its own transport, so idle
// connections are closed when the test ends and goleak stays quiet.
type api struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newAPI(t testing.TB, base string) *api {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, base: base, hc: &http.Client{Transport: tr}}
}

// start runs a sandbox dated refTime (the options may override it) and
// returns it with a client for it.
func start(t testing.TB, opts ...sandbox.Option) (*sandbox.Server, *api) {
	t.Helper()
	srv := sandbox.NewServer(t, append([]sandbox.Option{sandbox.WithReferenceTime(refTime)}, opts...)...)
	return srv, newAPI(t, srv.URL)
}

// request builds a request; hdr holds header names and values in pairs.
func (c *api) request(method, path string, body io.Reader, hdr ...string) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if len(hdr)%2 != 0 {
		c.t.Fatalf("headers %q are not in name, value pairs", hdr)
	}
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// send sends req and reads the whole answer, failing the test on a
// transport error.
func (c *api) send(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return resp, body
}

func (c *api) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	return c.send(c.request(method, path, body, hdr...))
}

func (c *api) get(path string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, hdr...)
}

// postJSON posts v encoded as JSON.
func (c *api) postJSON(path string, v any, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("encoding %T: %v", v, err)
	}
	return c.do(http.MethodPost, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, hdr...)...)
}

// getJSON GETs path, wants 200 and decodes the body into a T.
func getJSON[T any](t testing.TB, c *api, path string) T {
	t.Helper()
	resp, body := c.get(path)
	wantStatus(t, resp, body, http.StatusOK)
	return decode[T](t, body)
}

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %T: %v\nbody: %.500s", v, err, body)
	}
	return v
}

func wantStatus(t testing.TB, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\nbody: %.500s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
	}
}

// wantProblem checks that an answer is the RFC 9457 problem document the
// contract promises for an error, and returns it.
func wantProblem(t testing.TB, resp *http.Response, body []byte, status int, code string) client.Problem {
	t.Helper()
	wantStatus(t, resp, body, status)
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := decode[client.Problem](t, body)
	if p.Status != status || p.Code != code {
		t.Errorf("problem status %d code %q, want %d %q", p.Status, p.Code, status, code)
	}
	if strings.TrimSpace(p.Detail) == "" {
		t.Errorf("problem %q has no detail", code)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || p.RequestID != id {
		t.Errorf("problem request_id %q, X-Request-Id header %q: want equal and not empty", p.RequestID, id)
	}
	return p
}

func productPath(g client.GTIN) string { return "/v1/products/" + string(g) }

// verdictAt is the badge verdict of a status on a sandbox's reference day,
// at noon, with the default look-back: what a storefront would show.
func verdictAt(ref time.Time, st *client.ProductStatus) client.Verdict {
	return client.Decide(st, ref.Add(12*time.Hour), client.DefaultLookback).Verdict
}

// walk follows next_cursor from the first page of a list to the last and
// returns every item and the number of pages.
func walk[T any](t testing.TB, c *api, path string, q url.Values) ([]T, int) {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 1; ; pages++ {
		if pages > 10000 {
			t.Fatalf("%s: more than 10000 pages; is the cursor going round?", path)
		}
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		page := getJSON[client.List[T]](t, c, path+"?"+qq.Encode())
		all = append(all, page.Data...)
		if page.NextCursor == "" {
			return all, pages
		}
		cursor = page.NextCursor
	}
}

// demoWith returns the first demo product with verdict v.
func demoWith(t testing.TB, srv *sandbox.Server, v client.Verdict) sandbox.DemoProduct {
	t.Helper()
	for _, d := range srv.Demo() {
		if d.Verdict == v {
			return d
		}
	}
	t.Fatalf("no demo product shows %s", v)
	return sandbox.DemoProduct{}
}

// arrivals is a slog.Handler that signals each record the sandbox logs
// with an attribute naming path (WithLogger logs every request): a way to
// know a request reached the server without sleeping.
type arrivals struct {
	path string
	ch   chan<- struct{}
}

func (a arrivals) Enabled(context.Context, slog.Level) bool { return true }

func (a arrivals) Handle(_ context.Context, r slog.Record) error {
	hit := false
	r.Attrs(func(at slog.Attr) bool {
		if strings.Contains(at.Value.String(), a.path) {
			hit = true
		}
		return !hit
	})
	if hit {
		select {
		case a.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (a arrivals) WithAttrs([]slog.Attr) slog.Handler { return a }
func (a arrivals) WithGroup(string) slog.Handler      { return a }

// arrivalLogger returns a logger for WithLogger and a channel that receives
// once per request to path.
func arrivalLogger(path string) (*slog.Logger, <-chan struct{}) {
	ch := make(chan struct{}, 16)
	return slog.New(arrivals{path: path, ch: ch}), ch
}
