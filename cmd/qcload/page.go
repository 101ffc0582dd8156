package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/zipf"
)

// PageReport is what a page run measured under one scenario.
type PageReport struct {
	Mode              string             `json:"mode"`
	Pages             int64              `json:"pages"`
	Missed            int64              `json:"missed"` // with -page-rate: views due while every driver was busy, not sent
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
	Redis             *RedisReport       `json:"redis,omitempty"` // the Redis scenarios only
}

// RedisReport is what the Redis tier of a run saw.
type RedisReport struct {
	Fault  string            `json:"fault"` // as -redis takes it
	Tiered cache.TieredStats `json:"tiered"`
	// Keys is the number of keys in Redis after the run, and Commands
	// the commands it processed during the run, both read around any
	// proxy; -1 when Redis is down.
	Keys     int64 `json:"keys"`
	Commands int64 `json:"commands"`
	// PingMS is the time a PING took after the run, by the cache's way to
	// Redis (through the proxy, if any); -1 when none came back within
	// the store's timeout and a little more.
	PingMS float64 `json:"ping_ms"`
	// StartMS is the time cache.NewTiered took, before the run, and
	// StopMS the time the Tiered store's Close took, after it: a web
	// server's start and shutdown wait that long for its Redis tier.
	StartMS float64 `json:"start_ms"`
	StopMS  float64 `json:"stop_ms"`
}

// runPage measures listing pages under each scenario of the run, one
// after the other, each on a stack of its own.
func runPage(ctx context.Context, o *options, stdout io.Writer) error {
	var reports []PageReport
	for _, sc := range o.runScenarios() {
		if ctx.Err() != nil {
			break // interrupted: report what was measured
		}
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
	pace := fmt.Sprintf("%d page views at once", o.conc)
	if o.pageRate > 0 {
		pace = fmt.Sprintf("%g page views a second (open loop, at most %d at once)", o.pageRate, o.conc)
	}
	fmt.Fprintf(stdout, "pages of %d badges, %d products drawn %s, %s, fetch timeout %s\n",
		o.badges, o.products, o.draw, pace, o.fetchTimeout)
	if err := pageTable(stdout, reports); err != nil {
		return err
	}
	return redisTable(stdout, reports)
}

func pageRun(ctx context.Context, o *options, sc scenario) (PageReport, error) {
	st, err := newStack(ctx, o, sc.faults, sc.net, sc.redis)
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
	st.redis.begin(ctx)
	dctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	t, missed := drivePages(dctx, o, pc)
	elapsed := time.Since(start).Seconds()
	up := st.upstream() - before
	r := PageReport{
		Mode: sc.name, Pages: int64(len(t.lat)), Missed: missed, Errors: t.errors, Seconds: elapsed,
		PerSecond: float64(len(t.lat)) / elapsed, Latency: latencyMS(t.lat),
		Badges: t.badges, Unknown: t.unknown, UnknownShare: t.unknownShare(),
		Upstream: up, UpstreamPerSecond: float64(up) / elapsed,
		Cache: st.qc.Stats(), Client: st.api.Stats(), Redis: st.redis.report(ctx),
	}
	stop()
	st.Close() // here, not deferred, to time the Redis tier's Close
	if r.Redis != nil {
		r.Redis.StopMS = float64(st.redis.stop.Microseconds()) / 1000
	}
	return r, nil
}

// begin notes what Redis had done before the run, so that the report
// counts the run's own commands. A nil tier does nothing.
func (rt *redisTier) begin(ctx context.Context) {
	if rt == nil || rt.direct == nil {
		return
	}
	rt.before, _ = redisInfo(ctx, rt.direct, "stats", "total_commands_processed")
}

// report reads what the Redis tier saw; nil for a stack without one.
func (rt *redisTier) report(ctx context.Context) *RedisReport {
	if rt == nil {
		return nil
	}
	// An interrupted run still reads what Redis holds.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r := &RedisReport{Fault: rt.fault.String(), Tiered: rt.tiered.Stats(), Keys: -1, Commands: -1, PingMS: -1,
		StartMS: float64(rt.start.Microseconds()) / 1000}
	if rt.direct != nil {
		// INFO first: its count leaves itself out but has begin's INFO in.
		if n, err := redisInfo(ctx, rt.direct, "stats", "total_commands_processed"); err == nil {
			r.Commands = n - rt.before - 1
		}
		if n, err := rt.direct.DBSize(ctx).Result(); err == nil {
			r.Keys = n
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if rt.rdb.Ping(pctx).Err() == nil {
		r.PingMS = float64(time.Since(t0).Microseconds()) / 1000
	}
	return r
}

// drivePages views pages from -concurrency drivers, each page naming
// -badges products drawn from the catalogue, until ctx ends or -pages
// have been viewed: with -page-rate, at that rate (a view due while every
// driver is busy is counted as missed, not sent late); without it, each
// driver views its next page as soon as its last one ends.
func drivePages(ctx context.Context, o *options, pc pageClient) (*pageTally, int64) {
	var issued atomic.Int64
	tallies := make([]pageTally, o.conc)
	var (
		wg     sync.WaitGroup
		jobs   chan int64
		missed int64
	)
	// The pacer stops with the last page, so that the run ends at -pages,
	// not at -duration; the views in flight go on.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	if o.pageRate > 0 {
		jobs = make(chan int64, o.conc)
		wg.Go(func() { missed = pace(pctx, o.pageRate, jobs) })
	}
	for w := range o.conc {
		wg.Go(func() {
			next := o.drawer(uint64(w) + 1)
			ids := make([]int, o.badges)
			for ctx.Err() == nil {
				if jobs != nil {
					if _, ok := <-jobs; !ok {
						return
					}
				}
				if o.pages > 0 && issued.Add(1) > o.pages {
					stop()
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
	return &all, missed
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

// redisTable tells what the Redis tier saw in the runs that had one.
func redisTable(out io.Writer, reports []PageReport) error {
	if !slices.ContainsFunc(reports, func(r PageReport) bool { return r.Redis != nil }) {
		return nil
	}
	fmt.Fprintln(out, "\nthe Redis tier (keys and commands read around any proxy; -1: none to read)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tredis\tstart ms\tstop ms\tshared hits\tmisses\tshared errors\tdown at end\tunflushed\tkeys\tcommands\tping ms\t")
	for _, r := range reports {
		if x := r.Redis; x != nil {
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%d\t%d\t%d\t%v\t%d\t%d\t%d\t%.1f\t\n", r.Mode, x.Fault, x.StartMS, x.StopMS, x.Tiered.SharedHits, x.Tiered.Misses,
				x.Tiered.SharedErrors, x.Tiered.SharedDown, x.Tiered.Unflushed, x.Keys, x.Commands, x.PingMS)
		}
	}
	return tw.Flush()
}

func pageTable(out io.Writer, reports []PageReport) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tpages\tmissed\tpages/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tunknown\terrors\tupstream\tcalls/s\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f %%\t%d\t%d\t%.1f\t\n",
			r.Mode, r.Pages, r.Missed, r.PerSecond, r.Latency["p50"], r.Latency["p90"], r.Latency["p99"], r.Latency["max"],
			100*r.UnknownShare, r.Errors, r.Upstream, r.UpstreamPerSecond)
	}
	return tw.Flush()
}
