package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/etag"
)

// A handler answers one route into a buffer; the middleware then adds the
// headers every answer carries, answers conditional requests, and lets
// faults corrupt the bytes before any reach the wire.
type handler func(w *buffer, r *http.Request)

type route struct {
	method, path string
	h            handler
}

func (s *Sandbox) routeTable() []route {
	return []route{
		{"GET", "/v1/products/{gtin}", s.productByGTIN},
		{"GET", "/v1/products/lookup", s.productLookup},
		{"POST", "/v1/products/batch", s.productBatch},
		{"GET", "/v1/enterprises", s.listEnterprises},
		{"GET", "/v1/enterprises/{id}", s.getEnterprise},
		{"GET", "/v1/enterprises/{id}/commitments", s.listCommitments},
		{"GET", "/v1/commitments/{id}", s.getCommitment},
		{"GET", "/v1/inspections", s.listInspections},
		{"GET", "/v1/inspections/{id}", s.getInspection},
		{"GET", "/v1/cases", s.listCases},
		{"GET", "/v1/cases/{id}", s.getCase},
		{"GET", "/v1/categories", s.listCategories},
		{"GET", "/v1/changes", s.changes},
		{"POST", "/v1/reports", s.createReport},
		{"GET", "/v1/reports", s.listReports},
		{"POST", "/v1/reports/batch", s.createClues},
		{"GET", "/v1/reports/{id}", s.getReport},
		{"GET", "/v1/log/checkpoint", s.logCheckpoint},
		{"GET", "/v1/log/proof/inclusion", s.logInclusion},
		{"GET", "/v1/log/proof/consistency", s.logConsistency},
		{"GET", "/v1/log/leaf", s.logLeaf},
		{"GET", "/v1/keys", s.logKeys},

		{"GET", "/_sandbox/demo", s.opDemo},
		{"GET", "/_sandbox/stats", s.opStats},
		{"PUT", "/_sandbox/faults", s.opFaults},
		{"POST", "/_sandbox/webhooks", s.opWebhook},
		{"POST", "/_sandbox/commitments/{id}/status", s.opCommitmentStatus},
		{"POST", "/_sandbox/inspections", s.opInspection},
		{"POST", "/_sandbox/enterprises/{id}/delist", s.opDelist},
		{"POST", "/_sandbox/feed/expire", s.opExpireFeed},
		{"GET", "/_sandbox/reports", s.opDemoReports},
		{"POST", "/_sandbox/reports/{id}/advance", s.opAdvanceReport},
		{"POST", "/_sandbox/log/rotate", s.opRotateLogKey},
		{"POST", "/_sandbox/log/fork", s.opForkLog},
	}
}

// apiRoutes lists every route of the public API as "METHOD /path"
// patterns, the names Fault.Route and Requests take.
func (s *Sandbox) apiRoutes() []string {
	var out []string
	for _, rt := range s.routeTable() {
		if strings.HasPrefix(rt.path, "/v1/") {
			out = append(out, rt.method+" "+rt.path)
		}
	}
	return out
}

func (s *Sandbox) routes() {
	s.mux = http.NewServeMux()
	s.stats = map[string]*atomic.Int64{"": new(atomic.Int64)}
	byPath := map[string]map[string]handler{}
	var paths []string
	for _, rt := range s.routeTable() {
		if byPath[rt.path] == nil {
			byPath[rt.path] = map[string]handler{}
			paths = append(paths, rt.path)
		}
		byPath[rt.path][rt.method] = rt.h
		s.stats[rt.method+" "+rt.path] = new(atomic.Int64)
	}
	// One mux entry per path, dispatching on the method here, so that a
	// wrong method gets a problem document rather than the mux's text.
	for _, p := range paths {
		methods := byPath[p]
		s.mux.Handle(p, s.serve(p, methods))
	}
	s.recordPages(s.mux)
	s.mux.Handle("/", s.serve("", nil))
}

// ServeHTTP serves the public API under /v1 and the operator API under
// /_sandbox.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// validRequestID reports whether a caller's X-Request-Id is one the
// contract says to echo: 1 to 128 visible ASCII characters.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < '!' || c > '~' {
			return false
		}
	}
	return true
}

