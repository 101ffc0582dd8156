package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
)

// Every metric qcbadge exports, with Redis and the follower, follows
// Prometheus's naming conventions as its own linter (promtool check
// metrics) reads them: a unit in the name, _total on counters only, no
// type or unit a name does not say.
func TestMetricsFollowPrometheusNaming(t *testing.T) {
	srv := redistest.Start(t)
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+srv.Addr()+"/0")
	ready(t, hs)
	fetch(t, hs.URL+"/quality/badges?gtin=06910000100003")
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if !strings.HasPrefix(p.Metric, "qcbadge_") {
			continue // the Go runtime's and the process's, not ours to name
		}
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if m := scrapeMetrics(t, hs); !m.has("qcbadge_redis_up") || !m.has("qcbadge_follower_leading") {
		t.Errorf("the scrape lacks the Redis or the follower metrics, so their names went unchecked: %v", m.family("qcbadge_follower_leading"))
	}
}
