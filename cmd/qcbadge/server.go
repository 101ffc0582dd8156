package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// maxBatch is the most badges one batch request may ask for: a listing
// page's, with room to spare.
const maxBatch = 100

//go:embed openapi.yaml
var openAPI []byte

// service is qcbadge's stack: the SDK's client, cache, widget and
// enquiry entry, the follower, and what reports on them.
type service struct {
	cfg    *config
	log    *slog.Logger
	api    *client.Client
	rdb    redis.UniversalClient // nil: memory only
	qc     *cache.Cache
	badges *widget.Widget
	entry  *enquiry.Entry
	m      *metrics
	lease  *leaseWatch // the follower's store, which elects one replica by a lease; nil without Redis
	// followStore is the store the follower writes to: the lease's, or
	// the cache's; the fleet's checkpoint of the registry's log is read
	// from it.
	followStore cache.Store
	logKeys     *logKeys // the registry's log keys, pinned or read from it

	sandboxURL string // the embedded sandbox's, when there is one
	closers    []func()

	quoted quoter // the JSON form of the batch's strings

	health *health  // what /readyz answers from
	warm   *warming // the warm start's progress; nil: none
}

// newService builds the stack; close releases it.
func newService(ctx context.Context, cfg *config, log *slog.Logger) (s *service, err error) {
	s = &service{cfg: cfg, log: log}
	built := s // a failure returns a nil s: close what was built of it
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	apiURL, verifyHost := cfg.apiURL, cfg.verifyHost
	pinned := cfg.logKeys
	if apiURL == "" {
		// No registry named: the sandbox, in this process, as every
		// example of the SDK runs.
		sb, err := sandbox.New()
		if err != nil {
			return nil, err
		}
		base, stop, err := sb.Start()
		if err != nil {
			sb.Close()
			return nil, err
		}
		s.closers = append(s.closers, func() { stop(); sb.Close() })
		s.sandboxURL, apiURL = base, base
		if pinned == nil {
			// The keys of the sandbox in hand, not as its API lists them.
			pinned = sb.LogKeys()
		}
		if verifyHost == "" {
			verifyHost = widget.DefaultVerifyHost
		}
	}

	s.m = newMetrics()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	opts := []client.Option{client.WithBaseURL(apiURL), client.WithUserAgent("qcbadge"),
		client.WithHTTPClient(&http.Client{Transport: s.m.transport(apiURL, transport)}), client.WithLogger(log)}
	if cfg.apiKey != "" {
		opts = append(opts, client.WithAPIKey(cfg.apiKey))
	}
	if pinned != nil {
		// The answers are verified with the keys the follower audits by.
		opts = append(opts, client.WithLogKeys(pinned...))
	}
	if s.api, err = client.New(opts...); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.api.CloseIdleConnections)
	if cfg.apiURL != "" {
		if err := s.checkKey(ctx); err != nil {
			return nil, err
		}
	}

	var store, followStore cache.Store
	switch {
	case cfg.cluster != nil:
		s.rdb = redis.NewClusterClient(cfg.cluster)
	case cfg.redis != nil:
		s.rdb = redis.NewClient(cfg.redis)
	}
	if s.rdb != nil {
		// go-redis's own complaints (a dial that failed) in the same JSON
		// log, at warn level: Redis down is a state the service reports,
		// not a fault of the request at hand.
		redis.SetLogger(redisLog{log})
		rdb := s.rdb
		s.closers = append(s.closers, func() { rdb.Close() })
		shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcbadge:"))
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { shared.Close() })
		topts := []cache.TieredOption{cache.WithTieredLogger(log)}
		if cfg.spillDir != "" {
			topts = append(topts, cache.WithSpill(cfg.spillDir))
		}
		mem, err := cache.NewMemory()
		if err != nil {
			return nil, err
		}
		tiered, err := cache.NewTiered(mem, shared, topts...)
		if err != nil {
			return nil, fmt.Errorf("-spill-dir (QC_SPILL_DIR): %w", err)
		}
		s.closers = append(s.closers, func() { tiered.Close() })
		s.lease = &leaseWatch{leaseStore: shared}
		store, followStore = tiered, s.lease
	}
	copts := []cache.Option{cache.WithLogger(log)}
	if store != nil {
		copts = append(copts, cache.WithStore(store))
	}
	if s.qc, err = cache.New(s.api, copts...); err != nil {
		return nil, err
	}
	// Not s.qc in the closure: a failure further on returns a nil s, and
	// close runs on what was built.
	qc := s.qc
	s.closers = append(s.closers, func() { qc.Close() })
	if followStore == nil {
		followStore = s.qc.Store()
	}
	s.followStore = followStore
	s.logKeys = &logKeys{api: s.api, pinned: pinned}

	wopts := []widget.Option{widget.WithVerifyHost(verifyHost), widget.WithLogger(log), widget.WithRenderTimeout(cfg.render)}
	if cfg.proxies != nil {
		// The badge endpoints' lookup limits and the enquiry entry's
		// (through Widget.ClientAddress) count by the shopper's address,
		// not the proxy's.
		wopts = append(wopts, widget.WithClientAddress(cfg.proxies.clientAddress))
	}
	if s.badges, err = widget.New(s.qc, wopts...); err != nil {
		return nil, err
	}
	var eopts []enquiry.Option
	if cfg.platform != "" {
		eopts = append(eopts, enquiry.WithPlatformName(cfg.platform))
	}
	if cfg.reportKey != nil {
		eopts = append(eopts, enquiry.WithReportKey(cfg.reportKey))
	}
	if cfg.siteOrigin != "" {
		eopts = append(eopts, enquiry.WithSiteOrigin(cfg.siteOrigin))
	}
	if cfg.layout != nil {
		eopts = append(eopts, enquiry.WithLayout(enquiry.Layout{Template: cfg.layout}))
	}
	if s.entry, err = enquiry.New(s.qc, s.badges, eopts...); err != nil {
		var bad *enquiry.LayoutError
		if errors.As(err, &bad) {
			return nil, usagef("-layout (QC_LAYOUT) %s: %v", cfg.layoutFile, bad.Err)
		}
		return nil, usagef("%v", err)
	}
	var redisCheck func(context.Context) check
	if s.rdb != nil {
		redisCheck = s.checkRedis
	}
	if cfg.logCosigner != nil {
		// The name only: the key its verifier names is what witnesses
		// pin, and the signer key is a secret.
		log.Info("qcbadge: cosigning the registry's checkpoints it verifies", "name", cfg.logCosigner.Name())
	}
	s.health = newHealth(s.checkAPI, redisCheck)
	s.closers = append(s.closers, s.health.close)
	s.health.refresh(time.Now()) // the first findings, for the first probe
	var rw *redisWatch
	if s.rdb != nil {
		rw = &redisWatch{errors: s.lease.errors.Load, up: func() bool {
			// A scrape starts the check again when its finding is old, as
			// a probe does, and reads what it last found.
			s.health.refresh(time.Now())
			return s.health.redis.state().OK
		}}
	}
	s.m.watch(s.api, s.qc, s.badges, cfg.follow, rw)

	if len(cfg.warm) > 0 {
		// Warmed in the background while the replica already serves: a
		// page meanwhile looks up what it needs, and /readyz says
		// "warming" until it is done, so that a rollout waits for it.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.warm = &warming{}
		finished := s.warm.start(wctx, s.qc, cfg.warm, log)
		s.closers = append(s.closers, func() { cancel(); <-finished })
	}

	if cfg.follow {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			if s.lease == nil {
				// No lease to take: the follower applies the feed for as
				// long as it runs.
				s.m.leading.Store(true)
				defer s.m.leading.Store(false)
			}
			err := cache.Follow(fctx, s.api, followStore, &cache.FollowOptions{
				Logger: log, Stats: &s.m.followStats, Applied: s.m.applied,
				Leading: func(on bool) {
					s.m.leading.Store(on)
					log.Info("qcbadge: change-feed follower", "leading", on)
				},
				LogKeys: pinned, LogEvery: cfg.logEvery, Witnesses: witnesses(cfg.logWitnesses),
				Cosigner: cfg.logCosigner,
				LogAlarm: func(err error) {
					log.Error("qcbadge: the registry's log is forked: it showed two histories, and every badge is the neutral one "+
						"on every replica until an operator has looked into it and cleared the fork (qcbadge clear-log-fork)", "error", errorLine(err))
				},
			})
			if err != nil && fctx.Err() == nil {
				log.Error("qcbadge: the change-feed follower stopped", "error", err)
			}
		}()
		// The follower stops first: it writes to the store the others
		// close.
		s.closers = append(s.closers, func() { cancel(); <-done })
	}
	return s, nil
}

