package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// metrics are what /metrics says, in Prometheus's text format. Each
// metric counts one thing once, and what an operator tells apart (an
// outcome, an operation, a route) is a label, not a name of its own. The
// SDK's own counters are read when Prometheus scrapes, so that counting
// them costs a badge nothing; only the upstream calls and the served
// requests are timed as they happen.
type metrics struct {
	reg       *prometheus.Registry
	upstream  *prometheus.HistogramVec // by operation and code
	longPolls *prometheus.HistogramVec // the follower's, by code
	served    *prometheus.HistogramVec // by route and code

	leading     atomic.Bool
	lastLag     atomic.Int64 // nanoseconds between the last applied event and its application
	followStats cache.FollowStats
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qcbadge_upstream_request_duration_seconds",
		Help:    "Calls to the registry's API until the answer's headers, each attempt, by operation (the API's operationId) and code (the status, or error when none came, canceled when the caller had gone); the follower's long polls are apart.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"operation", "code"})
	m.longPolls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qcbadge_upstream_long_poll_duration_seconds",
		Help:    "The change-feed follower's long polls, which the registry holds until a change or the wait ends, by code.",
		Buckets: []float64{.1, 1, 5, 10, 20, 30, 45, 60, 90},
	}, []string{"code"})
	m.served = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qcbadge_request_duration_seconds",
		Help:    "Requests served, by route and code: the time to render and write the answer.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	m.reg.MustRegister(m.upstream, m.longPolls, m.served)
	return m
}

// read is one series read at each scrape.
type read struct {
	labels []string
	value  func() float64
}

// readCollector is a metric whose series are read at each scrape.
type readCollector struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	reads []read
}

func (c *readCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.reads {
		ch <- prometheus.MustNewConstMetric(c.desc, c.kind, r.value(), r.labels...)
	}
}

// redisWatch is what the metrics read of Redis, when there is one.
type redisWatch struct {
	errors func() int64 // Redis failures outside the cache's own count (the follower's lease)
	up     func() bool  // the background check's last finding
}

