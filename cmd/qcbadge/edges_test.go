package main

import (
	"net/http"
	"testing"
	"time"
)

// qcbadge's edges are the storefront example's: an idle keep-alive
// connection is closed within 15 s, and a request's header and body must
// arrive within 10 s, so that slow or idle clients cannot hold a
// replica's connections for long.
func TestServerTimeoutsAsTheStorefronts(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), discardLog())
	for _, c := range []struct {
		name     string
		got, max time.Duration
	}{
		{"IdleTimeout", srv.IdleTimeout, 15 * time.Second},
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout (the body)", srv.ReadTimeout, 10 * time.Second},
	} {
		if c.got <= 0 || c.got > c.max {
			t.Errorf("%s is %v; want it set, at most %v", c.name, c.got, c.max)
		}
	}
}