// startTimeout bounds the call that checks the key at start: a registry
// that does not answer by then does not stop qcbadge starting (readiness
// says it is unreachable), only one that refuses the key does.
const startTimeout = 5 * time.Second

// checkKey asks a real registry (not the embedded sandbox) once, at
// start, whether it takes the API key. A key it refuses is a setting that
// cannot work — every badge not cached would be unknown — and is said at
// once, as a usage error, rather than from a dashboard of unknown badges,
// unless -start-if-key-refused says to start anyway: a key the registry
// has yet to activate, say. The client has logged the refusal itself.
func (s *service) checkKey(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	_, err := s.api.Changes.Head(ctx)
	switch {
	case err == nil:
	case errors.Is(err, client.ErrUnauthorized):
		if !s.cfg.startRefused {
			return usagef("the registry at %s refuses the API key (%s): fix QC_API_KEY or -api-key-file, or start anyway with -start-if-key-refused (QC_START_IF_KEY_REFUSED)",
				s.cfg.apiURL, errorLine(err))
		}
		s.log.Info("qcbadge: starting with the API key refused, as -start-if-key-refused says; not ready until the registry accepts it")
	case errors.Is(err, client.ErrRateLimited):
		// It answers, and took the key: the quota recovers by itself.
	default:
		s.log.Warn("qcbadge: the registry did not answer at start; starting, not ready until it does", "error", errorLine(err))
	}
	return nil
}