// watch registers the SDK's counters, read at each scrape; redis is nil
// without Redis.
func (m *metrics) watch(api *client.Client, qc *cache.Cache, w *widget.Widget, following bool, redis *redisWatch) {
	add := func(name, help string, kind prometheus.ValueType, label string, reads ...read) {
		var labels []string
		if label != "" {
			labels = []string{label}
		}
		m.reg.MustRegister(&readCollector{desc: prometheus.NewDesc(name, help, labels, nil), kind: kind, reads: reads})
	}
	counter := func(name, help string, value func() float64) {
		add(name, help, prometheus.CounterValue, "", read{value: value})
	}
	gauge := func(name, help string, value func() float64) {
		add(name, help, prometheus.GaugeValue, "", read{value: value})
	}
	cs := func(f func(cache.Stats) int64) func() float64 {
		return func() float64 { return float64(f(qc.Stats())) }
	}
	by := func(value string, f func() float64) read { return read{labels: []string{value}, value: f} }

	// A lookup is one of three: answered fresh, answered stale while a
	// refresh runs, or a miss that waits for the registry.
	add("qcbadge_cache_lookups_total", "Lookups of the cache, by outcome: hit (fresh), stale (served while a refresh runs) or miss (waited for the registry).",
		prometheus.CounterValue, "outcome",
		by("hit", cs(func(s cache.Stats) int64 { return s.Hits })),
		by("stale", cs(func(s cache.Stats) int64 { return s.StaleServed })),
		by("miss", cs(func(s cache.Stats) int64 { return s.Misses })))
	// A miss whose fetch failed is answered stale, or not at all.
	add("qcbadge_cache_fetch_failures_total", "Misses whose fetch from the registry failed, by what they were answered with: stale (stale-if-error) or none.",
		prometheus.CounterValue, "served",
		by("stale", cs(func(s cache.Stats) int64 { return s.StaleIfError })),
		by("none", cs(func(s cache.Stats) int64 { return s.Errors - s.StaleIfError })))
	// Any at all is the key to fix: calls are refused, or held back a
	// minute at a time, so the registry's 401s alone come slowly.
	counter("qcbadge_cache_key_refused_total", "Of the failed misses, those failed because the registry refuses the API key: refused, or held back by the client's cool-down of a minute after a refusal. Badges not cached are the neutral one until the key is fixed (QC_API_KEY or -api-key-file).",
		cs(func(s cache.Stats) int64 { return s.KeyRefused }))
	storeErrors := cs(func(s cache.Stats) int64 { return s.StoreErrors })
	if redis != nil {
		cacheErrors := storeErrors
		storeErrors = func() float64 { return cacheErrors() + float64(redis.errors()) }
		gauge("qcbadge_redis_up", "1 when Redis last answered the readiness check (run at most every 5 s, by probes and scrapes), 0 when it did not.", func() float64 {
			if redis.up() {
				return 1
			}
			return 0
		})
	}
	counter("qcbadge_cache_store_errors_total", "Redis operations that failed: the cache's (which stops asking Redis after a few in a row, until a probe finds it back) and the follower's lease's (asked about every second while Redis fails, so that the count moves for as long as an outage lasts).", storeErrors)
	add("qcbadge_cache_fetches_total", "Calls the cache made to the registry, by kind: batch (many products in one call) or single; each call's attempts are timed in qcbadge_upstream_request_duration_seconds.",
		prometheus.CounterValue, "kind",
		by("batch", cs(func(s cache.Stats) int64 { return s.Batches })),
		by("single", cs(func(s cache.Stats) int64 { return s.Upstream - s.Batches })))
	counter("qcbadge_cache_lookups_dropped_total", "Lookups dropped unsent: nobody waited for them any more.", cs(func(s cache.Stats) int64 { return s.Abandoned }))
	ws := func(f func(widget.Stats) int64) func() float64 {
		return func() float64 { return float64(f(w.Stats())) }
	}
	counter("qcbadge_badges_rate_limited_total", "Cold badge lookups the public endpoint's limits refused.", ws(func(s widget.Stats) int64 { return s.BadgesThrottled }))
	counter("qcbadge_badges_refused_total", "Badge requests for products outside the catalogue.", ws(func(s widget.Stats) int64 { return s.BadgesRefused }))
	counter("qcbadge_template_misuses_total", "Template calls given what they could not use.", ws(func(s widget.Stats) int64 { return s.TemplateMisuses }))
	add("qcbadge_upstream_throttled_total", "Calls the client's own quota refused or held back, by priority: high (the platform's pages) or low (the public badge endpoint, background work).",
		prometheus.CounterValue, "priority",
		by("high", func() float64 { return float64(api.Stats().ThrottledHigh) }),
		by("low", func() float64 { return float64(api.Stats().ThrottledLow) }))

	lf := func(f func(client.LogFailureCounts) int64) func() float64 {
		return func() float64 { return float64(f(api.Stats().LogFailures)) }
	}
	add("qcbadge_log_refused_total", "Product statuses refused because they do not verify against the registry's log, from the registry or read back from Redis, by cause: signature (a key not the registry's), malformed (checkpoint), proof (a record or proof rewritten, cut or missing), fork (another history than the one verified), backwards (an older checkpoint than one the registry proved). Each is a forged or tampered status kept off the badges; any at all is worth a look.",
		prometheus.CounterValue, "cause",
		by("signature", lf(func(n client.LogFailureCounts) int64 { return n.Signature })),
		by("malformed", lf(func(n client.LogFailureCounts) int64 { return n.Malformed })),
		by("proof", lf(func(n client.LogFailureCounts) int64 { return n.Proof })),
		by("fork", lf(func(n client.LogFailureCounts) int64 { return n.Fork })),
		by("backwards", lf(func(n client.LogFailureCounts) int64 { return n.Backwards })))
	counter("qcbadge_cache_refused_total", "Product statuses read back from Redis that were not served: not the registry's answer for their key, as its log proves (a forged value, another product's status, a record rewritten). Each was deleted from Redis and the registry asked instead. Anyone who can write to Redis wrote it.",
		cs(func(s cache.Stats) int64 { return s.Refused }))

	gauge("qcbadge_log_forked", "1 while the fleet holds a fork of the registry's log that its follower found (the log showed two histories): every badge is the neutral one, on every replica, until an operator clears it (qcbadge clear-log-fork); 0 otherwise.", func() float64 {
		if qc.Stats().LogForked {
			return 1
		}
		return 0
	})

	if following {
		fs := &m.followStats
		add("qcbadge_log_audits_total", "Audits of the registry's log by this replica's follower, by outcome: passed (the checkpoint verified, extended the last and agreed with the witnesses) or failed (the registry or a witness did not answer with what the audit needs; also a witness's answer that is no valid checkpoint).",
			prometheus.CounterValue, "outcome",
			by("passed", func() float64 { return float64(fs.LogAudits.Load()) }),
			by("failed", func() float64 { return float64(fs.LogErrors.Load()) }))
		counter("qcbadge_log_forks_total", "Forks of the registry's log this replica's follower found: two checkpoints that cannot both be the log's.", func() float64 { return float64(fs.LogForks.Load()) })
		gauge("qcbadge_log_verified_size", "The size (changes) of the latest checkpoint of the registry's log this replica's follower verified and published to the fleet (0: none yet).", func() float64 { return float64(fs.LogSize.Load()) })
		counter("qcbadge_follower_applied_total", "Change-feed events applied.", func() float64 { return float64(fs.Applied.Load()) })
		counter("qcbadge_follower_feed_errors_total", "Failed polls of the change feed.", func() float64 { return float64(fs.FeedErrors.Load()) })
		counter("qcbadge_follower_resyncs_total", "Resynchronisations of the follower.", func() float64 { return float64(fs.Resyncs.Load()) })
		gauge("qcbadge_follower_leading", "1 while this replica's follower applies the feed: with Redis, while it holds the lease; with memory alone, while it runs.", func() float64 {
			if m.leading.Load() {
				return 1
			}
			return 0
		})
		gauge("qcbadge_follower_lag_seconds", "Between the last applied change's publication and its application; it keeps that value until the next change, also on a replica that has stopped leading (alert on it with qcbadge_follower_leading and a rise of qcbadge_follower_applied_total, as deploy/qcbadge-alerts.yml does).", func() float64 {
			return time.Duration(m.lastLag.Load()).Seconds()
		})
		gauge("qcbadge_follower_caught_up_timestamp_seconds", "When this replica's follower last reached the feed's head (0: not yet).", func() float64 {
			return float64(fs.CaughtUp.Load()) / 1e9
		})
	}
}

