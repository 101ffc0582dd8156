package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
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

// A clean shutdown logs no ERROR: the follower's long poll, cancelled by
// it, is no failure.
func TestCleanShutdownLogsNoError(t *testing.T) {
	var out testio.Buffer
	url, sb, exit, stop := serving(t, &out)
	fetch(t, url+"badge/06910000100003.svg")
	// The follower has caught up and holds a long poll: the second call
	// to the feed (the first, not held, found the head).
	for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); ; {
		_, _, body := fetch(t, sb+"/_sandbox/stats")
		var stats struct{ Requests map[string]int }
		json.Unmarshal([]byte(body), &stats)
		if stats.Requests["GET /v1/changes"] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower never held a long poll")
		}
		time.Sleep(5 * time.Millisecond) // polling for a state, not synchronising
	}
	stop()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d; want 0", code)
	}
	exit <- 0 // for the cleanup
	if strings.Contains(out.String(), `"level":"ERROR"`) {
		t.Errorf("a clean shutdown logged an ERROR:\n%s", out.String())
	}
}
