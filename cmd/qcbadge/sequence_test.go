package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// sinceBefore is what a step of a scripted sequence moved on /metrics:
// only counts (a _sum moves by however long things took) and only what
// the step did, leaving out the gauges that move as time passes.
func sinceBefore(before, after scrape) map[string]float64 {
	got := moved(before, after)
	for k := range got {
		name, _, _ := strings.Cut(k, "{")
		switch {
		case strings.HasSuffix(name, "_sum"),
			name == "qcbadge_follower_caught_up_timestamp_seconds",
			name == "qcbadge_follower_lag_seconds":
			delete(got, k)
		}
	}
	return got
}

// until polls /metrics until cond holds of it, or fails the test after
// 20 s.
func until(t *testing.T, hs *httptest.Server, what string, cond func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		m := scrapeMetrics(t, hs)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
}

func post(t *testing.T, method, url, body string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}

// A scripted sequence — a listing's batch, cold and warm; a revocation
// the follower applies; the registry refusing the key — and /metrics
// read before and after each step: every series moves by exactly what
// the step did, and nothing else moves.
func TestMetricsMoveByExactlyWhatHappened(t *testing.T) {
	// Every change is audited at once, as the default would after 5 s.
	s, hs := newTestServiceWith(t, func(c *config) { c.logEvery = time.Millisecond }, discardLog())
	ready(t, hs)
	audited(t, s, hs)
	products := demo(t)
	q := ""
	for _, p := range products {
		q += "&gtin=" + string(p.GTIN)
	}
	listing := hs.URL + "/quality/badges?" + q[1:]
	n := float64(len(products))
	check := func(step string, before, after scrape, want map[string]float64) {
		t.Helper()
		if d := cmp.Diff(want, sinceBefore(before, after)); d != "" {
			t.Errorf("%s moved /metrics otherwise (-want +got):\n%s", step, d)
		}
	}

	// A listing's badges, cold: one batch call for them all.
	before := scrapeMetrics(t, hs)
	if code, _, body := fetch(t, listing); code != http.StatusOK {
		t.Fatalf("batch: %d %s", code, body)
	}
	check("a cold listing", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_cache_lookups_total{outcome="miss"}`:                                           n,
		`qcbadge_cache_fetches_total{kind="batch"}`:                                             1,
		`qcbadge_upstream_request_duration_seconds_count{code="200",operation="batchProducts"}`: 1,
		`qcbadge_request_duration_seconds_count{code="200",route="badges"}`:                     1,
	})

	// The same listing, warm: a hit each, and no call.
	before = scrapeMetrics(t, hs)
	fetch(t, listing)
	check("a warm listing", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_cache_lookups_total{outcome="hit"}`:                        n,
		`qcbadge_request_duration_seconds_count{code="200",route="badges"}`: 1,
	})

	// One badge, warm, as an image: one hit.
	before = scrapeMetrics(t, hs)
	if code, _, body := fetch(t, hs.URL+"/quality/badge/"+string(products[0].GTIN)+".svg"); code != http.StatusOK {
		t.Fatalf("one badge: %d %s", code, body)
	}
	check("one warm badge", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_cache_lookups_total{outcome="hit"}`:                       1,
		`qcbadge_request_duration_seconds_count{code="200",route="badge"}`: 1,
	})

	// A malformed GTIN: refused before any lookup.
	before = scrapeMetrics(t, hs)
	fetch(t, hs.URL+"/quality/badges?gtin=6901234567893")
	check("a malformed GTIN", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_request_duration_seconds_count{code="400",route="badges"}`: 1,
	})

	// The regulator revokes a commitment: the follower's long poll
	// returns with the change, which it applies.
	var committed client.GTIN
	for _, p := range products {
		if p.Verdict == client.VerdictCommitted {
			committed = p.GTIN
			break
		}
	}
	var st client.ProductStatus
	_, _, body := fetch(t, s.sandboxURL+"/v1/products/"+string(committed))
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Commitment == nil {
		t.Fatalf("the committed product %s: %v %s", committed, err, body)
	}
	before = scrapeMetrics(t, hs)
	post(t, http.MethodPost, s.sandboxURL+"/_sandbox/commitments/"+st.Commitment.ID+"/status", `{"status":"revoked"}`)
	// The change is audited: the registry's new checkpoint, and the
	// proof that it extends the one verified before.
	after := until(t, hs, "the revocation applied and audited", func(m scrape) bool {
		return m["qcbadge_follower_applied_total"] > before["qcbadge_follower_applied_total"] &&
			m[`qcbadge_log_audits_total{outcome="passed"}`] > before[`qcbadge_log_audits_total{outcome="passed"}`]
	})
	check("a revocation", before, after, map[string]float64{
		"qcbadge_follower_applied_total":                                                                 1,
		`qcbadge_upstream_long_poll_duration_seconds_count{code="200"}`:                                  1,
		`qcbadge_log_audits_total{outcome="passed"}`:                                                     1,
		"qcbadge_log_verified_size":                                                                      1,
		`qcbadge_upstream_request_duration_seconds_count{code="200",operation="getLogCheckpoint"}`:       1,
		`qcbadge_upstream_request_duration_seconds_count{code="200",operation="getLogConsistencyProof"}`: 1,
	})

	// The revoked product's badge: withdrawn. The follower marked the
	// product's entry stale, so its next view fetches it, once.
	before = scrapeMetrics(t, hs)
	if _, _, body := fetch(t, hs.URL+"/quality/badges?gtin="+string(committed)); !strings.Contains(body, "qcb-withdrawn") {
		t.Errorf("the revoked product's badge: %s", body)
	}
	check("the revoked product's badge", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_cache_lookups_total{outcome="miss"}`:                                              1,
		`qcbadge_cache_fetches_total{kind="single"}`:                                               1,
		`qcbadge_upstream_request_duration_seconds_count{code="200",operation="getProductByGTIN"}`: 1,
		`qcbadge_request_duration_seconds_count{code="200",route="badges"}`:                        1,
	})

	// The registry refuses the key: a product not yet cached is looked up,
	// refused, and shown as the neutral badge; the page still answers.
	post(t, http.MethodPut, s.sandboxURL+"/_sandbox/faults", `{"faults":["error=401 GET /v1/products/{gtin}"]}`)
	sb, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	cold := sb.NotListedGTIN()
	sb.Close()
	before = scrapeMetrics(t, hs)
	if code, _, body := fetch(t, hs.URL+"/quality/badges?gtin="+string(cold)); code != http.StatusOK || !strings.Contains(body, "qcb-unknown") {
		t.Errorf("a badge with the key refused: %d %s", code, body)
	}
	check("a refused key", before, scrapeMetrics(t, hs), map[string]float64{
		`qcbadge_cache_lookups_total{outcome="miss"}`:                                              1,
		`qcbadge_cache_fetches_total{kind="single"}`:                                               1,
		`qcbadge_cache_fetch_failures_total{served="none"}`:                                        1,
		"qcbadge_cache_key_refused_total":                                                          1,
		`qcbadge_upstream_request_duration_seconds_count{code="401",operation="getProductByGTIN"}`: 1,
		`qcbadge_request_duration_seconds_count{code="200",route="badges"}`:                        1,
	})
}

// A Redis outage in the middle of the day: a listing already in this
// replica's memory is answered from it, a hit each and no call, and
// touches no store; a product not in memory costs a failed store
// operation, counted in qcbadge_cache_store_errors_total (how many a page
// costs depends on how many of its operations start before the breaker
// opens, so the test asks for at least one); and readiness says within
// its budget that Redis does not answer, as qcbadge_redis_up does.
func TestMetricsThroughARedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	proxy, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s, hs := newTestService(t, "QC_REDIS_URL", "redis://"+proxy.Addr()+"/0")
	ready(t, hs)
	audited(t, s, hs) // the audit at taking the lease is done
	products := demo(t)
	q := ""
	for _, p := range products {
		q += "&gtin=" + string(p.GTIN)
	}
	listing := hs.URL + "/quality/badges?" + q[1:]
	fetch(t, listing) // cold: into memory and Redis
	if up := scrapeMetrics(t, hs)["qcbadge_redis_up"]; up != 1 {
		t.Errorf("qcbadge_redis_up is %v with Redis answering; want 1", up)
	}

	proxy.Blackhole()
	before := scrapeMetrics(t, hs)
	if code, _, body := fetch(t, listing); code != http.StatusOK || strings.Contains(body, "qcb-unknown") {
		t.Errorf("a listing in memory with Redis blackholed: %d %s", code, body)
	}
	after := scrapeMetrics(t, hs)
	got := sinceBefore(before, after)
	// The follower's lease renewals fail on their own schedule, and are
	// counted with the store's errors: not the listing's doing.
	delete(got, "qcbadge_cache_store_errors_total")
	if d := cmp.Diff(map[string]float64{
		`qcbadge_cache_lookups_total{outcome="hit"}`:                        float64(len(products)),
		`qcbadge_request_duration_seconds_count{code="200",route="badges"}`: 1,
	}, got); d != "" {
		t.Errorf("a warm listing with Redis blackholed moved /metrics otherwise (-want +got):\n%s", d)
	}
	before = after
	fetch(t, hs.URL+"/quality/badges?gtin="+string(notListedGTIN(t))) // not in memory: asks Redis
	after = scrapeMetrics(t, hs)
	if n := sinceBefore(before, after)["qcbadge_cache_store_errors_total"]; n < 1 {
		t.Errorf("a product not in memory, with Redis blackholed, moved qcbadge_cache_store_errors_total by %v; want at least 1", n)
	}

	// Readiness: at once, every time, and unready once the background
	// check has found Redis silent.
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, r, took := readyzOnce(t, hs.URL)
		if took > readinessBudget {
			t.Errorf("/readyz took %v with Redis blackholed; want at most %v", took, readinessBudget)
		}
		if code == http.StatusServiceUnavailable && !r.Redis.OK {
			// The gauge reads the finding readiness reads.
			if up := scrapeMetrics(t, hs)["qcbadge_redis_up"]; up != 0 {
				t.Errorf("qcbadge_redis_up is %v once readiness says Redis does not answer; want 0", up)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness still %d %+v 20 s after Redis went silent", code, r)
		}
		time.Sleep(50 * time.Millisecond) // polling for a state, not synchronising
	}
}

// notListedGTIN is a valid GTIN the embedded sandbox has no product for.
func notListedGTIN(t testing.TB) client.GTIN {
	t.Helper()
	sb, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	return sb.NotListedGTIN()
}
