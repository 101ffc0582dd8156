package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// Defaults: the demo set a newcomer sees, and where its links and log
// point.
const (
	DefaultEnterprises = 50
	DefaultProducts    = 1000
	DefaultSeed        = 1
	// DefaultVerifyBase is where verify_url links point unless configured:
	// a reserved example domain, since the sandbox's records are fictional.
	DefaultVerifyBase = "https://verify.qualitycommit.example"
	// DefaultLogOrigin is the first line of the sandbox's checkpoints.
	DefaultLogOrigin = "sandbox.qualitycommit.example/log"
)

// Errors of the operator methods, for errors.Is.
var (
	// ErrNotFound is returned by the operator methods for an unknown id.
	ErrNotFound = errors.New("sandbox: no such record")
	// ErrReportStep is returned by AdvanceReport for a step the report
	// cannot take: backwards, after it closed, or closing without a known
	// outcome.
	ErrReportStep = errors.New("sandbox: a report cannot take this step")
)

// An Option configures a Sandbox. An option whose value is out of range
// returns an error, and New returns the first such error.
type Option func(*config) error

type config struct {
	data          dataConfig
	rate          float64
	burst         int
	lookupRate    float64
	lookupBurst   int
	keys          map[string]bool
	faults        []Fault
	clock         func() time.Time
	logger        *slog.Logger
	hookAttempts  int
	hookBackoff   time.Duration
	maxWait       time.Duration
	refSet        bool
	faultSeed     uint64
	oversizeBytes int
	feedRetention int
	logKey        *logSigner
	logOrigin     string
	logGrace      time.Duration
}

// WithSeed chooses the data set: the same seed, sizes and reference time
// give the same records, byte for byte.
func WithSeed(seed uint64) Option {
	return func(c *config) error { c.data.seed = seed; return nil }
}

// WithSize sets how many enterprises and products the data set has. Up to
// 89,999 enterprises, each with at most 89,999 products; a 1,000,000-product
// set is ready in a couple of seconds because products are computed on demand.
func WithSize(enterprises, products int) Option {
	return func(c *config) error {
		if enterprises < 1 || enterprises > maxCompany {
			return fmt.Errorf("enterprises %d out of range [1, %d]", enterprises, maxCompany)
		}
		if products < 0 || products/enterprises > maxItems-1 {
			return fmt.Errorf("products %d out of range for %d enterprises", products, enterprises)
		}
		c.data.enterprises, c.data.products = enterprises, products
		return nil
	}
}

// WithReferenceTime sets the day the data set is dated from. By default it
// is today, so the demo always looks current; golden-file tests fix it.
// The zero time is an error: the generated history reaches years before it.
func WithReferenceTime(t time.Time) Option {
	return func(c *config) error {
		if t.IsZero() {
			return errors.New("the reference time is zero")
		}
		c.data.ref, c.refSet = t.UTC().Truncate(day), true
		return nil
	}
}

// WithVerifyBaseURL sets the base of every record's verify_url, an
// absolute http or https URL.
func WithVerifyBaseURL(base string) Option {
	return func(c *config) error {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("verify base URL %q is not an absolute http(s) URL", base)
		}
		c.data.verifyBase = strings.TrimRight(base, "/")
		return nil
	}
}

// WithHostileText fills every text field with hostile strings: markup,
// script URLs, broken UTF-8, bidirectional overrides and a 10 KB name, for
// testing that renderers escape and contain what the registry sends.
func WithHostileText() Option {
	return func(c *config) error { c.data.hostile = true; return nil }
}

// rateLimit checks a token bucket's settings: a rate of 0 turns the limit
// off (the burst is then unused); a positive rate needs a burst of at least 1.
func rateLimit(what string, perSecond float64, burst int) error {
	if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return fmt.Errorf("%s rate %v per second is not 0 (no limit) or a positive number", what, perSecond)
	}
	if burst < 0 || (perSecond > 0 && burst < 1) {
		return fmt.Errorf("%s burst %d is below 1", what, burst)
	}
	return nil
}