func (s *Sandbox) serve(path string, methods map[string]handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get("X-Request-Id")
		if !validRequestID(reqID) {
			reqID = fmt.Sprintf("%s%012x", s.reqBase, s.reqSeq.Add(1))
		}
		w.Header().Set("X-Request-Id", reqID)
		b := newBuffer(reqID, r)

		h, ok := methods[r.Method]
		name := r.Method + " " + path
		if ok {
			s.stats[name].Add(1)
		} else {
			s.stats[""].Add(1)
		}
		if s.cfg.logger != nil {
			s.cfg.logger.Debug("sandbox request", "method", r.Method, "path", r.URL.Path, "request_id", reqID)
		}

		key, authed := s.authenticate(r)
		if !authed {
			// A 401 carries the RateLimit-* headers too, as every answer
			// does; a caller without a valid key is counted by its address.
			if strings.HasPrefix(r.URL.Path, "/v1/") || path == "" {
				s.limiter.allow(limitKey("", r), w.Header())
			}
			b.header.Set("WWW-Authenticate", wwwAuthenticate)
			b.problem(http.StatusUnauthorized, client.CodeUnauthorized, "missing or unknown API key; send Authorization: Bearer <key>")
			s.write(w, r, b, nil)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") || path == "" {
			if ok := s.limiter.allow(limitKey(key, r), w.Header()); !ok {
				b.header.Set("Retry-After", w.Header().Get("RateLimit-Reset"))
				b.problem(http.StatusTooManyRequests, client.CodeRateLimited, "rate limit exceeded; retry after the time in Retry-After")
				s.write(w, r, b, nil)
				return
			}
		}
		var f *Fault
		if strings.HasPrefix(path, "/v1/") {
			var delay time.Duration
			delay, f = s.faults.draw(name)
			if delay > 0 && !s.sleep(r, delay) {
				return
			}
		}
		if f != nil && f.intercepts() {
			s.injectStatus(w, r, b, f)
			return
		}

		switch {
		case path == "":
			b.problem(http.StatusNotFound, client.CodeNotFound, "no route "+r.URL.Path)
		case !ok:
			allow := make([]string, 0, len(methods))
			for m := range methods {
				allow = append(allow, m)
			}
			sort.Strings(allow)
			b.header.Set("Allow", strings.Join(allow, ", "))
			b.problem(http.StatusMethodNotAllowed, client.CodeMethodNotAllowed, "method "+r.Method+" is not allowed here")
		default:
			// The position is read before the handler reads the data, so
			// that an answer never claims a change it may not reflect.
			b.asOf = s.reg.head()
			s.call(h, b, r)
		}
		s.write(w, r, b, f)
	})
}

// call runs a handler, turning a panic into a 500 problem document so that
// a bug shows up as a contract-valid error a test can see, not a dropped
// connection.
func (s *Sandbox) call(h handler, b *buffer, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if s.cfg.logger != nil {
				s.cfg.logger.Error("sandbox handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
			}
			b.header = http.Header{}
			b.problem(http.StatusInternalServerError, client.CodeInternal, "the sandbox failed to answer")
		}
	}()
	h(b, r)
}

// sleep holds a request for d, unless its client goes or the sandbox
// closes first. The request's context alone is not enough: the server
// notices a client gone only once the request's body has been read, and
// a latency fault holds the request before that.
func (s *Sandbox) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

// wwwAuthenticate is the challenge of every 401 (RFC 9110, RFC 6750).
const wwwAuthenticate = `Bearer realm="qc"`

func (s *Sandbox) authenticate(r *http.Request) (string, bool) {
	// RFC 9110: the scheme is case-insensitive ("bearer KEY" works), and
	// one or more spaces separate it from the credentials.
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimLeft(key, " ")
	hasBearer := strings.EqualFold(scheme, "Bearer") && key != ""
	if !hasBearer {
		key = ""
	}
	if s.cfg.keys == nil {
		return key, true
	}
	return key, hasBearer && s.cfg.keys[key]
}

func limitKey(key string, r *http.Request) string {
	if key != "" {
		return "k:" + key
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "a:" + host
}

// buffer is the response a handler builds.
type buffer struct {
	status int
	header http.Header
	body   bytes.Buffer
	reqID  string
	req    *http.Request
	asOf   int64 // the registry's head when the handler began: QC-As-Of
}

func newBuffer(reqID string, r *http.Request) *buffer {
	return &buffer{status: http.StatusOK, header: http.Header{}, reqID: reqID, req: r}
}

// json answers v as JSON with a status and a Cache-Control policy.
func (b *buffer) json(status int, cacheControl string, v any) {
	b.status = status
	b.header.Set("Content-Type", "application/json")
	b.header.Set("Cache-Control", cacheControl)
	b.body.Reset()
	enc := json.NewEncoder(&b.body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "encoding the answer failed")
	}
}

