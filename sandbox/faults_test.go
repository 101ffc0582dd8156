package sandbox_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const productRoute = "GET /v1/products/{gtin}"

// noReuse is a client that opens a connection per request, so that the
// transport never retries a request on its own and every attempt the test
// makes is exactly one request the sandbox sees.
func noReuse(t testing.TB, base string) *api {
	c := newAPI(t, base)
	c.hc.Transport.(*http.Transport).DisableKeepAlives = true
	return c
}

// faulty starts a sandbox whose product route has fault f with certainty,
// and returns it with a healthy product body to compare against.
func faulty(t *testing.T, f sandbox.Fault) (*sandbox.Server, *api, string, []byte) {
	t.Helper()
	srv, _ := start(t)
	c := noReuse(t, srv.URL)
	path := productPath(srv.Demo()[0].GTIN)
	resp, healthy := c.get(path)
	wantStatus(t, resp, healthy, http.StatusOK)
	f.Route, f.Probability = productRoute, 1
	if err := srv.SetFaults(f); err != nil {
		t.Fatalf("SetFaults(%v): %v", f, err)
	}
	return srv, c, path, healthy
}

func wantRetryAfter(t *testing.T, resp *http.Response, atLeast int) {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < atLeast {
		t.Errorf("Retry-After %q, want whole seconds >= %d", resp.Header.Get("Retry-After"), atLeast)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("error=503", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
		resp, body := c.get(path)
		wantProblem(t, resp, body, http.StatusServiceUnavailable, client.CodeUnavailable)
		wantRetryAfter(t, resp, 1)
	})
	t.Run("error default is 503", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultError, RetryAfter: 3 * time.Second})
		resp, body := c.get(path)
		wantProblem(t, resp, body, http.StatusServiceUnavailable, client.CodeUnavailable)
		wantRetryAfter(t, resp, 3)
	})
	t.Run("error=500", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultError, Status: 500})
		resp, body := c.get(path)
		wantProblem(t, resp, body, http.StatusInternalServerError, client.CodeInternal)
	})
	t.Run("rate_limit", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultRateLimit, RetryAfter: 2 * time.Second})
		resp, body := c.get(path)
		wantProblem(t, resp, body, http.StatusTooManyRequests, client.CodeRateLimited)
		wantRetryAfter(t, resp, 2)
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultReset})
		resp, err := c.hc.Do(c.request(http.MethodGet, path, nil))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a reset connection answered %d", resp.StatusCode)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultMalformed})
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		var st client.ProductStatus
		if err := json.Unmarshal(body, &st); err == nil {
			t.Errorf("a malformed body decoded: %.200s", body)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		_, c, path, healthy := faulty(t, sandbox.Fault{Kind: sandbox.FaultTruncated})
		resp, err := c.hc.Do(c.request(http.MethodGet, path, nil))
		if err != nil {
			t.Fatalf("a truncated body should still start an answer: %v", err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != int64(len(healthy)) {
			t.Errorf("Content-Length %d, want the whole body's %d", resp.ContentLength, len(healthy))
		}
		b, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a truncated body: %v after %d bytes, want an unexpected EOF", err, len(b))
		}
		if len(b) >= len(healthy) {
			t.Errorf("read %d bytes of %d, want fewer", len(b), len(healthy))
		}
	})
	t.Run("oversized", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultOversized})
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		if len(body) <= 4<<20 {
			t.Errorf("oversized body is %d bytes, want more than 4 MiB", len(body))
		}
	})
	t.Run("oversized=100000", func(t *testing.T) {
		t.Parallel()
		_, c, path, _ := faulty(t, sandbox.Fault{Kind: sandbox.FaultOversized, Size: 100000})
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		if len(body) < 100000 || len(body) > 101000 {
			t.Errorf("oversized=100000 body is %d bytes", len(body))
		}
	})
	t.Run("slow_body", func(t *testing.T) {
		t.Parallel()
		_, c, path, healthy := faulty(t, sandbox.Fault{Kind: sandbox.FaultSlowBody, Latency: 200 * time.Millisecond})
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		if diff := cmp.Diff(string(healthy), string(body)); diff != "" {
			t.Errorf("slow body differs from the healthy one (-healthy +slow):\n%s", diff)
		}
		decode[client.ProductStatus](t, body)
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		_, c, path, healthy := faulty(t, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 100 * time.Millisecond})
		start := time.Now()
		resp, body := c.get(path)
		took := time.Since(start)
		wantStatus(t, resp, body, http.StatusOK)
		if took < 100*time.Millisecond {
			t.Errorf("answered after %v, want at least the 100ms latency", took)
		}
		if string(body) != string(healthy) {
			t.Errorf("latency changed the body")
		}
	})
}