// WithRateLimit limits each API key (or each client address, without a key)
// to perSecond requests with bursts of burst; past it the sandbox answers
// 429 with Retry-After. perSecond 0 turns limiting off. The default is
// 1,000 per second with bursts of 2,000.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) error {
		if err := rateLimit("request", perSecond, burst); err != nil {
			return err
		}
		c.rate, c.burst = perSecond, max(burst, 1)
		return nil
	}
}

// WithReportLookupLimit limits each API key's report lookups (GET
// /v1/reports/{id}, with a right token or a wrong one) to perSecond with
// bursts of burst, under the general limit; past it the sandbox answers
// 429. perSecond 0 turns this limit off. The default is 5 per second with
// bursts of 20.
func WithReportLookupLimit(perSecond float64, burst int) Option {
	return func(c *config) error {
		if err := rateLimit("report lookup", perSecond, burst); err != nil {
			return err
		}
		c.lookupRate, c.lookupBurst = perSecond, max(burst, 1)
		return nil
	}
}

// WithAPIKeys makes the sandbox require "Authorization: Bearer <key>" with
// one of keys, at least one and none empty. Without it any key, or none,
// is accepted.
func WithAPIKeys(keys ...string) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return errors.New("WithAPIKeys has no API key")
		}
		c.keys = make(map[string]bool, len(keys))
		for i, k := range keys {
			if k == "" {
				return fmt.Errorf("API key %d of %d is empty", i+1, len(keys))
			}
			c.keys[k] = true
		}
		return nil
	}
}

// WithFaults injects faults from the start; see Fault and SetFaults.
func WithFaults(faults ...Fault) Option {
	return func(c *config) error {
		for _, f := range faults {
			if err := f.validate(); err != nil {
				return err
			}
		}
		c.faults = append(c.faults, faults...)
		return nil
	}
}

// WithFaultSeed seeds the random draws that decide which requests a fault
// hits, so a test run is repeatable.
func WithFaultSeed(seed uint64) Option {
	return func(c *config) error { c.faultSeed = seed; return nil }
}

// WithClock sets the clock that stamps published changes and reports and
// dates the data set when WithReferenceTime is not given. Nil, like the
// default, is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			now = time.Now
		}
		c.clock = now
		return nil
	}
}

// WithLogger logs each request at debug level and each webhook failure at
// warn level. Nil, the default, logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithWebhookRetry sets how many times a webhook push is tried (at least
// once) and the first wait between tries, which doubles after each failure
// (default 5 tries from 200 ms).
func WithWebhookRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) error {
		if attempts < 1 {
			return fmt.Errorf("webhook attempts %d is below 1", attempts)
		}
		if backoff < 0 {
			return fmt.Errorf("webhook backoff %v is negative", backoff)
		}
		c.hookAttempts, c.hookBackoff = attempts, backoff
		return nil
	}
}

// WithMaxWait caps how long the change feed holds a long poll: more than
// 0 and at most 60 s, the default.
func WithMaxWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > maxLongPoll {
			return fmt.Errorf("long poll max wait %v is not in (0, %v]", d, maxLongPoll)
		}
		c.maxWait = d
		return nil
	}
}

// maxLongPoll is the longest the change feed holds a poll, as the
// registry's contract says.
const maxLongPoll = 60 * time.Second

// WithFeedRetention keeps only the newest n events of the change feed, as
// the registry keeps events for a retention window: publishing one more
// drops the oldest. A cursor from before the oldest event kept has expired,
// and reading on from it is 400 invalid_cursor rather than a page with a
// gap. 0, the default, keeps every event; a negative n is an error. See
// also ExpireFeed.
func WithFeedRetention(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("feed retention %d is negative", n)
		}
		c.feedRetention = n
		return nil
	}
}