var problemTitles = map[string]string{
	client.CodeNotFound:             "Not found",
	client.CodeInvalidGTIN:          "Invalid GTIN",
	client.CodeInvalidUSCC:          "Invalid USCC",
	client.CodeInvalidParameter:     "Invalid parameter",
	client.CodeInvalidCursor:        "Invalid cursor",
	client.CodeInvalidBody:          "Invalid request body",
	client.CodeTooManyKeys:          "Too many keys",
	client.CodePayloadTooLarge:      "Request body too large",
	client.CodeUnsupportedMediaType: "Unsupported media type",
	client.CodeMethodNotAllowed:     "Method not allowed",
	client.CodeUnauthorized:         "Unauthorized",
	client.CodeRateLimited:          "Too many requests",
	client.CodeIdempotencyConflict:  "Idempotency key conflict",
	client.CodeUnavailable:          "Service unavailable",
	client.CodeInternal:             "Internal error",
	client.CodeDuplicateInBatch:     "Duplicate in batch",
}

// ProblemTypeBase prefixes every problem's type URI; the code follows it.
const ProblemTypeBase = "https://qualitycommit.example/problems/"

func newProblem(status int, code, detail, reqID string) *client.Problem {
	return &client.Problem{
		Type:      ProblemTypeBase + code,
		Title:     problemTitles[code],
		Status:    status,
		Detail:    detail,
		Code:      code,
		RequestID: reqID,
	}
}

func (b *buffer) problem(status int, code, detail string, fields ...client.ProblemField) {
	p := newProblem(status, code, detail, b.reqID)
	p.Instance = b.req.URL.Path
	p.Errors = fields
	b.json(status, "no-store", p)
	b.header.Set("Content-Type", "application/problem+json")
}

// write sends the buffered answer: ETag and 304 for successful GETs, the
// rate-limit headers already set on w, and a body fault if one was drawn.
func (s *Sandbox) write(w http.ResponseWriter, r *http.Request, b *buffer, f *Fault) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	body := b.body.Bytes()
	if b.status >= 200 && b.status < 300 && strings.HasPrefix(r.URL.Path, "/v1/") {
		// Every answer of a route carries its position, a 304 included: a
		// revalidated copy is then known current up to it.
		h.Set("QC-As-Of", strconv.FormatInt(b.asOf, 10))
	}
	if r.Method == http.MethodGet && b.status == http.StatusOK {
		// A handler may have set the tag of what its answer is about
		// (a product status, not its proof); else it is the body's.
		tag := h.Get("ETag")
		if tag == "" {
			sum := fnv.New64a()
			sum.Write(body)
			tag = fmt.Sprintf(`"%016x"`, sum.Sum64())
			h.Set("ETag", tag)
		}
		if etag.Match(r.Header.Get("If-None-Match"), tag) {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if f != nil {
		s.injectBody(w, b.status, body, f)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(b.status)
	w.Write(body)
}

// --- rate limiting -----------------------------------------------------------

// limiter is a token bucket per caller. It also writes the RateLimit-*
// headers, which every /v1 answer carries while limiting is on.
type limiter struct {
	rate    float64
	burst   float64
	clock   func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, clock func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), clock: clock, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string, h http.Header) bool {
	if l.rate <= 0 {
		// Limiting is off, but the contract promises the headers on every
		// answer: report a quota no caller will spend.
		h.Set("RateLimit-Limit", "1000000")
		h.Set("RateLimit-Remaining", "1000000")
		h.Set("RateLimit-Reset", "0")
		return true
	}
	now := l.clock()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	tokens := b.tokens
	l.mu.Unlock()

	h.Set("RateLimit-Limit", strconv.Itoa(int(l.burst)))
	h.Set("RateLimit-Remaining", strconv.Itoa(int(tokens)))
	// With tokens left, Reset says when the bucket is full again; with none,
	// when the next request may pass, which is what a client that fails
	// fast on an empty bucket needs to know.
	reset := (l.burst - tokens) / l.rate
	if tokens < 1 {
		reset = (1 - tokens) / l.rate
	}
	h.Set("RateLimit-Reset", strconv.Itoa(max(1, int(math.Ceil(reset)))))
	return allowed
}