// transport times each attempt of a call to the registry, whose API is at
// base, by its operation; the follower's long polls apart.
func (m *metrics) transport(base string, next http.RoundTripper) http.RoundTripper {
	basePath := ""
	if u, err := url.Parse(base); err == nil {
		basePath = strings.TrimSuffix(u.Path, "/")
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		elapsed := time.Since(start).Seconds()
		code := "error"
		switch {
		case err == nil:
			code = strconv.Itoa(resp.StatusCode)
		case r.Context().Err() != nil:
			code = "canceled"
		}
		if isLongPoll(r.URL, basePath) {
			m.longPolls.WithLabelValues(code).Observe(elapsed)
		} else {
			m.upstream.WithLabelValues(operationOf(r.Method, r.URL, basePath), code).Observe(elapsed)
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// isLongPoll reports whether a call is a read of the change feed the
// registry may hold: one with a wait.
func isLongPoll(u *url.URL, basePath string) bool {
	if strings.TrimPrefix(u.Path, basePath) != "/v1/changes" {
		return false
	}
	w := u.Query().Get("wait")
	return w != "" && w != "0" && w != "0s"
}

// operationOf names a call by the API's operationId (api/openapi.yaml),
// from its method and path under basePath; "other" for a call the API
// does not have, so that the label's values stay few.
func operationOf(method string, u *url.URL, basePath string) string {
	p := strings.TrimPrefix(u.Path, basePath)
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(seg) < 2 || seg[0] != "v1" {
		return "other"
	}
	seg = seg[1:]
	get, post := method == http.MethodGet || method == http.MethodHead, method == http.MethodPost
	one := func(list, record string) string {
		switch {
		case len(seg) == 1 && get:
			return list
		case len(seg) == 2 && get && record != "":
			return record
		}
		return "other"
	}
	switch seg[0] {
	case "products":
		switch {
		case len(seg) == 2 && post && seg[1] == "batch":
			return "batchProducts"
		case len(seg) == 2 && get && seg[1] == "lookup":
			return "lookupProduct"
		case len(seg) == 2 && get:
			return "getProductByGTIN"
		}
	case "enterprises":
		if len(seg) == 3 && get && seg[2] == "commitments" {
			return "listEnterpriseCommitments"
		}
		return one("listEnterprises", "getEnterprise")
	case "commitments":
		return one("other", "getCommitment")
	case "inspections":
		return one("listInspections", "getInspection")
	case "cases":
		return one("listCases", "getCase")
	case "categories":
		return one("listCategories", "")
	case "changes":
		return one("listChanges", "")
	case "reports":
		switch {
		case len(seg) == 1 && post:
			return "createReport"
		case len(seg) == 1 && get:
			return "listReports"
		case len(seg) == 2 && post && seg[1] == "batch":
			return "createClues"
		case len(seg) == 2 && get:
			return "getReport"
		}
	case "keys":
		return one("listLogKeys", "")
	case "log":
		switch {
		case len(seg) == 2 && get && seg[1] == "checkpoint":
			return "getLogCheckpoint"
		case len(seg) == 2 && get && seg[1] == "leaf":
			return "getLogLeaf"
		case len(seg) == 3 && get && seg[1] == "proof" && seg[2] == "inclusion":
			return "getLogInclusionProof"
		case len(seg) == 3 && get && seg[1] == "proof" && seg[2] == "consistency":
			return "getLogConsistencyProof"
		}
	}
	return "other"
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
