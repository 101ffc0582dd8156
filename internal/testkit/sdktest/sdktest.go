// Package sdktest builds the SDK's stack the way the tests of every package
// need it: a client and a cache over a sandbox, or over a registry that
// never answers, with their cleanups registered.
package sdktest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Over builds a client of the registry at baseURL, with no retries (a test
// says what it wants of a failure), and a cache over it; clientOpts and
// cacheOpts come after those defaults. Both are closed when the test ends.
func Over(t testing.TB, baseURL string, clientOpts []client.Option, cacheOpts ...cache.Option) (*client.Client, *cache.Cache) {
	t.Helper()
	opts := append([]client.Option{client.WithBaseURL(baseURL), client.WithRetryPolicy(client.RetryPolicy{})}, clientOpts...)
	api, err := client.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	qc, err := cache.New(api, cacheOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close() })
	return api, qc
}

// Sandbox serves a sandbox for the test, and builds Over it.
func Sandbox(t testing.TB, sbOpts []sandbox.Option, clientOpts []client.Option, cacheOpts ...cache.Option) (*sandbox.Server, *client.Client, *cache.Cache) {
	t.Helper()
	srv := sandbox.NewServer(t, sbOpts...)
	api, qc := Over(t, srv.URL, clientOpts, cacheOpts...)
	return srv, api, qc
}

// Hung serves a registry that accepts every request and never answers
// until the test ends, and returns its base URL.
func Hung(t testing.TB) string {
	t.Helper()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // before the server closes: cleanups run last-first
	return hung.URL
}
