package sandbox_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// A clock that never moves: the bucket never refills, so the count is
	// exact however slow the machine is.
	frozen := refTime.Add(10 * time.Hour)
	srv, c := start(t, sandbox.WithRateLimit(1, 3), sandbox.WithClock(func() time.Time { return frozen }))
	path := productPath(srv.Demo()[0].GTIN)

	for i, want := range []string{"2", "1", "0"} {
		resp, body := c.get(path, "Authorization", "Bearer key-a")
		wantStatus(t, resp, body, http.StatusOK)
		if got := resp.Header.Get("RateLimit-Remaining"); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %s", i+1, got, want)
		}
		if got := resp.Header.Get("RateLimit-Limit"); got != "3" {
			t.Errorf("request %d: RateLimit-Limit %q, want 3", i+1, got)
		}
		if n, err := strconv.Atoi(resp.Header.Get("RateLimit-Reset")); err != nil || n < 1 {
			t.Errorf("request %d: RateLimit-Reset %q, want whole seconds >= 1", i+1, resp.Header.Get("RateLimit-Reset"))
		}
	}
	resp, body := c.get(path, "Authorization", "Bearer key-a")
	wantProblem(t, resp, body, http.StatusTooManyRequests, client.CodeRateLimited)
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("429: Retry-After %q, want whole seconds >= 1", resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("RateLimit-Remaining"); got != "0" {
		t.Errorf("429: RateLimit-Remaining %q, want 0", got)
	}

	// Another key has its own bucket.
	resp, body = c.get(path, "Authorization", "Bearer key-b")
	wantStatus(t, resp, body, http.StatusOK)
	if got := resp.Header.Get("RateLimit-Remaining"); got != "2" {
		t.Errorf("another key: RateLimit-Remaining %q, want 2", got)
	}
	// The first is still out of tokens: the clock has not moved.
	resp, body = c.get("/v1/categories", "Authorization", "Bearer key-a")
	wantProblem(t, resp, body, http.StatusTooManyRequests, client.CodeRateLimited)

	if n := srv.Requests("GET /v1/products/{gtin}"); n != 5 {
		t.Errorf("Requests counted %d product requests, want 5 (those the limit turned away too)", n)
	}
}

func TestRateLimitRefills(t *testing.T) {
	t.Parallel()
	var now atomic.Int64 // the clock, in Unix nanoseconds
	now.Store(refTime.UnixNano())
	srv, c := start(t, sandbox.WithRateLimit(1, 1), sandbox.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	path := productPath(srv.Demo()[0].GTIN)
	resp, body := c.get(path)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = c.get(path)
	wantProblem(t, resp, body, http.StatusTooManyRequests, client.CodeRateLimited)
	now.Add(int64(time.Second)) // one token's worth
	resp, body = c.get(path)
	wantStatus(t, resp, body, http.StatusOK)
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithRateLimit(0, 0), sandbox.WithClock(func() time.Time { return refTime }))
	path := productPath(srv.Demo()[0].GTIN)
	for range 50 {
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithAPIKeys("k1"))
	path := productPath(srv.Demo()[0].GTIN)
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"no key", nil},
		{"wrong key", []string{"Authorization", "Bearer k2"}},
		{"key without Bearer", []string{"Authorization", "k1"}},
		{"basic auth", []string{"Authorization", "Basic azE6"}},
		{"Bearer without a key", []string{"Authorization", "Bearer "}},
		{"Bearer glued to the key", []string{"Authorization", "Bearerk1"}},
	} {
		resp, body := c.get(path, tc.hdr...)
		wantProblem(t, resp, body, http.StatusUnauthorized, client.CodeUnauthorized)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q, want the Bearer challenge", tc.name, got)
		}
	}
	// RFC 9110: the auth scheme is case-insensitive.
	for _, auth := range []string{"Bearer k1", "bearer k1", "BEARER k1", "bEaReR  k1"} {
		resp, body := c.get(path, "Authorization", auth)
		wantStatus(t, resp, body, http.StatusOK)
		if st := decode[client.ProductStatus](t, body); !st.Listed {
			t.Errorf("%q: %+v, want the product's status", auth, st)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != "" {
			t.Errorf("%q: a 200 with WWW-Authenticate %q", auth, got)
		}
	}
}
