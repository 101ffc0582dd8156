package client_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// fuzzMaxBody is the fuzzed clients' response limit: above the seeds,
// low enough that the fuzzer reaches it.
const fuzzMaxBody = 16 << 10

// fuzzRoutes are the decoders the body fuzzers go through: a record, a
// list page and the change feed.
var fuzzRoutes = []struct {
	path string
	// call makes the call; decode decodes body as the route's model
	// with encoding/json alone, the oracle of whether it is valid.
	call   func(c *client.Client, t *testing.T) (ok bool, err error)
	decode func(body []byte) error
}{
	{
		path: "/v1/products/06910000100003",
		call: func(c *client.Client, t *testing.T) (bool, error) {
			st, resp, err := c.Products.ByGTIN(t.Context(), "06910000100003", nil)
			return st != nil && resp != nil, err
		},
		// The client takes a status only if it is the status of the
		// product asked for; anything else would read as "not listed".
		decode: func(b []byte) error {
			var st client.ProductStatus
			if err := json.Unmarshal(b, &st); err != nil {
				return err
			}
			if st.Key != (client.ProductKey{GTIN: "06910000100003"}) || st.Version < 0 || st.Listed && st.Enterprise == nil {
				return errors.New("not the status of the product asked for")
			}
			return nil
		},
	},
	{
		path: "/v1/enterprises",
		call: func(c *client.Client, t *testing.T) (bool, error) {
			_, resp, err := c.Enterprises.List(t.Context(), nil)
			return resp != nil, err
		},
		decode: func(b []byte) error { return json.Unmarshal(b, new(client.List[client.Enterprise])) },
	},
	{
		path: "/v1/changes",
		call: func(c *client.Client, t *testing.T) (bool, error) {
			page, resp, err := c.Changes.List(t.Context(), nil)
			return page != nil && resp != nil && resp.NextCursor == page.NextCursor, err
		},
		decode: func(b []byte) error { return json.Unmarshal(b, new(client.ChangePage)) },
	},
}

// sandboxBodies are the sandbox's healthy answers on the fuzzed routes,
// the seeds of the body fuzzers.
func sandboxBodies(f *testing.F) [][]byte {
	f.Helper()
	srv := sandbox.NewServer(f, sandbox.WithRateLimit(0, 0))
	// One event in the feed, so that its seed is not an empty page.
	if _, err := srv.PublishInspection(srv.Demo()[0].GTIN, client.InspectionFail); err != nil {
		f.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var out [][]byte
	for _, r := range fuzzRoutes {
		resp, err := hc.Get(srv.URL + r.path)
		if err != nil {
			f.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			f.Fatalf("seed %s: %d %v", r.path, resp.StatusCode, err)
		}
		if len(b) > fuzzMaxBody {
			f.Fatalf("seed %s is %d bytes, over the fuzzed client's limit", r.path, len(b))
		}
		out = append(out, b)
	}
	return out
}

// answer is what the fuzz server says next.
type answer struct {
	status int
	body   []byte
}

// fuzzServer answers every request with the answer last stored, and
// returns a client pointed at it: one retry, no wait to speak of.
func fuzzServer(f *testing.F, opts ...client.Option) (*atomic.Pointer[answer], *client.Client) {
	var next atomic.Pointer[answer]
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := next.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write(a.body)
	}))
	f.Cleanup(hs.Close)
	tr := &http.Transport{}
	f.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(append([]client.Option{
		client.WithBaseURL(hs.URL),
		client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithMaxResponseSize(fuzzMaxBody),
		client.WithRetryPolicy(client.RetryPolicy{MaxRetries: 1, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond}),
		client.WithTimeout(timescale.Scale(5 * time.Second)),
	}, opts...)...)
	if err != nil {
		f.Fatal(err)
	}
	return &next, c
}

