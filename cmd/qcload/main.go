// Command qcload is the load harness. It builds a cached client of an
// in-process sandbox (faults on, if asked) and measures one of three
// things, everything on loopback and bounded by -duration.
//
// # Badge mode (the default)
//
// It serves the widget's badge handler, drives it from many connections
// with product keys drawn by Zipf's law, and reports throughput, latency
// percentiles, the calls that reached the API and the badge states
// served. With -baseline it drives a handler that writes the same bytes
// from memory instead. With -compare N it drives the two in turn, N times
// each, for -duration each, both warm, and reports each pair's ratios —
// of throughput, and of the process's CPU time per request — and their
// medians: on a machine whose load comes and goes, only runs interleaved
// in one invocation compare, and the CPU time per request least moved.
//
//	go run ./cmd/qcload
//	go run ./cmd/qcload -duration 30s -concurrency 64 -products 100000 -zipf 1.2 -fault 'error=503@0.05'
//	go run ./cmd/qcload -baseline
//	go run ./cmd/qcload -compare 8 -duration 5s
//
// # Page mode
//
// A storefront's listing page, as examples/storefront renders it: one
// widget.Page per view, and a template that calls {{ $.QC.Badge .GTIN }}
// for each of -badges products (60), drawn uniformly (or by Zipf's law,
// with -draw zipf) from a catalogue of -products (200,000), so that most
// badges of a page are cold. It reports the page's latency, the share of
// badges that rendered unknown (the page's budget, the widget's 50 ms
// render timeout, ran out or the API failed), pages/s and the calls that
// reached the API. The cache gives each API call at most -fetch-timeout
// (1 s), which bounds the run however the API fails.
//
// The fault scenarios, one per run, and their names for -scenario:
//
//	go run ./cmd/qcload -mode page                                          # none
//	go run ./cmd/qcload -mode page -net blackhole                           # blackhole: connections accepted, nothing answered
//	go run ./cmd/qcload -mode page -fault latency=10s                       # latency: every call takes 10 s
//	go run ./cmd/qcload -mode page -fault latency=10s@0.05                  # slow: 5 % of calls take 10 s
//	go run ./cmd/qcload -mode page -fault reset@0.2                         # reset: 20 % of calls reset
//	go run ./cmd/qcload -mode page -fault error=503 -retry-after 1h         # unavailable: 503 with Retry-After 3600
//	go run ./cmd/qcload -mode page -fault rate_limit=1s@0.5                 # storm: half the calls answered 429
//
// With a Redis tier, as a platform's fleet runs the cache: its store is a
// cache.Tiered of memory (bounded by -max-entries) in front of
// cache/redisstore, built as cmd/qcbadge builds it, over a redis-server
// that qcload starts for the run, on a free loopback port, in a temporary
// directory, with nothing saved. The registry is healthy; Redis is not:
//
//	go run ./cmd/qcload -mode page -redis empty                             # redis-empty: a fresh, empty Redis (the normal cold case)
//	go run ./cmd/qcload -mode page -redis delay=5ms                         # redis-slow: +5 ms each way, per chunk a proxy forwards
//	go run ./cmd/qcload -mode page -redis down                              # redis-down: a closed port, nothing listens
//	go run ./cmd/qcload -mode page -redis blackhole                         # redis-blackhole: connections accepted, nothing answered
//
// The slow and blackholed Redis are reached through internal/testkit/faultproxy.
// Its delay holds each chunk in each direction, so a command, or a
// pipeline sent at once, and its reply take at least 10 ms more: one
// round trip, not a delay per command of a pipeline. The redis-server is
// the binary named by -redis-server, else by QCSDK_REDIS_SERVER, else
// redis-server on PATH; without one these runs stop before they start
// and say so. Each run stops the servers and proxies it started when it
// ends, fails or is interrupted (SIGINT or SIGTERM end it early, with the
// report of what was measured), and on Linux a redis-server dies with a
// qcload that is killed. The report adds a table of what the
// Redis tier saw: how long cache.NewTiered took before the run and the
// Tiered store's Close after it (a web server's start and shutdown wait
// that long), cache.TieredStats, the keys in Redis after the run
// and the commands it processed during it (both read straight from the
// server, around the proxy), and a PING by the cache's way to Redis after
// the run (-1 when none came back).
//
// -scenario NAME runs one of them by name. A group runs its scenarios in
// turn, each for -duration on a fresh stack (a new sandbox, client,
// cache and, for Redis, redis-server), with a table row each: registry
// the seven registry faults with the cache in memory, redis the four
// states of Redis, all the eleven:
//
//	go run ./cmd/qcload -mode page -scenario all -duration 10s
//	go run ./cmd/qcload -mode page -scenario registry -duration 10s
//	go run ./cmd/qcload -mode page -scenario redis -duration 10s
//
// -pages bounds a run by the pages viewed rather than by time, so that
// the first pages of a freshly built stack can be measured: here a
// freshly started process's first 300 pages, cold (200,000 products drawn
// uniformly), with 5 % of the registry's calls taking 10 s; -duration
// only stops a run that has not got there:
//
//	go run ./cmd/qcload -mode page -scenario slow -pages 300 -duration 5m
//
// # Flood mode
//
// Random valid GTINs, none in the catalogue, flood the public badge
// endpoint (GET /quality/badge/{gtin}.svg) open-loop at -flood-rate
// (10,000/s) from -flood-addrs client addresses (each request's
// RemoteAddr, as the widget reads it: every connection of the harness is
// from 127.0.0.1), while the platform's own
// listing pages are viewed at -page-rate (20/s): warm pages, of products
// viewed before the flood, and cold pages, of catalogue products never
// viewed, in turn. The client is limited to -quota calls/s (200) upstream
// (client.WithUpstreamLimit). The pages run alone for a quarter of
// -duration first, then with the flood for -duration. It reports the
// flood's rate, the calls that reached the API per second (the goal: at
// most the quota), the unknown badges of warm pages (the goal: none) and
// of cold ones (the goal: 1 % at most), the Go heap in use before and
// during the flood (its largest sample, garbage not yet collected
// included, of the whole process), the cache's entries and their bound,
// and the widget's and the client's counters.
//
//	go run ./cmd/qcload -mode flood -duration 15s
//	go run ./cmd/qcload -mode flood -duration 15s -flood-addrs 1
//	go run ./cmd/qcload -mode flood -duration 15s -flood-catalogue
//
// Every mode prints a plain report, or JSON with -json.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/zipf"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
	"github.com/redis/go-redis/v9"
)