// redisLog is go-redis's logger on the service's.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// close releases the stack, last built first.
func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// routes is the service's handler.
func (s *service) routes() http.Handler {
	p := s.cfg.prefix
	entry := s.entry.Handler(p)
	mux := http.NewServeMux()
	mux.Handle("GET "+p+"badges", s.m.handler("badges", http.HandlerFunc(s.batch)))
	mux.Handle("GET "+p+"badge/{file}", s.m.handler("badge", s.badgeChecked(entry)))
	// The rest of the badge paths are the OpenAPI document's too: what
	// they refuse is a problem document, as the operations' refusals are,
	// rather than the enquiry entry's or the widget's plain text.
	notAllowed := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Allow", "GET, HEAD")
		writeProblem(rw, r, http.StatusMethodNotAllowed, client.CodeMethodNotAllowed, "method "+r.Method+" is not allowed here; GET or HEAD")
	})
	mux.Handle(p+"badges", s.m.handler("badges", notAllowed))
	mux.Handle(p+"badge/{file}", s.m.handler("badge", notAllowed))
	mux.Handle(p+"badge/", s.m.handler("badge", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		writeProblem(rw, r, http.StatusNotFound, client.CodeNotFound, "a badge is {gtin}.svg, {gtin}.html or {gtin}.json")
	})))
	mux.Handle("GET "+p+"log/checkpoint", s.m.handler("log", http.HandlerFunc(s.logCheckpoint)))
	mux.Handle(p+"log/checkpoint", s.m.handler("log", notAllowed))
	mux.Handle(p, s.m.handler("enquiry", entry))
	doc := openAPIUnder(p)
	mux.HandleFunc("GET "+p+"openapi.yaml", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/yaml")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Write(doc)
	})
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.m.serve())
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// What the pages and badges do not set themselves.
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(rw, r)
	})
}

// invalidGTIN says why a GTIN of a batch request was refused.
type invalidGTIN struct {
	Index  int    `json:"index"`
	GTIN   string `json:"gtin"`
	Reason string `json:"reason"`
}

