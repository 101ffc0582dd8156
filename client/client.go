package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// Version is this SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// Defaults of a client built without options.
const (
	DefaultBaseURL         = "https://api.qualitycommit.example"
	DefaultTimeout         = 10 * time.Second
	DefaultMaxResponseSize = 1 << 20
	maxErrorBody           = 64 << 10
)

// Client talks to the public query API. It is safe for concurrent use and
// meant to be shared: its connection pool, retry budget, view of the rate
// limit, pause and upstream limiter are per client.
type Client struct {
	base      string
	baseSet   bool
	key       string
	userAgent string
	http      *http.Client
	timeout   time.Duration
	policy    RetryPolicy
	budget    *budget
	logger    *slog.Logger
	maxBody   int64
	limits    rateState
	now       func() time.Time
	maxPause  time.Duration
	ceilRate  float64 // WithUpstreamLimit; zero without it
	ceilBurst int
	quota     quota
	// lookups is the pause of report look-ups, which the API limits on
	// their own: their 429 holds back look-ups alone (see request.ownLimit).
	lookups atomic.Pointer[pause]
	// trust is what the client holds of the registry's log (verify.go).
	trust logTrust

	common service

	Products    *ProductsService
	Enterprises *EnterprisesService
	Commitments *CommitmentsService
	Inspections *InspectionsService
	Cases       *CasesService
	Categories  *CategoriesService
	Changes     *ChangesService
	Reports     *ReportsService
	Log         *LogService
}

// service is what every service shares: a way back to the client. Adding a
// service costs one type and one line in New.
type service struct{ client *Client }

// The services, one per resource of the API.
type (
	ProductsService    service
	EnterprisesService service
	CommitmentsService service
	InspectionsService service
	CasesService       service
	CategoriesService  service
	ChangesService     service
	ReportsService     service
	LogService         service
)

// An Option configures a Client. Options are checked by New, never later.
type Option func(*Client) error

// WithBaseURL sets the API's base URL, such as "https://api.example.org" or
// a sandbox's URL. A path prefix is kept; the URL may not carry a query,
// a fragment or credentials. The empty string is the default,
// DefaultBaseURL, with New's warning that no base URL was set.
func WithBaseURL(base string) Option {
	return func(c *Client) error {
		if base == "" {
			c.base, c.baseSet = DefaultBaseURL, false
			return nil
		}
		u, err := url.Parse(base)
		if err != nil {
			// Not quoted: the text may hold credentials.
			return errors.New("base URL is not a valid URL")
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base URL %q is not an absolute http(s) URL", u.Redacted())
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("base URL may not carry credentials, a query or a fragment; use WithAPIKey for the key")
		}
		c.base, c.baseSet = strings.TrimRight(u.String(), "/"), true
		return nil
	}
}

// WithAPIKey sets the API key, sent as "Authorization: Bearer <key>" and
// never in a URL, a log line or an error.
func WithAPIKey(key string) Option {
	return func(c *Client) error {
		// A byte net/http refuses in a header would fail every call, as
		// a network error, retried; refuse it here instead.
		if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return errors.New("API key contains whitespace or a control character")
		}
		c.key = key
		return nil
	}
}

// WithHTTPClient sets the HTTP client the calls go through. It is copied,
// so changing it later has no effect; its Timeout, if any, bounds each
// attempt, while WithTimeout bounds a whole call with its retries. Nil is
// the default: a client whose transport keeps a pool sized for a web
// server.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			c.http = nil // New builds the default
			return nil
		}
		cp := *hc
		c.http = &cp
		return nil
	}
}

// WithUserAgent puts a product token in front of the SDK's own User-Agent.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(ua, "\r\n") {
			return errors.New("user agent contains a line break")
		}
		c.userAgent = strings.TrimSpace(ua + " qcsdk-go/" + Version)
		return nil
	}
}

// WithTimeout bounds each call, retries included, unless the caller's
// context has an earlier deadline. Zero means no bound beyond the
// context's. The default is 10 s.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return errors.New("timeout is negative")
		}
		c.timeout = d
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy. The zero RetryPolicy is not
// the default but a policy of its own: it never retries.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) error {
		if err := p.validate(); err != nil {
			return err
		}
		c.policy = p
		return nil
	}
}

// WithLogger logs each call at debug level and each retry and failure
// through go-retryablehttp. Nil, the default, logs nothing. The API key is
// never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error { c.logger = l; return nil }
}

