package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Every test leaves no goroutine behind: Batch's workers, Follow's polls
// and the connections of every client must end with the test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// apiPrefix is where setup mounts the sandbox, as go-github's tests mount
// their fake API: a client that builds an absolute path instead of one
// under its base URL misses the sandbox and fails the test.
const apiPrefix = "/api-prefix"

// fixture says how setupWith builds a test's sandbox and client.
type fixture struct {
	sandbox []sandbox.Option
	client  []client.Option
	// wrap, if set, wraps the sandbox's handler, to watch requests arrive.
	wrap func(http.Handler) http.Handler
	// fetchKeys leaves the client to fetch the log's keys from /v1/keys;
	// otherwise they are pinned (WithLogKeys), so that no test that
	// counts requests or tokens sees the fetch.
	fetchKeys bool
}

// setup starts the demo sandbox under apiPrefix and a client pointed at
// it, both stopped when the test ends.
func setup(t *testing.T, opts ...sandbox.Option) (*sandbox.Sandbox, *client.Client) {
	t.Helper()
	return setupWith(t, fixture{sandbox: opts})
}

func setupWith(t *testing.T, f fixture) (*sandbox.Sandbox, *client.Client) {
	t.Helper()
	sb, err := sandbox.New(f.sandbox...)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	var h http.Handler = sb
	if f.wrap != nil {
		h = f.wrap(h)
	}
	var strays atomic.Int64
	mux := http.NewServeMux()
	mux.Handle(apiPrefix+"/", http.StripPrefix(apiPrefix, h))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		strays.Add(1)
		http.Error(w, "outside the API prefix", http.StatusTeapot)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		sb.Close() // releases long polls, so that hs.Close does not wait for them
		hs.Close()
		if n := strays.Load(); n > 0 {
			t.Errorf("%d request(s) missed the base URL's path prefix", n)
		}
	})

	// A transport of the test's own, so that its idle connections can be
	// closed at the end instead of lingering for goleak to find.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	opts := []client.Option{
		client.WithBaseURL(hs.URL + apiPrefix),
		client.WithAPIKey("test-key"),
		client.WithHTTPClient(&http.Client{Transport: tr}),
	}
	if !f.fetchKeys {
		opts = append(opts, client.WithLogKeys(sb.LogKeys()...))
	}
	opts = append(opts, f.client...)
	c, err := client.New(opts...)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return sb, c
}

// noRetries makes a client surface the first failure, for tests that
// count attempts or that would otherwise wait out Retry-After.
func noRetries() client.Option {
	p := client.DefaultRetryPolicy()
	p.MaxRetries = 0
	return client.WithRetryPolicy(p)
}

// ctxT is a context that ends with the test, with a deadline well inside
// go test's, so that a hung call fails its test rather than the binary.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timescale.Scale(20*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// noRequests fails the test if any request reached the sandbox since
// before was read: input the client must refuse locally.
func noRequests(t *testing.T, srv *sandbox.Sandbox, before int64) {
	t.Helper()
	if n := srv.Requests("") - before; n != 0 {
		t.Errorf("%d request(s) reached the sandbox, want none", n)
	}
}

// requireAPIError asserts err is an *APIError with that status and code
// and a request id.
func requireAPIError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want an *APIError", err, err)
	}
	if apiErr.StatusCode != status || apiErr.Code != code {
		t.Errorf("APIError status %d code %q, want %d %q", apiErr.StatusCode, apiErr.Code, status, code)
	}
	if apiErr.RequestID == "" {
		t.Errorf("APIError has no request id: %v", apiErr)
	}
	if !strings.HasPrefix(apiErr.Path, "/v1/") {
		t.Errorf("APIError path %q, want the API path without the base URL", apiErr.Path)
	}
	return apiErr
}