// problem is an error answer: an RFC 9457 problem document, as the
// registry's are, with the registry's stable codes.
type problem struct {
	Type     string        `json:"type"`
	Title    string        `json:"title"`
	Status   int           `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Instance string        `json:"instance,omitempty"`
	Code     string        `json:"code"`
	Invalid  []invalidGTIN `json:"invalid,omitempty"`
}

// writeProblem answers r with a problem of status and code.
func writeProblem(rw http.ResponseWriter, r *http.Request, status int, code, detail string, invalid ...invalidGTIN) {
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail,
		Instance: r.URL.Path, Code: code, Invalid: invalid}
	writeJSONAs(rw, "application/problem+json", status, p)
}

// batch answers a listing page's badges at once, under one page budget
// (the widget's render timeout): those the budget could not answer are the
// neutral badge, at once. The endpoint is public, as the single badge's
// is: each product the cache cannot answer at once is looked up only
// within the widget's lookup limits, per client address and overall, at
// low priority, and is the neutral badge at once past them.
func (s *service) batch(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	gtins := q["gtin"]
	switch {
	case len(gtins) == 0:
		writeProblem(rw, r, http.StatusBadRequest, client.CodeInvalidParameter, "name at least one product: ?gtin=…&gtin=…")
		return
	case len(gtins) > maxBatch:
		writeProblem(rw, r, http.StatusBadRequest, client.CodeTooManyKeys, fmt.Sprintf("at most %d GTINs a request; this one names %d", maxBatch, len(gtins)))
		return
	}
	var bad []invalidGTIN
	parsed := make([]client.GTIN, len(gtins))
	for i, g := range gtins {
		var err error
		if parsed[i], err = client.ParseGTIN(g); err != nil {
			shown := g
			if len(shown) > 32 {
				shown = shown[:32]
			}
			bad = append(bad, invalidGTIN{Index: i, GTIN: shown, Reason: reason(err)})
		}
	}
	if len(bad) > 0 {
		writeProblem(rw, r, http.StatusBadRequest, client.CodeInvalidGTIN, fmt.Sprintf("%d of the GTINs are malformed", len(bad)), bad...)
		return
	}
	look, err := s.badges.RequestLook(r)
	if err != nil {
		writeProblem(rw, r, http.StatusBadRequest, client.CodeInvalidParameter, err.Error())
		return
	}
	words := []string{look.Locale.String(), look.Theme.String(), look.Size.String()}
	page := s.badges.PublicPage(r, parsed...)
	defer page.Close()
	// Written by hand rather than through encoding/json: the badges are
	// the widget's prepared renderings, the same strings view after view,
	// and their JSON form is kept (s.quoted) rather than escaped again
	// byte by byte, which was most of a batch's cost.
	buf := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(buf)
	buf.Reset()
	buf.WriteString(`{"badges":[`)
	for i, g := range gtins {
		html, _ := page.Badge(g, words...)
		ld, _ := page.JSONLD(g, words...)
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"gtin":`)
		buf.WriteString(s.quoted.quote(g))
		buf.WriteString(`,"html":`)
		buf.WriteString(s.quoted.quote(string(html)))
		buf.WriteString(`,"jsonld":`)
		buf.WriteString(s.quoted.quote(string(ld)))
		buf.WriteByte('}')
	}
	buf.WriteString(`],"stylesheet":`)
	buf.WriteString(s.quoted.quote(s.cfg.prefix + "badge.css"))
	buf.WriteString("}\n")
	h := rw.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	rw.Write(buf.Bytes())
}

