package main

import (
	"testing"

	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
)

// With Redis down (a closed port), its errors show for as long as the
// outage lasts, not only until the cache stops asking it: the counter
// keeps moving with no page served, and qcbadge_redis_up says 0.
func TestRedisErrorsShowThroughoutAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Kill()
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+addr+"/0")
	// A few cold badges, so that the cache's breaker opens and it stops
	// asking Redis.
	for _, g := range coldGTINs(5, 8) {
		fetch(t, hs.URL+"/quality/badge/"+g+".json")
	}
	first := until(t, hs, "store errors counted", func(m scrape) bool { return m["qcbadge_cache_store_errors_total"] > 0 })
	// No page is served from here on: the outage goes on all the same.
	later := until(t, hs, "store errors counted again with no page served", func(m scrape) bool {
		return m["qcbadge_cache_store_errors_total"] > first["qcbadge_cache_store_errors_total"]+2
	})
	if up, ok := later["qcbadge_redis_up"]; !ok || up != 0 {
		t.Errorf("qcbadge_redis_up is %v (exported: %v) with Redis down; want 0", up, ok)
	}
}

// With Redis answering, qcbadge_redis_up is 1; without Redis it is not
// exported.
func TestRedisUp(t *testing.T) {
	srv := redistest.Start(t)
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+srv.Addr()+"/0")
	until(t, hs, "qcbadge_redis_up 1", func(m scrape) bool { return m["qcbadge_redis_up"] == 1 })
	_, mem := newTestService(t)
	if m := scrapeMetrics(t, mem); m.has("qcbadge_redis_up") {
		t.Error("qcbadge_redis_up exported with memory alone")
	}
}