// FuzzDecodeOK sends the fuzzer's bytes as a 200 answer to a record, a
// list and the change feed: the client answers a model when encoding/json
// can decode them, and a typed error when it cannot; it never panics.
func FuzzDecodeOK(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		for i := range fuzzRoutes {
			f.Add(uint8(i), b)
		}
		f.Add(uint8(0), b[:len(b)/2])
		f.Add(uint8(1), append(b[:len(b)/2:len(b)/2], `"}{]`...))
	}
	for _, s := range []string{"", "null", "{", "[]", `{"data":"x"}`, `{"data":[1]}`, `"\ud800"`, strings.Repeat("[", 10000)} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(2), []byte(s))
	}
	next, c := fuzzServer(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := fuzzRoutes[int(which)%len(fuzzRoutes)]
		next.Store(&answer{status: 200, body: body})
		ok, err := r.call(c, t)
		if err == nil {
			if !ok {
				t.Fatal("no error and no model")
			}
			if len(body) > fuzzMaxBody {
				t.Fatalf("a %d-byte answer passed the %d-byte limit", len(body), fuzzMaxBody)
			}
			if derr := r.decode(body); derr != nil {
				t.Fatalf("the client decoded a body encoding/json refuses (%v)", derr)
			}
			return
		}
		var (
			de *client.DecodeError
			tr *client.TruncatedError
			tl *client.TooLargeError
			ve *client.VerifyError
		)
		switch {
		case errors.As(err, &ve):
			// A product status that decoded and then did not verify
			// against the registry's log (the fuzz server's keys are
			// whatever it answers).
			if r.decode(body) != nil {
				t.Fatalf("a body encoding/json refuses was verified: %v", err)
			}
		case errors.As(err, &tl):
			if len(body) <= fuzzMaxBody {
				t.Fatalf("%d bytes called too large: %v", len(body), err)
			}
		case errors.As(err, &de), errors.As(err, &tr):
			if len(body) <= fuzzMaxBody && r.decode(body) == nil {
				t.Fatalf("the client refused a body encoding/json decodes: %v", err)
			}
		default:
			t.Fatalf("a 200 answer gave %T, not a decode, truncation or size error: %v", err, err)
		}
	})
}