// Sandbox is a reference implementation of the public query API over a
// generated data set. It is an http.Handler; mount it on any server, or
// use NewServer in tests. Its methods publish changes as the regulator
// would, and set faults.
type Sandbox struct {
	cfg     config
	reg     *registry
	mux     *http.ServeMux
	faults  *faultSet
	limiter *limiter
	lookups *limiter // GET /v1/reports/{id}: a token cannot be guessed by asking
	hooks   *webhooks
	log     *changeLog
	stats   map[string]*atomic.Int64
	reqSeq  atomic.Uint64
	reqBase string
	done    chan struct{}
	close   sync.Once
}

// New builds a sandbox. Call Close when done with it to stop webhook
// deliveries and release long polls.
func New(opts ...Option) (*Sandbox, error) {
	cfg := config{
		data: dataConfig{
			seed:        DefaultSeed,
			enterprises: DefaultEnterprises,
			products:    DefaultProducts,
			verifyBase:  DefaultVerifyBase,
		},
		rate:          1000,
		burst:         2000,
		lookupRate:    5,
		lookupBurst:   20,
		clock:         time.Now,
		hookAttempts:  5,
		hookBackoff:   200 * time.Millisecond,
		maxWait:       maxLongPoll,
		oversizeBytes: 4 << 20,
		logOrigin:     DefaultLogOrigin,
		logGrace:      defaultLogKeyGrace,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	if !cfg.refSet {
		cfg.data.ref = cfg.clock().UTC().Truncate(day)
	}
	s := &Sandbox{
		cfg:     cfg,
		reg:     newRegistry(cfg.data, cfg.clock),
		faults:  newFaultSet(cfg.faultSeed, cfg.faults),
		limiter: newLimiter(cfg.rate, cfg.burst, cfg.clock),
		lookups: newLimiter(cfg.lookupRate, cfg.lookupBurst, cfg.clock),
		done:    make(chan struct{}),
		reqBase: fmt.Sprintf("req_%04x", cfg.data.seed&0xffff),
	}
	log, err := newChangeLog(s.reg, cfg)
	if err != nil {
		return nil, err
	}
	s.log = log
	s.hooks = newWebhooks(cfg.hookAttempts, cfg.hookBackoff, cfg.logger)
	s.reg.onEvent = s.hooks.enqueue
	s.reg.retain = cfg.feedRetention
	s.routes()
	return s, nil
}

// Close stops webhook deliveries and ends every long poll and injected
// delay in flight. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.close.Do(func() {
		close(s.done)
		s.hooks.close()
	})
	return nil
}

// Start serves the sandbox on a free port of the loopback interface, for a
// program that wants the registry in-process, as the examples do (a test
// uses NewServer). It returns the base URL and a function that stops
// serving; Close the sandbox after that.
func (s *Sandbox) Start() (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		<-done
	}, nil
}

// ReferenceTime is the day the data set is dated from.
func (s *Sandbox) ReferenceTime() time.Time { return s.cfg.data.ref }

// Demo lists the curated products: one per badge verdict and the edge cases
// around them, with the verdict each shows on the reference day.
func (s *Sandbox) Demo() []DemoProduct {
	return append([]DemoProduct(nil), s.reg.demo...)
}

// NotListedGTIN is a valid GTIN that no maker on the list owns.
func (s *Sandbox) NotListedGTIN() client.GTIN {
	g, _ := client.CompleteGTIN("690000000001")
	return g
}

// Product returns product j of enterprise e (both counted from 0) as the
// registry knows it, so tests and load generators can name any product of
// a large set without a request.
func (s *Sandbox) Product(e, j int) (client.Product, bool) {
	s.reg.mu.RLock()
	defer s.reg.mu.RUnlock()
	if e < 0 || e >= len(s.reg.ents) || j < 0 || j >= s.reg.ents[e].products {
		return client.Product{}, false
	}
	return productOf(e, j, s.reg.ents[e]), true
}

// Size reports how many enterprises and products the data set has.
func (s *Sandbox) Size() (enterprises, products int) {
	return s.cfg.data.enterprises, s.cfg.data.products
}