// WithMaxResponseSize bounds the body of an answer the client reads
// (default 1 MiB); a larger one is an error matching ErrUnavailable.
func WithMaxResponseSize(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return errors.New("max response size must be positive")
		}
		c.maxBody = n
		return nil
	}
}

// WithClock sets the clock the client reads for rate-limit resets,
// Retry-After dates, the client-wide pause, the upstream limiter's refill
// and webhook tolerances. Tests use it; nil is time.Now. Context deadlines
// are judged on the real clock whatever it says.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			now = time.Now
		}
		c.now = now
		return nil
	}
}

// New builds a client. With no options it calls DefaultBaseURL without a
// key, retries with DefaultRetryPolicy and logs nothing but one warning:
// that no base URL was set. A newcomer who forgot WithBaseURL (a
// sandbox's URL, say) learns it at start-up, not from every badge saying
// "unknown". The warning goes to the logger, or to slog's default one.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		base:      DefaultBaseURL,
		userAgent: "qcsdk-go/" + Version,
		timeout:   DefaultTimeout,
		policy:    DefaultRetryPolicy(),
		maxBody:   DefaultMaxResponseSize,
		now:       time.Now,
		maxPause:  DefaultMaxPause,
	}
	c.trust.fetch = make(chan struct{}, 1)
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("qcsdk: %w", err)
		}
	}
	if c.http == nil {
		c.http = &http.Client{Transport: defaultTransport()}
	}
	if c.base == DefaultBaseURL && !c.baseSet {
		l := c.logger
		if l == nil {
			l = slog.Default()
		}
		l.Warn("qcsdk: no base URL set (client.WithBaseURL): calling the registry's default, "+DefaultBaseURL+
			"; to try the SDK, pass a sandbox's URL (sandbox.New)", "base_url", DefaultBaseURL)
	}
	if c.trust.noKeys && !c.trust.pinned {
		// Most likely an empty key file: the client still verifies every
		// status, but with keys as trustworthy as the TLS connection.
		l := c.logger
		if l == nil {
			l = slog.Default()
		}
		l.Warn("qcsdk: client.WithLogKeys was given no key: the registry's keys will be fetched from /v1/keys, not pinned")
	}
	c.budget = newBudget(c.policy)
	if c.ceilBurst > 0 {
		c.quota.lim.Store(rate.NewLimiter(rate.Limit(c.ceilRate), c.ceilBurst))
	}
	c.common.client = c
	c.Products = (*ProductsService)(&c.common)
	c.Enterprises = (*EnterprisesService)(&c.common)
	c.Commitments = (*CommitmentsService)(&c.common)
	c.Inspections = (*InspectionsService)(&c.common)
	c.Cases = (*CasesService)(&c.common)
	c.Categories = (*CategoriesService)(&c.common)
	c.Changes = (*ChangesService)(&c.common)
	c.Reports = (*ReportsService)(&c.common)
	c.Log = (*LogService)(&c.common)
	return c, nil
}

// defaultTransport is http.DefaultTransport's settings with a pool sized
// for a web server: the default keeps 2 idle connections per host, which
// under concurrent page views means a new connection for almost every call.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// CloseIdleConnections closes the idle connections of the client's
// transport. A long-lived client needs it only when it is done with the
// API; tests that check for leaked goroutines call it at cleanup.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// String describes the client without its key.
func (c *Client) String() string {
	key := "none"
	if c.key != "" {
		key = "set"
	}
	return fmt.Sprintf("qcsdk.Client{base: %s, key: %s}", c.base, key)
}

// GoString keeps the key out of %#v too.
func (c *Client) GoString() string { return c.String() }

// Response describes an answer beyond its body: the headers a cache, a
// pager or a rate-aware caller needs.
type Response struct {
	StatusCode int
	Header     http.Header
	// NotModified is true when a conditional request (an ETag passed in the
	// call's options) was answered 304: the caller's copy is still current,
	// and the returned model is nil.
	NotModified  bool
	ETag         string
	CacheControl CacheControl
	RateLimit    RateLimit
	RequestID    string
	// NextCursor repeats the NextCursor of the page a List method
	// returned: the cursor of the next page, empty on the last.
	NextCursor string
	// AsOf is the registry's position in its change sequence when it
	// answered (the QC-As-Of header): the answer reflects every change up
	// to it. Zero when the answer did not say, or said something that is
	// not a position; a cache then treats the answer as older than any
	// change it knows of.
	AsOf int64
	// Attempts is how many times the call was sent.
	Attempts int
}