func TestFaultsStayOnTheirRoute(t *testing.T) {
	t.Parallel()
	srv, _ := start(t)
	c := noReuse(t, srv.URL)
	path := productPath(srv.Demo()[0].GTIN)
	if err := srv.SetFaults(sandbox.Fault{Route: productRoute, Kind: sandbox.FaultError, Status: 503}); err != nil {
		t.Fatal(err)
	}
	resp, body := c.get(path)
	wantProblem(t, resp, body, http.StatusServiceUnavailable, client.CodeUnavailable)
	for _, other := range []string{"/v1/categories", "/v1/enterprises", "/v1/products/lookup?uscc=" + string(srv.Demo()[0].USCC) + "&brand=x"} {
		resp, body := c.get(other)
		wantStatus(t, resp, body, http.StatusOK)
	}

	// "*" is every /v1 route, and only those.
	if err := srv.SetFaults(sandbox.Fault{Route: "*", Kind: sandbox.FaultError, Status: 500}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, "/v1/categories"} {
		resp, body := c.get(p)
		wantProblem(t, resp, body, http.StatusInternalServerError, client.CodeInternal)
	}
	resp, body = c.get("/_sandbox/demo")
	wantStatus(t, resp, body, http.StatusOK)

	// No faults: healthy again.
	if err := srv.SetFaults(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, "/v1/categories"} {
		resp, body := c.get(p)
		wantStatus(t, resp, body, http.StatusOK)
	}

	if err := srv.SetFaults(sandbox.Fault{Kind: "meltdown"}); err == nil {
		t.Error("SetFaults accepted an unknown kind")
	}
	resp, body = c.get(path)
	wantStatus(t, resp, body, http.StatusOK) // a rejected SetFaults changes nothing
}