// SetCommitmentStatus changes a commitment's status as the regulator would
// (suspend, revoke, expire, reinstate) and publishes the change.
func (s *Sandbox) SetCommitmentStatus(id string, status client.CommitmentStatus, reason *client.Text) (client.Commitment, error) {
	c, _, err := s.reg.setCommitmentStatus(id, status, reason)
	return c, err
}

// Revoke revokes a commitment and publishes the change.
func (s *Sandbox) Revoke(commitmentID string) (client.Commitment, error) {
	return s.SetCommitmentStatus(commitmentID, client.CommitmentRevoked,
		&client.Text{ZH: "未履行承诺事项，依法撤销", EN: "Revoked for failing to keep the commitment"})
}

// PublishInspection publishes a new inspection of the product with that
// GTIN, dated now, and publishes the change.
func (s *Sandbox) PublishInspection(gtin client.GTIN, result client.InspectionResult) (client.Inspection, error) {
	in, _, err := s.reg.publishInspection(gtin, result)
	return in, err
}

// Delist takes an enterprise (by id or USCC) off the list.
func (s *Sandbox) Delist(enterprise string) error {
	_, err := s.reg.delist(enterprise)
	return err
}

// RenameEnterprise changes an enterprise's name and publishes the change.
func (s *Sandbox) RenameEnterprise(id string, name client.Text) (client.Enterprise, error) {
	e, _, err := s.reg.renameEnterprise(id, name)
	return e, err
}

// PublishCase publishes a typical case; its id, version and dates are set
// by the sandbox.
func (s *Sandbox) PublishCase(c client.Case) client.Case {
	c, _ = s.reg.publishCase(c)
	return c
}

// ExpireFeed drops every event the change feed retains, as if all of them
// had passed the retention window, and reports how many it dropped. Every
// cursor from before the newest event has then expired (400
// invalid_cursor); the head's cursor, and events published afterwards, read
// on as before. With no event retained it changes nothing.
func (s *Sandbox) ExpireFeed() int { return s.reg.expireFeed() }

// SetFaults replaces the faults in force. With none, the sandbox is healthy.
func (s *Sandbox) SetFaults(faults ...Fault) error {
	for _, f := range faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	s.faults.set(faults)
	return nil
}

// AddWebhook registers a URL the sandbox pushes every later change event
// to, signed with each of secrets. Besides the public changes it receives
// those of the reports filed without an API key, which only a sandbox
// without keys takes.
func (s *Sandbox) AddWebhook(url string, secrets ...string) error {
	return s.addWebhook(anonymous, url, secrets)
}

// AddWebhookFor registers a webhook as AddWebhook does, for the platform
// with that API key: besides every public change it receives the status
// changes of the reports that key filed, which no other webhook receives.
func (s *Sandbox) AddWebhookFor(apiKey, url string, secrets ...string) error {
	if apiKey == "" {
		return errors.New("sandbox: a platform's webhook needs its API key")
	}
	return s.addWebhook(apiKey, url, secrets)
}

func (s *Sandbox) addWebhook(owner, url string, secrets []string) error {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("sandbox: webhook url %q is not http(s)", url)
	}
	if len(secrets) == 0 {
		return errors.New("sandbox: a webhook needs at least one secret")
	}
	s.hooks.add(url, secrets, owner)
	return nil
}

// WebhookStats reports pushes delivered and tries that failed, over all
// registered URLs.
func (s *Sandbox) WebhookStats() (delivered, failedTries int64) {
	return s.hooks.delivered.Load(), s.hooks.failed.Load()
}

// Requests reports how many requests reached a route, named by its pattern
// as in Fault.Route ("GET /v1/products/{gtin}"), counting those a fault or
// the rate limit answered. "" counts every request.
func (s *Sandbox) Requests(route string) int64 {
	if route == "" {
		var n int64
		for _, c := range s.stats {
			n += c.Load()
		}
		return n
	}
	if c, ok := s.stats[route]; ok {
		return c.Load()
	}
	return 0
}

// Reports reports how many reports the sandbox has stored since it
// started, not counting the demo reports it starts with.
func (s *Sandbox) Reports() int { return s.reg.reportCount() }