// parseAsOf reads a QC-As-Of header: a decimal position, 0 when absent or
// malformed.
func parseAsOf(v string) int64 {
	if v == "" || len(v) > 19 {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// CacheControl is what an answer's Cache-Control header allows.
type CacheControl struct {
	MaxAge               time.Duration
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	NoStore              bool
	Present              bool // the header was there and had a max-age or no-store
}

// RateLimit is the API's account of the caller's rate limit, from the
// RateLimit-* headers of the latest answer.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Time // when Remaining is 0: when the next call may pass
}

func parseCacheControl(v string) CacheControl {
	var cc CacheControl
	for part := range strings.SplitSeq(v, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		secs := func() time.Duration {
			n, err := strconv.Atoi(strings.Trim(val, `"`))
			if err != nil || n < 0 {
				return 0
			}
			// RFC 9111 §1.2.2: a larger delta-seconds means 2³¹; it also
			// keeps the Duration from overflowing into a negative one.
			return time.Duration(min(int64(n), 1<<31)) * time.Second
		}
		switch strings.ToLower(name) {
		case "max-age":
			cc.MaxAge, cc.Present = secs(), true
		case "stale-while-revalidate":
			cc.StaleWhileRevalidate = secs()
		case "stale-if-error":
			cc.StaleIfError = secs()
		case "no-store", "no-cache":
			cc.NoStore, cc.Present = true, true
		}
	}
	return cc
}

func parseRateLimit(h http.Header, now time.Time) (RateLimit, bool) {
	// The keys are spelt in canonical form ("Ratelimit", not "RateLimit"):
	// Header.Get then finds them without allocating a canonical copy, on
	// every answer, twice.
	lim, err1 := strconv.Atoi(h.Get("Ratelimit-Limit"))
	rem, err2 := strconv.Atoi(h.Get("Ratelimit-Remaining"))
	if err1 != nil || err2 != nil || lim < 0 || rem < 0 {
		return RateLimit{}, false
	}
	rl := RateLimit{Limit: lim, Remaining: rem}
	if reset, err := strconv.Atoi(h.Get("Ratelimit-Reset")); err == nil && reset >= 0 {
		rl.Reset = now.Add(time.Duration(min(reset, 86400)) * time.Second)
	}
	return rl, true
}

// rateState is the client's latest view of its rate limit.
type rateState struct{ v atomic.Pointer[RateLimit] }

func (s *rateState) store(rl RateLimit) {
	if old := s.v.Load(); old != nil && old.Remaining == rl.Remaining && old.Limit == rl.Limit && rl.Remaining > 0 {
		return // nothing a caller would act on has changed
	}
	s.v.Store(&rl)
}

// RateLimit is the client's latest view of the API's rate limit.
func (c *Client) RateLimit() RateLimit {
	if rl := c.limits.v.Load(); rl != nil {
		return *rl
	}
	return RateLimit{}
}

// request is one logical call.
type request struct {
	method     string
	path       string // escaped, from the base URL on
	query      url.Values
	body       any
	etag       string      // If-None-Match
	idemKey    string      // Idempotency-Key
	header     http.Header // more headers; values may be secrets, never logged
	idempotent bool
	// longPoll is how long the server may hold the call before answering;
	// it extends the client's timeout for this call.
	longPoll time.Duration
	// ownLimit marks a route the API limits apart from every other call
	// (report look-ups): its 429 pauses that route's calls, never the
	// client, so that a flood of look-ups costs no badge its answer.
	ownLimit bool
}

// do sends a call with retries and decodes a 2xx answer into out (a
// pointer), which is left alone on 304 and on errors. Its steps: admit
// the call (pauses, the upstream limit), build the request, send it
// through go-retryablehttp, then judge what came back.
func (c *Client) do(ctx context.Context, r request, out any) (*Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout+r.longPoll)
		defer cancel()
	}
	if err := c.admitCall(ctx, r); err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	k := &call{c: c, idempotent: r.idempotent, ownLimit: r.ownLimit}
	var raw []byte
	req.SetResponseHandler(func(resp *http.Response) error {
		var err error
		raw, err = c.readBody(r, resp, out)
		return err
	})
	resp, err := c.send(req, r, k)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err := c.failed(ctx, r, k, resp, err); err != nil {
		return nil, err
	}
	return c.answered(r, k, resp, raw)
}

