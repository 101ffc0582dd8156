package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qualitycommit/qcsdk/api"
)

// scrape is /metrics as Prometheus reads it: every series by its name
// and labels, written name{k="v",…} with the labels sorted, and a
// histogram's as its _count and _sum.
type scrape map[string]float64

func scrapeMetrics(t *testing.T, hs *httptest.Server) scrape {
	t.Helper()
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus's text format: %v", err)
	}
	out := scrape{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := labelString(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			case dto.MetricType_UNTYPED:
				out[name+labels] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// has reports whether the scrape has a series of that name and labels.
func (s scrape) has(series string) bool {
	_, ok := s[series]
	return ok
}

// family is the series of a metric (its name before the labels).
func (s scrape) family(name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			out[k] = v
		}
	}
	return out
}

// moved is how qcbadge's own series changed from before to after (the
// Go runtime's and the process's move by themselves), those that did not
// left out; a series new in after moved from 0.
func moved(before, after scrape) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if !strings.HasPrefix(k, "qcbadge_") {
			continue
		}
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// The follower's gauges say what the follower does in every mode: with
// memory alone it leads from the start, as there is no lease to take.
func TestFollowerGaugesInMemoryMode(t *testing.T) {
	_, hs := newTestService(t)
	ready(t, hs)
	m := scrapeMetrics(t, hs)
	if m["qcbadge_follower_leading"] != 1 {
		t.Errorf("qcbadge_follower_leading is %v in memory mode, following the feed; want 1", m["qcbadge_follower_leading"])
	}
	if m["qcbadge_follower_caught_up_timestamp_seconds"] == 0 {
		t.Error("qcbadge_follower_caught_up_timestamp_seconds is 0 once ready")
	}
}

// A batch's badge is one lookup: a warm listing of n products moves the
// hits by n, not by the renderings each badge has.
func TestABatchCountsEachBadgeOnce(t *testing.T) {
	_, hs := newTestService(t)
	q := ""
	products := demo(t)
	for _, p := range products {
		q += "&gtin=" + string(p.GTIN)
	}
	url := hs.URL + "/quality/badges?" + q[1:]
	fetch(t, url) // cold
	before := scrapeMetrics(t, hs)
	if code, _, body := fetch(t, url); code != http.StatusOK {
		t.Fatalf("batch: %d %s", code, body)
	}
	got := moved(before, scrapeMetrics(t, hs))
	n := float64(len(products))
	if got[`qcbadge_cache_lookups_total{outcome="hit"}`] != n {
		t.Errorf("a warm batch of %v products moved the cache's lookups by %v; want %v hits",
			n, got, n)
	}
	for _, o := range []string{"miss", "stale"} {
		if d := got[`qcbadge_cache_lookups_total{outcome="`+o+`"}`]; d != 0 {
			t.Errorf("a warm batch: %v lookups %s; want 0", d, o)
		}
	}
}

// Each call to the registry is timed in the series of its operation (the
// API's operationId) and outcome; the follower's long polls, which the
// registry holds for up to a minute by design, in a series of their own.
func TestUpstreamCallsAreTimedByOperation(t *testing.T) {
	m := newMetrics()
	rt := m.transport("https://registry.example/api", roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Query().Get("fail") {
		case "transport":
			return nil, fmt.Errorf("connection refused")
		case "401":
			return &http.Response{StatusCode: http.StatusUnauthorized, Body: http.NoBody}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}))
	calls := []struct{ method, url, series string }{
		{"GET", "/api/v1/products/06910000100003", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="getProductByGTIN"}`},
		{"GET", "/api/v1/products/06910000100003?fail=401", `qcbadge_upstream_request_duration_seconds_count{code="401",operation="getProductByGTIN"}`},
		{"POST", "/api/v1/products/batch", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="batchProducts"}`},
		{"POST", "/api/v1/products/batch?fail=transport", `qcbadge_upstream_request_duration_seconds_count{code="error",operation="batchProducts"}`},
		{"GET", "/api/v1/products/lookup?uscc=x", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="lookupProduct"}`},
		{"GET", "/api/v1/enterprises/91350100M000100Y43/commitments", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="listEnterpriseCommitments"}`},
		{"GET", "/api/v1/changes?from=head", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="listChanges"}`},
		{"GET", "/api/v1/changes?after=c1&wait=30s", `qcbadge_upstream_long_poll_duration_seconds_count{code="200"}`},
		{"GET", "/api/v1/nothing/we/know", `qcbadge_upstream_request_duration_seconds_count{code="200",operation="other"}`},
	}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, "https://registry.example"+c.url, nil)
		if resp, err := rt.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	// A call whose caller has gone is canceled, not an error of the
	// registry's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://registry.example/api/v1/cases?fail=transport", nil)
	if _, err := rt.RoundTrip(req); err == nil {
		t.Fatal("the failing call succeeded")
	}
	calls = append(calls, struct{ method, url, series string }{"GET", "/api/v1/cases (canceled)", `qcbadge_upstream_request_duration_seconds_count{code="canceled",operation="listCases"}`})

	hs := httptest.NewServer(m.serve())
	defer hs.Close()
	got := scrapeMetrics(t, hs)
	upstream := got.family("qcbadge_upstream_request_duration_seconds_count")
	polls := got.family("qcbadge_upstream_long_poll_duration_seconds_count")
	for _, c := range calls {
		if got[c.series] != 1 {
			t.Errorf("%s %s: %s is %v; want 1", c.method, c.url, c.series, got[c.series])
		}
	}
	if len(upstream)+len(polls) != len(calls) {
		t.Errorf("%d calls made %d series; want one each:\n%v\n%v", len(calls), len(upstream)+len(polls), upstream, polls)
	}
}

// The operation a call is timed under is the API's own operationId, for
// every operation the API's document has.
func TestEveryOperationOfTheAPIHasItsName(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			sample := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "id1")
			u, _ := url.Parse("https://registry.example/base" + sample)
			if got := operationOf(method, u, "/base"); got != op.OperationID {
				t.Errorf("%s %s is timed as %q; want %q", method, sample, got, op.OperationID)
			}
			n++
		}
	}
	if n < 10 {
		t.Errorf("the API's document has %d operations; want its whole list", n)
	}
}
