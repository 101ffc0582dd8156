package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// options are the parsed flags of one run.
type options struct {
	cpuProfile string
	memProfile string
	mode       string
	duration   time.Duration
	conc       int
	products   int
	zipfS      float64
	asJSON     bool
	faults     faultList
	net        netFault
	redis      redisFault

	// the redis-server the Redis scenarios run: -redis-server as given,
	// and the path it resolved to (empty when no scenario needs one)
	redisServer string
	redisBin    string

	// -mode badge
	requests int64
	format   string
	baseline bool
	compare  int

	// -mode page
	scenario     string
	badges       int
	pages        int64
	draw         string
	fetchTimeout time.Duration
	maxEntries   int
	quota        float64
	burst        int

	// -mode flood
	floodRate      float64
	floodConns     int
	floodAddrs     int
	floodCatalogue bool
	pageRate       float64
	warmPages      int

	// the badge endpoint's cold-lookup limit (badge and flood modes)
	lookupLimit float64
}

// modeDefaults are the defaults of flags whose sensible value depends on
// the mode: the badge mode keeps the figures BENCHMARKS.md was measured
// with, while the page and flood modes need a catalogue large enough that
// the cache stays cold.
var modeDefaults = map[string]struct {
	products, conc int
	quota          float64
	lookupLimit    float64
	pageRate       float64
}{
	// The badge mode drives the endpoint as a platform's own pages
	// would, through one proxy: it is not the public the limits are for.
	"badge": {products: 10_000, conc: 32, lookupLimit: -1},
	"page":  {products: 200_000, conc: 8},
	"flood": {products: 200_000, conc: 8, quota: 200, pageRate: 20},
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("qcload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (sandbox, cache and load alike) to this file, for go tool pprof")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of what is still live after the run, every stack closed, to this file, for go tool pprof")
	fs.StringVar(&o.mode, "mode", "badge", "what to drive: badge (the badge endpoint), page (listing pages through Widget.Page) or flood (random GTINs at the badge endpoint while pages are viewed)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "longest run (per scenario with -scenario all; the flood's length with -mode flood)")
	fs.Int64Var(&o.requests, "requests", 0, "badge mode: stop after this many requests (0: only -duration bounds the run)")
	fs.IntVar(&o.conc, "concurrency", 0, "connections driving the handler at once (default 32 for badge, 8 page views otherwise)")
	fs.IntVar(&o.products, "products", 0, "products in the sandbox, all of them viewable (default 10,000 for badge, 200,000 otherwise)")
	fs.Float64Var(&o.zipfS, "zipf", 0.99, "Zipf exponent of product popularity")
	fs.StringVar(&o.format, "format", "svg", "badge mode: badge format: svg, html or json")
	fs.BoolVar(&o.baseline, "baseline", false, "badge mode: drive a handler that writes the same bytes from memory instead")
	fs.IntVar(&o.compare, "compare", 0, "badge mode: drive the baseline and the handler in turn, this many times each, for -duration each, warm, and report both and their ratio")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.Var(&o.faults, "fault", "a sandbox fault, as qcsandbox takes it (repeatable), e.g. 'error=503@0.05'")
	retryAfter := fs.Duration("retry-after", 0, "the Retry-After of -fault error=503 faults (the sandbox's default is 1s)")
	fs.Var(&o.net, "net", "a network fault between the client and the sandbox: blackhole, cut or delay=DURATION")
	fs.Var(&o.redis, "redis", "page mode: put a Redis tier behind the cache's memory, as a fleet's, in one state: empty (a fresh redis-server), delay=DURATION (each way, through a proxy), down (a closed port) or blackhole (a proxy that answers nothing)")
	fs.StringVar(&o.redisServer, "redis-server", "", "the redis-server binary the Redis scenarios run (default $QCSDK_REDIS_SERVER, else redis-server on PATH)")
	fs.StringVar(&o.scenario, "scenario", "", "page mode: a named fault scenario ("+strings.Join(scenarioNames(), ", ")+"), or a group of them in turn: registry (those without Redis), redis (those with it) or all")
	fs.IntVar(&o.badges, "badges", 60, "page and flood modes: products, and badges, per page")
	fs.Int64Var(&o.pages, "pages", 0, "page mode: stop after this many pages (0: only -duration bounds the run)")
	fs.StringVar(&o.draw, "draw", "uniform", "page mode: how a page's products are drawn from the catalogue: uniform or zipf (with -zipf)")
	fs.DurationVar(&o.fetchTimeout, "fetch-timeout", time.Second, "page and flood modes: the cache's bound on each API call")
	fs.IntVar(&o.maxEntries, "max-entries", cache.DefaultMaxEntries, "page and flood modes: the bound on the cache's entries")
	fs.Float64Var(&o.quota, "quota", 0, "page and flood modes: the client's upstream limit in calls/s, 0 for none (default 200 for flood)")
	fs.IntVar(&o.burst, "burst", 100, "the upstream limit's burst")
	fs.Float64Var(&o.floodRate, "flood-rate", 10_000, "flood mode: random-GTIN badge requests per second, sent open-loop")
	fs.IntVar(&o.floodConns, "flood-conns", 128, "flood mode: connections the flood may use at once")
	fs.IntVar(&o.floodAddrs, "flood-addrs", 10_000, "flood mode: client addresses the flood comes from (the widget sees them as RemoteAddr)")
	fs.BoolVar(&o.floodCatalogue, "flood-catalogue", false, "flood mode: restrict the badge endpoint to the catalogue (widget.WithCatalogue)")
	fs.Float64Var(&o.pageRate, "page-rate", 0, "page mode: page views per second, sent open-loop from -concurrency drivers (default 0: closed loop, each driver views its next page when the last ends, as fast as the machine goes); flood mode: the platform's own page views per second, warm and cold in turn (default 20)")
	fs.IntVar(&o.warmPages, "warm-pages", 20, "flood mode: distinct warm pages, viewed before the flood")
	fs.Float64Var(&o.lookupLimit, "lookup-limit", 0, "the badge endpoint's limit on cold lookups per second, overall and per address (widget.WithBadgeLookupLimit*): 0 for the widget's defaults, -1 for none (the default in badge mode)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	def, ok := modeDefaults[o.mode]
	if !ok {
		return nil, fmt.Errorf("-mode must be badge, page or flood, not %q", o.mode)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["products"] {
		o.products = def.products
	}
	if !set["concurrency"] {
		o.conc = def.conc
	}
	if !set["quota"] {
		o.quota = def.quota
	}
	if !set["lookup-limit"] {
		o.lookupLimit = def.lookupLimit
	}
	if !set["page-rate"] {
		o.pageRate = def.pageRate
	}
	if *retryAfter > 0 {
		for i := range o.faults {
			if o.faults[i].Kind == sandbox.FaultError && o.faults[i].RetryAfter == 0 {
				o.faults[i].RetryAfter = *retryAfter
			}
		}
	}
	return o, o.validate(set)
}

func (o *options) validate(set map[string]bool) error {
	if o.conc < 1 || o.products < 1 || o.zipfS <= 0 || o.duration <= 0 {
		return errors.New("-concurrency, -products, -zipf and -duration must be positive")
	}
	switch o.mode {
	case "badge":
		switch o.format {
		case "svg", "html", "json":
		default:
			return fmt.Errorf("-format must be svg, html or json, not %q", o.format)
		}
		if o.net.kind != "" || o.scenario != "" || o.redis.kind != "" {
			return errors.New("-net, -scenario and -redis are for -mode page (and -net for flood)")
		}
		if o.compare < 0 || o.compare > 0 && (o.baseline || o.requests > 0) {
			return errors.New("-compare takes a positive count of runs, and drives both handlers itself: leave out -baseline and -requests")
		}
		return nil
	case "page":
		if o.scenario != "" && (len(o.faults) > 0 || o.net.kind != "" || o.redis.kind != "") {
			return errors.New("-scenario names its own faults: leave out -fault, -net and -redis")
		}
		if o.scenario != "" && scenarioGroup(o.scenario) == nil && scenarioByName(o.scenario) == nil {
			return fmt.Errorf("-scenario must be all, registry, redis or one of %s, not %q", strings.Join(scenarioNames(), ", "), o.scenario)
		}
		// Before any scenario runs, not after the first few.
		if slices.ContainsFunc(o.runScenarios(), func(sc scenario) bool { return sc.redis.needsServer() }) {
			bin, err := findRedisServer(o.redisServer)
			if err != nil {
				return err
			}
			o.redisBin = bin
		}
		if o.pageRate < 0 {
			return errors.New("-page-rate must be positive, or 0 for a closed loop")
		}
		if o.draw != "uniform" && o.draw != "zipf" {
			return fmt.Errorf("-draw must be uniform or zipf, not %q", o.draw)
		}
	case "flood":
		if o.scenario != "" || o.redis.kind != "" {
			return errors.New("-scenario and -redis are for -mode page")
		}
		if !(o.floodRate > 0) || o.floodConns < 1 || o.floodAddrs < 1 || !(o.pageRate > 0) || o.warmPages < 1 || !(o.quota > 0) {
			return errors.New("-flood-rate, -flood-conns, -flood-addrs, -page-rate, -warm-pages and -quota must be positive")
		}
		if o.products < (o.warmPages+1)*o.badges {
			return fmt.Errorf("-products %d leaves no cold pages after %d warm pages of %d", o.products, o.warmPages, o.badges)
		}
	}
	if o.badges < 1 || o.badges > o.products || o.pages < 0 || o.fetchTimeout <= 0 || o.maxEntries < 1 || o.quota < 0 || o.burst < 1 {
		return errors.New("-badges, -fetch-timeout, -max-entries and -burst must be positive, -badges at most -products")
	}
	return nil
}

// netFault is a fault of the network between the client and the
// sandbox, made by internal/testkit/faultproxy.
type netFault struct {
	kind  string // "", "blackhole", "cut" or "delay"
	delay time.Duration
}

func (n *netFault) String() string {
	if n.kind == "delay" {
		return "delay=" + n.delay.String()
	}
	return n.kind
}

func (n *netFault) Set(s string) error {
	kind, param, hasParam := strings.Cut(s, "=")
	switch {
	case (kind == "blackhole" || kind == "cut") && !hasParam:
		*n = netFault{kind: kind}
	case kind == "delay" && hasParam:
		d, err := time.ParseDuration(param)
		if err != nil || d <= 0 {
			return fmt.Errorf("network fault %q: delay must be a positive duration", s)
		}
		*n = netFault{kind: kind, delay: d}
	default:
		return fmt.Errorf("network fault %q is not blackhole, cut or delay=DURATION", s)
	}
	return nil
}

// A scenario is one fault condition a page run is measured under.
type scenario struct {
	name   string
	faults []sandbox.Fault
	net    netFault
	redis  redisFault
}

// scenarios are the conditions -scenario all runs, in order: the
// registry's faults with the cache in memory, then a healthy registry
// with a Redis tier in each state. The package comment gives each one's
// equivalent -fault, -net or -redis flags.
func scenarios() []scenario {
	return []scenario{
		{name: "none"},
		{name: "blackhole", net: netFault{kind: "blackhole"}},
		{name: "latency", faults: []sandbox.Fault{{Kind: sandbox.FaultLatency, Latency: 10 * time.Second}}},
		{name: "slow", faults: []sandbox.Fault{{Kind: sandbox.FaultLatency, Latency: 10 * time.Second, Probability: 0.05}}},
		{name: "reset", faults: []sandbox.Fault{{Kind: sandbox.FaultReset, Probability: 0.2}}},
		{name: "unavailable", faults: []sandbox.Fault{{Kind: sandbox.FaultError, Status: 503, RetryAfter: time.Hour}}},
		{name: "storm", faults: []sandbox.Fault{{Kind: sandbox.FaultRateLimit, RetryAfter: time.Second, Probability: 0.5}}},
		{name: "redis-empty", redis: redisFault{kind: "empty"}},
		{name: "redis-slow", redis: redisFault{kind: "delay", delay: 5 * time.Millisecond}},
		{name: "redis-down", redis: redisFault{kind: "down"}},
		{name: "redis-blackhole", redis: redisFault{kind: "blackhole"}},
	}
}

// scenarioGroup is the scenarios a group name of -scenario runs, or nil
// if name is not a group.
func scenarioGroup(name string) []scenario {
	all := scenarios()
	withRedis := func(sc scenario) bool { return sc.redis.kind != "" }
	switch name {
	case "all":
		return all
	case "registry":
		return slices.DeleteFunc(all, withRedis)
	case "redis":
		return slices.DeleteFunc(all, func(sc scenario) bool { return !withRedis(sc) })
	}
	return nil
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

func scenarioByName(name string) *scenario {
	for _, s := range scenarios() {
		if s.name == name {
			return &s
		}
	}
	return nil
}

// runScenarios are the conditions this page run measures: those -scenario
// names, or the -fault and -net flags as one.
func (o *options) runScenarios() []scenario {
	if o.scenario == "" {
		return []scenario{{name: o.customName(), faults: o.faults, net: o.net, redis: o.redis}}
	}
	if g := scenarioGroup(o.scenario); g != nil {
		return g
	}
	return []scenario{*scenarioByName(o.scenario)}
}

func (o *options) customName() string {
	var parts []string
	for _, f := range o.faults {
		s := f.String()
		if f.Kind == sandbox.FaultError && f.RetryAfter > 0 {
			// The sandbox's text form has no place for it.
			s += " (Retry-After " + f.RetryAfter.String() + ")"
		}
		parts = append(parts, s)
	}
	if o.net.kind != "" {
		parts = append(parts, "net "+o.net.String())
	}
	if o.redis.kind != "" {
		parts = append(parts, "redis "+o.redis.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// lookupOptions are the widget options -lookup-limit asks for.
func (o *options) lookupOptions() []widget.Option {
	r := o.lookupLimit
	switch {
	case r == 0:
		return nil
	case r < 0:
		r = 1e9 // as good as none
	}
	burst := int(min(r, 1e6))
	return []widget.Option{widget.WithBadgeLookupLimit(r, burst), widget.WithBadgeLookupLimitPerAddress(r, burst)}
}
