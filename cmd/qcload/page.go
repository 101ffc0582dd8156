package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/zipf"
)

// PageReport is what a page run measured under one scenario.
type PageReport struct {
	Mode              string             `json:"mode"`
	Pages             int64              `json:"pages"`
	Errors            int64              `json:"errors"` // non-200 answers and transport failures
	Seconds           float64            `json:"seconds"`
	PerSecond         float64            `json:"pages_per_second"`
	Latency           map[string]float64 `json:"latency_ms"`
	Badges            int64              `json:"badges"`
	Unknown           int64              `json:"unknown_badges"`
	UnknownShare      float64            `json:"unknown_share"`
	Upstream          int64              `json:"upstream_calls"` // calls that reached the API
	UpstreamPerSecond float64            `json:"upstream_calls_per_second"`
	Cache             cache.Stats        `json:"cache"`
	Client            client.ClientStats `json:"client"`
}

// runPage measures listing pages under each scenario of the run, one
// after the other, each on a stack of its own.
func runPage(ctx context.Context, o *options, stdout io.Writer) error {
	var reports []PageReport
	for _, sc := range o.runScenarios() {
		r, err := pageRun(ctx, o, sc)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		reports = append(reports, r)
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(reports)
	}
	fmt.Fprintf(stdout, "pages of %d badges, %d products drawn %s, %d page views at once, fetch timeout %s\n",
		o.badges, o.products, o.draw, o.conc, o.fetchTimeout)
	return pageTable(stdout, reports)
}

func pageRun(ctx context.Context, o *options, sc scenario) (PageReport, error) {
	st, err := newStack(o, sc.faults, sc.net)
	if err != nil {
		return PageReport{}, err
	}
	defer st.Close()
	base, stop, err := serve(&listing{badges: st.badges, gtins: st.gtins})
	if err != nil {
		return PageReport{}, err
	}
	defer stop()
	transport := &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc}
	defer transport.CloseIdleConnections()
	pc := pageClient{hc: &http.Client{Transport: transport, Timeout: 10 * time.Second}, base: base}

	before := st.upstream()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	t := drivePages(ctx, o, pc)
	elapsed := time.Since(start).Seconds()
	up := st.upstream() - before
	return PageReport{
		Mode: sc.name, Pages: int64(len(t.lat)), Errors: t.errors, Seconds: elapsed,
		PerSecond: float64(len(t.lat)) / elapsed, Latency: latencyMS(t.lat),
		Badges: t.badges, Unknown: t.unknown, UnknownShare: t.unknownShare(),
		Upstream: up, UpstreamPerSecond: float64(up) / elapsed,
		Cache: st.qc.Stats(), Client: st.api.Stats(),
	}, nil
}

// drivePages views pages from -concurrency drivers, each page naming
// -badges products drawn from the catalogue, until ctx ends or -pages
// have been viewed.
func drivePages(ctx context.Context, o *options, pc pageClient) *pageTally {
	var issued atomic.Int64
	tallies := make([]pageTally, o.conc)
	var wg sync.WaitGroup
	for w := range o.conc {
		wg.Go(func() {
			next := o.drawer(uint64(w) + 1)
			ids := make([]int, o.badges)
			for ctx.Err() == nil {
				if o.pages > 0 && issued.Add(1) > o.pages {
					return
				}
				for i := range ids {
					ids[i] = next()
				}
				pc.view(ctx, ids, &tallies[w])
			}
		})
	}
	wg.Wait()
	var all pageTally
	for i := range tallies {
		all.merge(&tallies[i])
	}
	return &all
}

// drawer returns a source of product indices for one driver: uniform, so
// that a large catalogue keeps the cache cold, or by Zipf's law.
func (o *options) drawer(seed uint64) func() int {
	if o.draw == "zipf" {
		return zipf.New(o.products, o.zipfS, seed).Next
	}
	r := rand.New(rand.NewPCG(seed, 0x9a6e))
	return func() int { return r.IntN(o.products) }
}

func pageTable(out io.Writer, reports []PageReport) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tpages\tpages/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tunknown\terrors\tupstream\tcalls/s\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f %%\t%d\t%d\t%.1f\t\n",
			r.Mode, r.Pages, r.PerSecond, r.Latency["p50"], r.Latency["p90"], r.Latency["p99"], r.Latency["max"],
			100*r.UnknownShare, r.Errors, r.Upstream, r.UpstreamPerSecond)
	}
	return tw.Flush()
}