// admitCall refuses a call the client must not send now: during a pause
// (the client's, or report look-ups' own), or past the upstream limit
// within the call's time.
func (c *Client) admitCall(ctx context.Context, r request) error {
	if err := c.pausedErr(c.now()); err != nil {
		return err
	}
	if r.ownLimit {
		if err := c.lookupPausedErr(c.now()); err != nil {
			return err
		}
	}
	if err := c.admit(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("qcsdk: %s %s: %w", r.method, r.path, err)
		}
		return err
	}
	return nil
}

// newRequest builds the call's HTTP request: its URL, JSON body and
// headers.
func (c *Client) newRequest(ctx context.Context, r request) (*retryablehttp.Request, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("qcsdk: encoding the %s %s body: %w", r.method, r.path, err)
		}
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var rawBody any
	if body != nil {
		rawBody = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, target, rawBody)
	if err != nil {
		return nil, fmt.Errorf("qcsdk: building %s %s: %w", r.method, r.path, err)
	}
	h := req.Header
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	if c.key != "" {
		h.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if r.etag != "" {
		h.Set("If-None-Match", r.etag)
	}
	if r.idemKey != "" {
		h.Set("Idempotency-Key", r.idemKey)
	}
	for k, v := range r.header {
		h[k] = v
	}
	return req, nil
}

// send runs the call's attempts through go-retryablehttp, k judging each
// (see retry.go), and logs the call at debug level.
func (c *Client) send(req *retryablehttp.Request, r request, k *call) (*http.Response, error) {
	rc := &retryablehttp.Client{
		HTTPClient:   c.http,
		RetryMax:     c.policy.MaxRetries,
		CheckRetry:   k.check,
		Backoff:      k.backoff,
		PrepareRetry: k.prepare,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if !r.idempotent {
		rc.RetryMax = 0
	}
	if c.logger != nil {
		rc.Logger = attemptLog{c.logger}
	}
	start := time.Now()
	resp, err := rc.Do(req)
	if c.logger != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.logger.Debug("qcsdk call", "method", r.method, "path", r.path, "status", status,
			"attempts", k.attempts, "elapsed", time.Since(start))
	}
	if k.res != nil {
		c.quota.cancel(k.res, c.now) // a retry that never went: its token goes back
	}
	return resp, err
}

// failed is the error of a call that got no answer to judge: refused
// before it was sent, out of time, or failed on the way.
func (c *Client) failed(ctx context.Context, r request, k *call, resp *http.Response, err error) error {
	if k.refused != nil {
		return k.refused
	}
	if ctx.Err() != nil && (err != nil || resp == nil) {
		return fmt.Errorf("qcsdk: %s %s: %w", r.method, r.path, ctx.Err())
	}
	if err == nil {
		return nil
	}
	var te *tooLargeError
	var tr *truncatedError
	var de *DecodeError
	switch {
	case errors.As(err, &te), errors.As(err, &tr), errors.As(err, &de):
	default:
		err = &transportError{Method: r.method, Path: r.path, Attempts: k.attempts, Err: err}
	}
	if k.gaveUp != nil {
		err = fmt.Errorf("%w: %w", k.gaveUp, err)
	}
	return err
}

// answered judges an answer: its Response, and the error of a status
// other than 2xx and 304.
func (c *Client) answered(r request, k *call, resp *http.Response, raw []byte) (*Response, error) {
	if !retryable(resp, nil) {
		c.budget.success() // an answer, even a 404, means the API is up
	}
	res := &Response{
		StatusCode:   resp.StatusCode,
		Header:       resp.Header,
		ETag:         resp.Header.Get("Etag"), // canonical form: no allocation
		CacheControl: parseCacheControl(resp.Header.Get("Cache-Control")),
		RequestID:    resp.Header.Get("X-Request-Id"),
		AsOf:         parseAsOf(resp.Header.Get("Qc-As-Of")),
		Attempts:     k.attempts,
	}
	res.RateLimit, _ = parseRateLimit(resp.Header, c.now())
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
	default:
		if resp.StatusCode < 500 {
			c.keyAccepted() // the key got the call past the registry's door
		}
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		res.NotModified = true
		return res, nil
	case resp.StatusCode >= 400:
		return res, c.statusError(r, k, resp, res, raw)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return res, &APIError{Method: r.method, Path: r.path, StatusCode: resp.StatusCode, RequestID: res.RequestID}
	}
	return res, nil
}