// hits sends n product requests and says which ones a 503 fault hit.
func hits(t *testing.T, seed uint64, n int) []bool {
	t.Helper()
	srv, c := start(t, sandbox.WithFaultSeed(seed))
	if err := srv.SetFaults(sandbox.Fault{Route: productRoute, Kind: sandbox.FaultError, Status: 503, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	path := productPath(srv.Demo()[0].GTIN)
	out := make([]bool, n)
	for i := range out {
		resp, body := c.get(path)
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			out[i] = true
		default:
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if got := srv.Requests(productRoute); got != int64(n) {
		t.Errorf("Requests(%q) = %d, want %d", productRoute, got, n)
	}
	return out
}

func count(hit []bool) int {
	n := 0
	for _, h := range hit {
		if h {
			n++
		}
	}
	return n
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	t.Parallel()
	a := hits(t, 7, 200)
	if n := count(a); n < 60 || n > 140 {
		t.Errorf("a fault with probability 0.5 hit %d of 200 requests", n)
	}
	b := hits(t, 7, 200)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the same fault seed hit other requests (%d and %d hits)", count(a), count(b))
	}
}

func TestRequestsCountsEveryAttempt(t *testing.T) {
	t.Parallel()
	srv, _ := start(t)
	c := noReuse(t, srv.URL)
	path := productPath(srv.Demo()[0].GTIN)
	if n := srv.Requests(productRoute); n != 0 {
		t.Fatalf("Requests before any request: %d", n)
	}
	attempts := 0
	for _, f := range []sandbox.Fault{
		{},
		{Kind: sandbox.FaultError, Status: 503},
		{Kind: sandbox.FaultReset},
		{Kind: sandbox.FaultMalformed},
		{Kind: sandbox.FaultTruncated},
		{Kind: sandbox.FaultRateLimit},
		{Kind: sandbox.FaultLatency, Latency: time.Millisecond},
	} {
		var faults []sandbox.Fault
		if f.Kind != "" {
			f.Route = productRoute
			faults = append(faults, f)
		}
		if err := srv.SetFaults(faults...); err != nil {
			t.Fatal(err)
		}
		resp, err := c.hc.Do(c.request(http.MethodGet, path, nil))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		attempts++
	}
	if n := srv.Requests(productRoute); n != int64(attempts) {
		t.Errorf("Requests(%q) = %d after %d attempts, want every one counted", productRoute, n, attempts)
	}
	c.get("/v1/categories")
	if n := srv.Requests("GET /v1/categories"); n != 1 {
		t.Errorf("Requests(GET /v1/categories) = %d, want 1", n)
	}
	if n := srv.Requests(""); n < int64(attempts)+1 {
		t.Errorf("Requests(\"\") = %d, want at least %d", n, attempts+1)
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want sandbox.Fault
	}{
		{"error=503@0.2", sandbox.Fault{Kind: sandbox.FaultError, Status: 503, Probability: 0.2}},
		{"error", sandbox.Fault{Kind: sandbox.FaultError}},
		{"latency=300ms", sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 300 * time.Millisecond}},
		{"reset@0.05 GET /v1/products/{gtin}", sandbox.Fault{Kind: sandbox.FaultReset, Probability: 0.05, Route: productRoute}},
		{"oversized=8388608", sandbox.Fault{Kind: sandbox.FaultOversized, Size: 8 << 20}},
		{"rate_limit=2s@0.5", sandbox.Fault{Kind: sandbox.FaultRateLimit, RetryAfter: 2 * time.Second, Probability: 0.5}},
		{"slow_body=1.5s GET /v1/categories", sandbox.Fault{Kind: sandbox.FaultSlowBody, Latency: 1500 * time.Millisecond, Route: "GET /v1/categories"}},
		{"malformed", sandbox.Fault{Kind: sandbox.FaultMalformed}},
		{"truncated@1", sandbox.Fault{Kind: sandbox.FaultTruncated, Probability: 1}},
		{"error=500 *", sandbox.Fault{Kind: sandbox.FaultError, Status: 500, Route: "*"}},
	} {
		got, err := sandbox.ParseFault(tc.spec)
		if err != nil {
			t.Errorf("ParseFault(%q): %v", tc.spec, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseFault(%q) (-want +got):\n%s", tc.spec, diff)
		}
		if s := got.String(); s != tc.spec {
			t.Errorf("ParseFault(%q).String() = %q", tc.spec, s)
		}
		again, err := sandbox.ParseFault(got.String())
		if err != nil || !cmp.Equal(got, again) {
			t.Errorf("ParseFault(%q) does not round-trip: %+v, %v", got.String(), again, err)
		}
	}

	for _, spec := range []string{
		"",
		"bogus",
		"meltdown=1",
		"error@2",
		"error@-0.5",
		"error@half",
		"error=abc",
		"error=200",
		"latency=fast",
		"latency=-1s",
		"oversized=-1",
		"reset=1",
		"malformed=yes",
		"reset GET /products/{gtin}",
		"reset /v1/products/{gtin}",
	} {
		if f, err := sandbox.ParseFault(spec); err == nil {
			t.Errorf("ParseFault(%q) = %+v, want an error", spec, f)
		}
	}
}

func TestNewRejectsBadFault(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Probability: 2}))
	if err == nil {
		sb.Close()
		t.Fatal("New accepted a fault with probability 2")
	}
}