// FuzzDecodeErrorStatus sends the fuzzer's bytes with a 4xx or 5xx
// status: whatever the body, the error is the *APIError for the status
// (a *RateLimitError for 429), never a panic or a decode error.
func FuzzDecodeErrorStatus(f *testing.F) {
	problem := []byte(`{"type":"https://qualitycommit.example/problems/not_found","title":"Not found","status":404,"code":"not_found","detail":"no such product","request_id":"req_1"}`)
	for i, st := range []uint16{404, 400, 401, 429, 500, 503} {
		f.Add(uint8(i), st, problem)
		f.Add(uint8(i), st, []byte("<html>bad gateway</html>"))
		f.Add(uint8(i), st, []byte(""))
	}
	for _, b := range sandboxBodies(f) {
		f.Add(uint8(0), uint16(422), b)
	}
	// A 429 pauses the client (a second by default); each input moves
	// the clock past any pause the one before began.
	var clock atomic.Int64
	next, c := fuzzServer(f, client.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	f.Fuzz(func(t *testing.T, which uint8, code uint16, body []byte) {
		clock.Add(int64(time.Hour))
		status := 400 + int(code)%200
		r := fuzzRoutes[int(which)%len(fuzzRoutes)]
		next.Store(&answer{status: status, body: body})
		_, err := r.call(c, t)
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("status %d gave %T: %v; want an *APIError", status, err, err)
		}
		if apiErr.StatusCode != status {
			t.Fatalf("APIError status %d, want %d", apiErr.StatusCode, status)
		}
		if apiErr.Title == "" && http.StatusText(status) != "" {
			t.Fatalf("APIError for a %d has no title", status)
		}
		var rl *client.RateLimitError
		if isRL := errors.As(err, &rl); isRL != (status == 429) {
			t.Fatalf("status %d: *RateLimitError %v", status, isRL)
		}
		n := 0
		for _, s := range callSentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("status %d matches %d sentinels, want 1: %v", status, n, err)
		}
	})
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzResponseHeaders fuzzes the headers the client reads beyond the
// body — Retry-After, Cache-Control and RateLimit-* — on a 200, a 503 and
// a 429: no panic, no negative duration or count, and the client fails
// fast exactly when what it parsed says the limit is spent.
func FuzzResponseHeaders(f *testing.F) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	f.Add(uint8(0), "", "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400", "2000", "1999", "1")
	f.Add(uint8(0), "", "max-age=10000000000", "100", "0", "5")
	f.Add(uint8(0), "", `max-age="30", no-store`, "-1", "-1", "-1")
	f.Add(uint8(1), "1", "no-store", "10", "0", "99999999999")
	f.Add(uint8(1), now.Add(5*time.Second).Format(http.TimeFormat), "", "lots", "0", "")
	f.Add(uint8(1), now.Add(-time.Hour).Format(http.TimeFormat), "", "", "", "")
	f.Add(uint8(2), "99999999999999999999", "stale-while-revalidate=-5", "1", "0", "1")
	f.Add(uint8(2), "Fri, 31 Dec 9999 23:59:59 GMT", "max-age=9223372036854775807", "9223372036854775807", "0", "86401")
	f.Add(uint8(2), "-3", "max-age=1,max-age=2", "+5", "+0", "+1")

	statuses := []int{200, 503, 429}
	okBody := `{"key":{"gtin":"06910000100003"},"listed":false,"version":1}`
	problem := `{"status":503,"code":"unavailable","title":"Service unavailable"}`
	f.Fuzz(func(t *testing.T, which uint8, retryAfter, cacheControl, limit, remaining, reset string) {
		status := statuses[int(which)%len(statuses)]
		var sent atomic.Int64
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			h := http.Header{}
			for k, v := range map[string]string{
				"Retry-After": retryAfter, "Cache-Control": cacheControl,
				"RateLimit-Limit": limit, "RateLimit-Remaining": remaining, "RateLimit-Reset": reset,
			} {
				if v != "" {
					h[k] = []string{v} // as is: no canonicalising or cleaning
				}
			}
			body := okBody
			if status != 200 {
				body = problem
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		})
		c, err := client.New(
			client.WithBaseURL("http://api.test"),
			client.WithHTTPClient(&http.Client{Transport: rt}),
			client.WithClock(func() time.Time { return now }),
			client.WithRetryPolicy(client.RetryPolicy{MaxRetries: 1, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond, MaxRetryAfter: 20 * time.Millisecond}),
		)
		if err != nil {
			t.Fatal(err)
		}
		checkRL := func(what string, rl client.RateLimit) {
			t.Helper()
			if rl.Limit < 0 || rl.Remaining < 0 || (!rl.Reset.IsZero() && rl.Reset.Before(now)) {
				t.Fatalf("%s: RateLimit %+v has a negative count or a reset in the past", what, rl)
			}
		}
		st, resp, err := c.Products.ByGTIN(t.Context(), "06910000100003", nil)
		if status == 200 {
			if err != nil || st == nil {
				t.Fatalf("a valid 200 failed: %v", err)
			}
		} else {
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("a %d gave %v, want its *APIError", status, err)
			}
			if apiErr.RetryAfter < 0 {
				t.Fatalf("APIError.RetryAfter %s is negative", apiErr.RetryAfter)
			}
			var rlErr *client.RateLimitError
			if status == 429 {
				if !errors.As(err, &rlErr) || rlErr.RetryAfter < 0 {
					t.Fatalf("429: %v, want a *RateLimitError with a non-negative RetryAfter", err)
				}
				checkRL("RateLimitError.Limit", rlErr.Limit)
			}
		}
		if resp != nil {
			checkRL("Response.RateLimit", resp.RateLimit)
			cc := resp.CacheControl
			if cc.MaxAge < 0 || cc.StaleWhileRevalidate < 0 || cc.StaleIfError < 0 {
				t.Fatalf("CacheControl %+v from %q has a negative duration", cc, cacheControl)
			}
		}
		view := c.RateLimit()
		checkRL("Client.RateLimit", view)

		// The client is paused after a spent limit, any 429 but one that
		// says Retry-After 0, and a 503 with a Retry-After; then the next
		// call fails fast, unsent, until the pause's end.
		qs := c.Stats()
		paused := qs.PausedUntil.After(now)
		spent := view.Remaining == 0 && view.Reset.After(now)
		ra, raErr := strconv.ParseInt(retryAfter, 10, 64)
		_, dateErr := http.ParseTime(retryAfter)
		noRetryAfter := (raErr != nil || ra < 0) && dateErr != nil
		if (spent || status == 429 && noRetryAfter) && !paused {
			t.Fatalf("status %d, limit %+v, Retry-After %q: not paused (%+v)", status, view, retryAfter, qs)
		}
		if paused && qs.PausedUntil.After(now.Add(client.DefaultMaxPause)) {
			t.Fatalf("paused until %s, past the %s cap", qs.PausedUntil, client.DefaultMaxPause)
		}
		before := sent.Load()
		_, _, err = c.Products.ByGTIN(t.Context(), "06910000100003", nil)
		var (
			rlErr *client.RateLimitError
			unErr *client.UnavailableError
		)
		failedFast := errors.As(err, &rlErr) && rlErr.Err == nil
		if qs.PauseStatus == 503 {
			failedFast = errors.As(err, &unErr)
			rlErr = &client.RateLimitError{RetryAfter: 1}
			if failedFast {
				rlErr.RetryAfter = unErr.RetryAfter
			}
		}
		if failedFast != paused || (sent.Load() == before) != paused {
			t.Fatalf("limit %+v (spent %v, paused %+v): second call failed fast %v, sent %d time(s)", view, spent, qs, failedFast, sent.Load()-before)
		}
		if failedFast && rlErr.RetryAfter <= 0 {
			t.Fatalf("failed fast with RetryAfter %s, want the time to the reset", rlErr.RetryAfter)
		}
	})
}