// statusError is the typed error of a 4xx or 5xx answer: a rate limit
// with the pause it began, a refused key, or the API's problem.
func (c *Client) statusError(r request, k *call, resp *http.Response, res *Response, raw []byte) error {
	apiErr := c.problem(r, resp, raw)
	var err error = apiErr
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		ra := apiErr.RetryAfter
		p := c.quota.pausedAt(c.now())
		if r.ownLimit {
			p = pausedAt(&c.lookups, c.now())
		}
		if ra == 0 && p != nil {
			ra = p.until.Sub(c.now()) // the pause a 429 without Retry-After began
		}
		err = &RateLimitError{Err: apiErr, Limit: res.RateLimit, RetryAfter: ra}
	case http.StatusUnauthorized, http.StatusForbidden:
		err = c.refused(apiErr)
	}
	if k.gaveUp != nil {
		err = fmt.Errorf("%w: %w", k.gaveUp, err)
	}
	return err
}

// attemptLog is the logger go-retryablehttp is given. It logs each
// attempt that got no answer as an error; but an attempt is not the call:
// one that failed may be retried, and the call's error goes to its caller,
// who judges it. An attempt cancelled by its caller failed nothing at all:
// a server shutting down ends its long polls so, and an error logged for
// each would page someone for every clean shutdown. So an attempt's
// failure is a warning, and a cancelled one a debug line.
type attemptLog struct{ l *slog.Logger }

func (a attemptLog) Error(msg string, kv ...any) {
	level := slog.LevelWarn
	for _, v := range kv {
		if err, ok := v.(error); ok && errors.Is(err, context.Canceled) {
			level = slog.LevelDebug
		}
	}
	a.l.Log(context.Background(), level, msg, kv...)
}

func (a attemptLog) Warn(msg string, kv ...any)  { a.l.Warn(msg, kv...) }
func (a attemptLog) Info(msg string, kv ...any)  { a.l.Info(msg, kv...) }
func (a attemptLog) Debug(msg string, kv ...any) { a.l.Debug(msg, kv...) }

// readBody reads an answer's body through the size limit and, for a 2xx,
// decodes it into out. It runs inside go-retryablehttp's loop, so a body
// cut off or garbled in transit is retried like a failed connection.
func (c *Client) readBody(r request, resp *http.Response, out any) ([]byte, error) {
	limit := c.maxBody
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		limit = min(limit, maxErrorBody)
	}
	if resp.StatusCode == http.StatusNotModified || resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if ok && resp.ContentLength > limit {
		return nil, &tooLargeError{Method: r.method, Path: r.path, Limit: limit}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(data)) > limit {
		if !ok {
			return data[:limit], nil // an error body is read only for its start
		}
		return nil, &tooLargeError{Method: r.method, Path: r.path, Limit: limit}
	}
	if err != nil {
		return nil, &truncatedError{Method: r.method, Path: r.path, Read: int64(len(data)), Err: err}
	}
	if !ok || out == nil {
		return data, nil
	}
	if t, isText := out.(*textBody); isText {
		*t = data // the log's checkpoints and leaves: their bytes are what is verified
		return data, nil
	}
	// A retried attempt must not inherit fields an earlier one decoded.
	reflect.ValueOf(out).Elem().SetZero()
	if err := json.Unmarshal(data, out); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && se.Offset >= int64(len(data)) {
			return nil, &truncatedError{Method: r.method, Path: r.path, Read: int64(len(data)), Err: io.ErrUnexpectedEOF}
		}
		return nil, &DecodeError{Method: r.method, Path: r.path, StatusCode: resp.StatusCode, Snippet: snippet(data), Err: fromAnswer(err)}
	}
	return data, nil
}

func snippet(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// problem builds the *APIError for an error answer from its problem
// document, or from its status alone when the body is not one.
func (c *Client) problem(r request, resp *http.Response, raw []byte) *APIError {
	e := &APIError{Method: r.method, Path: r.path, StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if raw == nil {
		// A retryable status that ran out of retries: its body is unread.
		raw, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	}
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = ra
	}
	var p Problem
	if json.Unmarshal(raw, &p) == nil {
		e.Code, e.Title, e.Detail, e.Fields = p.Code, p.Title, p.Detail, p.Errors
		if e.RequestID == "" {
			e.RequestID = p.RequestID
		}
	}
	if c.key != "" {
		// A registry may quote back the key it refused; the error goes
		// to logs, and the key goes nowhere but the Authorization header.
		hide := strings.NewReplacer(c.key, "[the API key]")
		e.Code, e.Title, e.Detail = hide.Replace(e.Code), hide.Replace(e.Title), hide.Replace(e.Detail)
		for i := range e.Fields {
			e.Fields[i].Field, e.Fields[i].Message = hide.Replace(e.Fields[i].Field), hide.Replace(e.Fields[i].Message)
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}
