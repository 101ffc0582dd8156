package main

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// metrics are what /metrics says, in Prometheus's text format. The SDK's
// own counters are read when Prometheus scrapes, so that counting them
// costs a badge nothing; only the upstream calls and the served requests
// are timed as they happen.
type metrics struct {
	reg      *prometheus.Registry
	upstream *prometheus.HistogramVec // by code and method
	served   *prometheus.HistogramVec // by route

	leading     atomic.Bool
	lastLag     atomic.Int64 // nanoseconds between the last applied event and its application
	followStats cache.FollowStats
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qcbadge_upstream_request_duration_seconds",
		Help:    "Calls to the registry's API, each attempt, by status code and method.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"code", "method"})
	m.served = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qcbadge_request_duration_seconds",
		Help:    "Requests served, by route: the time to render and write the answer.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	m.reg.MustRegister(m.upstream, m.served)
	return m
}

// watch registers the SDK's counters, read at each scrape.
func (m *metrics) watch(api *client.Client, qc *cache.Cache, w *widget.Widget, following bool) {

	counter := func(name, help string, read func() float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read))
	}
	gauge := func(name, help string, read func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
	}
	cs := func(f func(cache.Stats) int64) func() float64 {
		return func() float64 { return float64(f(qc.Stats())) }
	}
	counter("qcbadge_cache_hits_total", "Lookups answered fresh from the cache.", cs(func(s cache.Stats) int64 { return s.Hits }))
	counter("qcbadge_cache_misses_total", "Lookups that waited for the registry.", cs(func(s cache.Stats) int64 { return s.Misses }))
	counter("qcbadge_cache_stale_served_total", "Lookups answered stale while a refresh ran.", cs(func(s cache.Stats) int64 { return s.StaleServed }))
	counter("qcbadge_cache_stale_if_error_total", "Lookups answered stale because the registry failed.", cs(func(s cache.Stats) int64 { return s.StaleIfError }))
	counter("qcbadge_cache_errors_total", "Lookups whose fetch failed.", cs(func(s cache.Stats) int64 { return s.Errors }))
	counter("qcbadge_cache_store_errors_total", "Store operations that failed (a Redis down).", cs(func(s cache.Stats) int64 { return s.StoreErrors }))
	counter("qcbadge_upstream_calls_total", "Calls the cache made to the registry.", cs(func(s cache.Stats) int64 { return s.Upstream }))
	counter("qcbadge_lookups_dropped_total", "Lookups dropped unsent: nobody waited for them any more.", cs(func(s cache.Stats) int64 { return s.Abandoned }))
	ws := func(f func(widget.Stats) int64) func() float64 {
		return func() float64 { return float64(f(w.Stats())) }
	}
	counter("qcbadge_badges_rate_limited_total", "Cold badge lookups the public endpoint's limits refused.", ws(func(s widget.Stats) int64 { return s.BadgesThrottled }))
	counter("qcbadge_badges_refused_total", "Badge requests for products outside the catalogue.", ws(func(s widget.Stats) int64 { return s.BadgesRefused }))
	counter("qcbadge_template_misuses_total", "Template calls given what they could not use.", ws(func(s widget.Stats) int64 { return s.TemplateMisuses }))
	counter("qcbadge_upstream_throttled_total", "Calls the client's own quota refused or held back.", func() float64 {
		s := api.Stats()
		return float64(s.ThrottledHigh + s.ThrottledLow)
	})

	if following {
		fs := &m.followStats
		counter("qcbadge_follower_applied_total", "Change-feed events applied.", func() float64 { return float64(fs.Applied.Load()) })
		counter("qcbadge_follower_feed_errors_total", "Failed polls of the change feed.", func() float64 { return float64(fs.FeedErrors.Load()) })
		counter("qcbadge_follower_resyncs_total", "Resynchronisations of the follower.", func() float64 { return float64(fs.Resyncs.Load()) })
		gauge("qcbadge_follower_leading", "1 while this replica holds the follower's lease and applies the feed.", func() float64 {
			if m.leading.Load() {
				return 1
			}
			return 0
		})
		gauge("qcbadge_follower_lag_seconds", "Between the last applied change's publication and its application.", func() float64 {
			return time.Duration(m.lastLag.Load()).Seconds()
		})
		gauge("qcbadge_follower_caught_up_timestamp_seconds", "When this replica's follower last reached the feed's head.", func() float64 {
			return float64(fs.CaughtUp.Load()) / 1e9
		})
	}
}

// transport times each attempt of a call to the registry.
func (m *metrics) transport(next http.RoundTripper) http.RoundTripper {
	return promhttp.InstrumentRoundTripperDuration(m.upstream, next)
}

// handler times a route.
func (m *metrics) handler(route string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.served.MustCurryWith(prometheus.Labels{"route": route}), h)
}

// applied records a change's lag.
func (m *metrics) applied(ev client.Event) {
	if !ev.OccurredAt.IsZero() {
		m.lastLag.Store(int64(time.Since(ev.OccurredAt)))
	}
}

// serve answers /metrics.
func (m *metrics) serve() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