// badgeChecked answers a badge request the widget would refuse with a
// problem document, as the service's other errors are, and passes the
// others to next (the widget's badge endpoint).
func (s *service) badgeChecked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		gtin, format, _ := strings.Cut(file, ".")
		switch format {
		case "svg", "html", "json":
		default:
			writeProblem(rw, r, http.StatusNotFound, client.CodeNotFound, "a badge is {gtin}.svg, {gtin}.html or {gtin}.json")
			return
		}
		if _, err := client.ParseGTIN(gtin); err != nil {
			writeProblem(rw, r, http.StatusBadRequest, client.CodeInvalidGTIN, err.Error())
			return
		}
		if _, err := s.badges.RequestLook(r); err != nil {
			writeProblem(rw, r, http.StatusBadRequest, client.CodeInvalidParameter, err.Error())
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// buffers hold batch answers as they are written: a listing's is some
// 30 KB, which allocated anew each time cost more than writing it.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// quoter keeps the JSON string form of the strings a batch answers with,
// most of them the widget's prepared renderings. It is bounded: past
// maxQuoted strings it starts over, as the widget's own renderings do.
type quoter struct {
	m sync.Map // string → its JSON form
	n atomic.Int64
}

const maxQuoted = 4096

func (q *quoter) quote(s string) string {
	if v, ok := q.m.Load(s); ok {
		return v.(string)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // see writeJSON
	_ = enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	if q.n.Add(1) > maxQuoted {
		q.m.Clear()
		q.n.Store(1)
	}
	q.m.Store(s, out)
	return out
}

// reason is a GTIN's problem in a word a program can switch on.
func reason(err error) string {
	var idErr *client.IDError
	if errors.As(err, &idErr) {
		return string(idErr.Reason)
	}
	return "invalid"
}

// readyz says whether this replica can serve as it should: the registry
// answers, Redis answers (when there is one), the warm start (-warm) has
// run, and the follower has caught up with the feed, or stands by while another replica holds its lease —
// which Redis must have said: a replica that has not heard from Redis
// about the lease, or cannot reach it, is not standing by for anyone.
// It answers from what the background checks last found, and starts them
// again when that is older than checkEvery.
func (s *service) readyz(rw http.ResponseWriter, r *http.Request) {
	s.health.refresh(time.Now())
	rep := readiness{API: s.health.api.state(), Redis: check{OK: true, Reason: "off: memory only"}}
	if s.health.redis != nil {
		rep.Redis = s.health.redis.state()
	}
	rep.Follower = followerCheck(s.cfg.follow, s.m.leading.Load(), s.m.followStats.CaughtUp.Load(), s.lease)
	rep.Warm = s.warm.check()
	rep.Log = s.logCheck()
	rep.Ready = rep.API.OK && rep.Redis.OK && rep.Follower.OK && rep.Warm.OK && rep.Log.OK
	code := http.StatusOK
	if !rep.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(rw, code, rep)
}

// errorLine is an error's first line, short.
func errorLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	writeJSONAs(rw, "application/json", code, v)
}

func writeJSONAs(rw http.ResponseWriter, contentType string, code int, v any) {
	h := rw.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	enc := json.NewEncoder(rw)
	// The badges' HTML goes out as written: JSON for a program, sent with
	// nosniff, is never read as HTML, and escaping every < and > as \u003c
	// made the batch a third larger and its encoding the batch's largest
	// cost.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// serve runs the service on cfg.addr until ctx ends, then drains.
func serve(ctx context.Context, cfg *config, logOut io.Writer) error {
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	s, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(s.routes(), log)
	attrs := []any{"url", "http://" + ln.Addr().String() + cfg.prefix}
	if s.sandboxURL != "" {
		attrs = append(attrs, "sandbox", s.sandboxURL)
	}
	log.Info("qcbadge: serving", attrs...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("qcbadge: draining", "within", cfg.drain.String())
	dctx, cancel := context.WithTimeout(context.Background(), cfg.drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("qcbadge: requests still in flight after the drain; closing them", "error", err)
		srv.Close()
	}
	log.Info("qcbadge: stopped")
	return nil
}

// newHTTPServer is the server qcbadge listens with. Its timeouts are the
// storefront example's, which a platform's own servers copy: a client
// that sends its request slowly, or holds a keep-alive connection idle,
// cannot hold one of the replica's connections for long. Nothing qcbadge
// serves needs longer: a request has no body but the report form's, and
// an answer is written within the render budget or the registry's
// timeout.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       15 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