func main() {
	// An interrupt ends the run the way its end would, so that the
	// redis-servers and proxies it started are stopped; a second one
	// kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	// go-redis tells stderr of each dial that failed: in the Redis
	// scenarios that is the fault under test, which the report counts.
	redis.SetLogger(quiet{})
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qcload:", err)
		os.Exit(1)
	}
}

type faultList []sandbox.Fault

func (f *faultList) String() string { return fmt.Sprint(len(*f), " faults") }
func (f *faultList) Set(s string) error {
	fault, err := sandbox.ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, fault)
	return nil
}

// quiet is a go-redis logger that says nothing.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Report is what a run measured.
type Report struct {
	Target     string             `json:"target"`
	Requests   int64              `json:"requests"`
	Errors     int64              `json:"errors"` // non-200 answers and transport failures
	Seconds    float64            `json:"seconds"`
	PerSecond  float64            `json:"requests_per_second"`
	P50, P90   float64            `json:"-"`
	P99, Max   float64            `json:"-"`
	Latency    map[string]float64 `json:"latency_ms"`
	Upstream   int64              `json:"upstream_calls"` // calls that reached the API
	Products   int                `json:"products"`
	Distinct   int                `json:"distinct_products_viewed"`
	States     map[string]int64   `json:"badge_states"`
	CacheStats cache.Stats        `json:"cache"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		defer func() {
			if werr := writeHeapProfile(o.memProfile); err == nil {
				err = werr
			}
		}()
	}
	switch o.mode {
	case "page":
		return runPage(ctx, o, stdout)
	case "flood":
		return runFlood(ctx, o, stdout)
	}
	return runBadge(ctx, o, stdout)
}

// writeHeapProfile writes what is still live after the run, every stack
// closed: what a closed stack leaves behind.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// runBadge drives the badge handler (or, with -baseline, static bytes)
// from -concurrency connections; with -compare, both in turn.
func runBadge(ctx context.Context, o *options, stdout io.Writer) error {
	makers := max(1, o.products/20)
	sb, err := sandbox.New(sandbox.WithSize(makers, o.products), sandbox.WithRateLimit(0, 0), sandbox.WithFaults(o.faults...))
	if err != nil {
		return err
	}
	defer sb.Close()
	base, stopAPI, err := sb.Start()
	if err != nil {
		return err
	}
	defer stopAPI()
	api, err := client.New(client.WithBaseURL(base))
	if err != nil {
		return err
	}
	defer api.CloseIdleConnections()
	qc, err := cache.New(api, cache.WithMaxEntries(max(o.products, 1000)))
	if err != nil {
		return err
	}
	defer qc.Close()
	badges, err := widget.New(qc, o.lookupOptions()...)
	if err != nil {
		return err
	}

	gtins := make([]string, o.products)
	for i := range gtins {
		p, ok := sb.Product(i%makers, i/makers)
		if !ok {
			return fmt.Errorf("the sandbox has no product %d", i)
		}
		gtins[i] = string(p.GTIN)
	}
	upstream := func() int64 {
		return sb.Requests("GET /v1/products/{gtin}") + sb.Requests("POST /v1/products/batch")
	}
	d := &driver{o: o, gtins: gtins, upstream: upstream, qc: qc}

	handler := badges.Handler("/quality/")
	if o.compare > 0 {
		return runCompare(ctx, d, handler, stdout)
	}
	target := "widget.Handler"
	if o.baseline {
		if err := d.warm(ctx); err != nil {
			return err
		}
		handler = staticBadges(handler, gtins, o.format)
		target = "static bytes (baseline)"
	}
	rep, err := d.drive(ctx, handler, target)
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBadgeReport(stdout, o, rep)
	return nil
}

// staticBadges is the floor the handler is measured against: the same
// response — bytes and headers — from a map, built by asking handler for
// every product's badge (which warms its cache). The headers are the
// handler's, so that the two put the same bytes on the wire and the
// comparison measures the handler's work alone.
func staticBadges(handler http.Handler, gtins []string, format string) http.Handler {
	type response struct {
		header http.Header
		body   []byte
	}
	responses := make(map[string]response, len(gtins))
	for _, g := range gtins {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, "/quality/badge/"+g+"."+format, nil)
		handler.ServeHTTP(rec, req)
		responses[g] = response{rec.header, rec.body}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/quality/badge/"), ".")
		resp, ok := responses[g]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		for k, v := range resp.header {
			h[k] = v // never modified: net/http only reads them
		}
		w.Write(resp.body)
	})
}

// A driver drives a badge handler from -concurrency connections.
type driver struct {
	o        *options
	gtins    []string
	upstream func() int64 // the calls that reached the API so far
	qc       *cache.Cache
}

// warm loads every product into the cache before the baseline's bytes
// are built from the handler: Warm's batches have no page's deadline, so
// none is hedged, and no call of the build is still on its way to the
// API when the run's count of calls starts (a page's hedged call, cut
// short by its budget, could arrive later and be counted against the
// baseline).
func (d *driver) warm(ctx context.Context) error {
	keys := make([]client.ProductKey, len(d.gtins))
	for i, g := range d.gtins {
		keys[i] = client.ProductKey{GTIN: client.GTIN(g)}
	}
	_, err := d.qc.Warm(ctx, keys)
	return err
}

// drive serves handler on loopback and drives it for -duration (or
// -requests).
func (d *driver) drive(ctx context.Context, handler http.Handler, target string) (Report, error) {
	o, gtins := d.o, d.gtins
	upstreamBefore := d.upstream()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Report{}, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-served }()
	url := "http://" + ln.Addr().String() + "/quality/badge/"

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var issued, errs atomic.Int64
	var mu sync.Mutex
	states := map[string]int64{}
	viewed := map[int]struct{}{}
	lat := make([][]time.Duration, o.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.conc {
		wg.Go(func() {
			z := zipf.New(o.products, o.zipfS, uint64(w)+1)
			local := map[string]int64{}
			seen := map[int]struct{}{}
			for ctx.Err() == nil {
				if o.requests > 0 && issued.Add(1) > o.requests {
					break
				}
				k := z.Next()
				seen[k] = struct{}{}
				t0 := time.Now()
				resp, err := hc.Get(url + gtins[k] + "." + o.format)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				local[stateOf(body)]++
			}
			mu.Lock()
			for k, v := range local {
				states[k] += v
			}
			for k := range seen {
				viewed[k] = struct{}{}
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	slices.Sort(all)
	ms := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(q*float64(len(all)-1))].Microseconds()) / 1000
	}
	rep := Report{
		Target: target, Requests: int64(len(all)), Errors: errs.Load(), Seconds: elapsed.Seconds(),
		PerSecond: float64(len(all)) / elapsed.Seconds(),
		P50:       ms(0.5), P90: ms(0.9), P99: ms(0.99), Max: ms(1),
		Upstream: d.upstream() - upstreamBefore,
		Products: o.products, Distinct: len(viewed), States: states, CacheStats: d.qc.Stats(),
	}
	rep.Latency = map[string]float64{"p50": rep.P50, "p90": rep.P90, "p99": rep.P99, "max": rep.Max}
	return rep, nil
}

func printBadgeReport(stdout io.Writer, o *options, rep Report) {
	fmt.Fprintf(stdout, "target      %s, %d connections, %d products, Zipf s=%.2f, %d faults\n", rep.Target, o.conc, o.products, o.zipfS, len(o.faults))
	fmt.Fprintf(stdout, "requests    %d in %.1fs: %.0f/s, %d errors\n", rep.Requests, rep.Seconds, rep.PerSecond, rep.Errors)
	fmt.Fprintf(stdout, "latency     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", rep.P50, rep.P90, rep.P99, rep.Max)
	fmt.Fprintf(stdout, "upstream    %d calls to the API for %d distinct products viewed\n", rep.Upstream, rep.Distinct)
	keys := make([]string, 0, len(rep.States))
	for k := range rep.States {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, rep.States[k]))
	}
	fmt.Fprintf(stdout, "badges      %s\n", strings.Join(parts, ", "))
}

// Comparison is what -compare measured: each pair of runs, baseline
// first, and the median ratio of the handler's throughput to the
// baseline's over the pairs. The process's CPU time per request (server
// and clients together) is reported too, and its ratio: on a machine
// that other work loads, it moves less than throughput does.
type Comparison struct {
	Runs        []ComparedRun `json:"runs"`
	Baseline    float64       `json:"baseline_requests_per_second"` // the median
	Handler     float64       `json:"handler_requests_per_second"`  // the median
	MedianRatio float64       `json:"median_ratio"`
	// MedianCPURatio is the median of the baseline's CPU time per
	// request over the handler's; 0 where the CPU time is not read.
	MedianCPURatio float64 `json:"median_cpu_ratio"`
	Upstream       int64   `json:"upstream_calls"` // calls that reached the API during the runs
}

// A ComparedRun is one pair of runs.
type ComparedRun struct {
	Baseline float64 `json:"baseline_requests_per_second"`
	Handler  float64 `json:"handler_requests_per_second"`
	Ratio    float64 `json:"ratio"`
	// BaselineCPU and HandlerCPU are this process's CPU time per
	// request, in microseconds; CPURatio is the first over the second.
	BaselineCPU float64 `json:"baseline_cpu_us_per_request"`
	HandlerCPU  float64 `json:"handler_cpu_us_per_request"`
	CPURatio    float64 `json:"cpu_ratio"`
	Errors      int64   `json:"errors"`
}

// runCompare drives the baseline and the handler in turn, -compare times
// each, on one stack: a machine's load that comes and goes falls on both
// alike, and the ratio of each pair measures the handler against the
// floor under the same conditions. Building the baseline's bytes asks the
// handler for every product's badge, so both are measured warm.
func runCompare(ctx context.Context, d *driver, handler http.Handler, stdout io.Writer) error {
	o := d.o
	if err := d.warm(ctx); err != nil {
		return err
	}
	baseline := staticBadges(handler, d.gtins, o.format)
	before := d.upstream()
	var c Comparison
	var base, hand, ratios, cpuRatios []float64
	// drive drives a handler and reads the process's CPU time per
	// request it served.
	drive := func(h http.Handler, target string) (Report, float64, error) {
		cpu := processCPU()
		rep, err := d.drive(ctx, h, target)
		if rep.Requests == 0 {
			return rep, 0, err
		}
		return rep, float64((processCPU() - cpu).Microseconds()) / float64(rep.Requests), err
	}
	if !o.asJSON {
		fmt.Fprintf(stdout, "compare     static bytes (baseline) and widget.Handler in turn, %d times, %s each, %d connections, %d products, Zipf s=%.2f, warm\n",
			o.compare, o.duration, o.conc, o.products, o.zipfS)
	}
	for i := range o.compare {
		b, bCPU, err := drive(baseline, "static bytes (baseline)")
		if err != nil {
			return err
		}
		h, hCPU, err := drive(handler, "widget.Handler")
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			break // interrupted: this pair is cut short
		}
		r := ComparedRun{Baseline: b.PerSecond, Handler: h.PerSecond, BaselineCPU: bCPU, HandlerCPU: hCPU, Errors: b.Errors + h.Errors}
		if b.PerSecond > 0 {
			r.Ratio = h.PerSecond / b.PerSecond
		}
		if hCPU > 0 {
			r.CPURatio = bCPU / hCPU
			cpuRatios = append(cpuRatios, r.CPURatio)
		}
		c.Runs = append(c.Runs, r)
		base, hand, ratios = append(base, r.Baseline), append(hand, r.Handler), append(ratios, r.Ratio)
		if !o.asJSON {
			fmt.Fprintf(stdout, "run %-3d     baseline %.0f/s, handler %.0f/s: %.2fx; CPU per request %.1f µs, %.1f µs: %.2fx; %d errors\n",
				i+1, r.Baseline, r.Handler, r.Ratio, r.BaselineCPU, r.HandlerCPU, r.CPURatio, r.Errors)
		}
	}
	c.Baseline, c.Handler, c.MedianRatio = median(base), median(hand), median(ratios)
	c.MedianCPURatio = median(cpuRatios)
	c.Upstream = d.upstream() - before
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	fmt.Fprintf(stdout, "median      baseline %.0f/s, handler %.0f/s; ratio of each pair's: %.2fx; of their CPU per request (baseline over handler): %.2fx\n",
		c.Baseline, c.Handler, c.MedianRatio, c.MedianCPURatio)
	fmt.Fprintf(stdout, "upstream    %d calls to the API during the runs\n", c.Upstream)
	return nil
}

// median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// stateOf reads the badge state from any of the three formats.
func stateOf(body []byte) string {
	b := string(body)
	for _, s := range []string{"committed", "failed", "withdrawn", "not-listed", "unknown"} {
		if strings.Contains(b, "qcb-"+s) {
			return s
		}
	}
	if i := strings.Index(b, `"verdict":"`); i >= 0 {
		v := b[i+len(`"verdict":"`):]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			return v[:j]
		}
	}
	return "other"
}

// recorder is a minimal http.ResponseWriter, to capture the bytes the
// baseline serves.
type recorder struct {
	header http.Header
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }
func (r *recorder) WriteHeader(int)             {}
