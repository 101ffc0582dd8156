package cache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// auditEnv is a sandbox, a client of it for each API key, and a store the
// audit publishes to.
type auditEnv struct {
	srv   *sandbox.Server
	api   map[string]*client.Client
	store *cache.Memory
	stats *cache.FollowStats
	logs  *bytes.Buffer
	mu    sync.Mutex
	alarm []error
}

func newAuditEnv(t *testing.T, apiKeys ...string) *auditEnv {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithAPIKeys(apiKeys...))
	e := &auditEnv{srv: srv, api: map[string]*client.Client{}, store: must(cache.NewMemory()), stats: new(cache.FollowStats), logs: new(bytes.Buffer)}
	for _, k := range apiKeys {
		api, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(k), client.WithRetryPolicy(client.RetryPolicy{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.CloseIdleConnections)
		e.api[k] = api
	}
	return e
}

func (e *auditEnv) auditor(apiKey string, o cache.FollowOptions) cache.LogAuditor {
	o.Stats = e.stats
	o.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	o.LogAlarm = func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.alarm = append(e.alarm, err)
	}
	return cache.NewLogAuditor(e.api[apiKey], e.store, &o)
}

// change makes the registry move: one inspection published, one more
// leaf.
func (e *auditEnv) change(t *testing.T) {
	t.Helper()
	if _, err := e.srv.PublishInspection(e.srv.Demo()[0].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
}

func (e *auditEnv) fleet(t *testing.T) cache.FleetLog {
	t.Helper()
	fl, err := cache.ReadFleetLog(context.Background(), e.store, e.srv.LogKeys(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

func (e *auditEnv) alarms() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.alarm
}

// The follower verifies the registry's checkpoint, proves each new one
// extends the last, and publishes it to the fleet, where it only grows.
func TestLogAuditPublishesWhatItVerified(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t, "platform")
	ctx := context.Background()
	a := e.auditor("platform", cache.FollowOptions{}) // keys read from /v1/keys
	a.Audit(ctx)
	first := e.fleet(t)
	if first.Checkpoint == nil || first.Fork != nil || e.stats.LogAudits.Load() != 1 {
		t.Fatalf("after one audit: fleet %+v, %d audits; logs:\n%s", first, e.stats.LogAudits.Load(), e.logs)
	}
	if got := e.stats.LogSize.Load(); got != first.Checkpoint.Size || got <= 0 {
		t.Errorf("LogSize %d, the fleet's checkpoint %d", got, first.Checkpoint.Size)
	}
	e.change(t)
	e.change(t)
	a.Audit(ctx)
	second := e.fleet(t)
	if second.Checkpoint == nil || second.Checkpoint.Size != first.Checkpoint.Size+2 {
		t.Fatalf("after two changes the fleet holds %+v; want the tree of %d", second.Checkpoint, first.Checkpoint.Size+2)
	}
	if e.stats.LogForks.Load() != 0 || len(e.alarms()) != 0 || e.stats.LogErrors.Load() != 0 {
		t.Errorf("a genuine log: %d forks, alarms %v, %d errors; logs:\n%s", e.stats.LogForks.Load(), e.alarms(), e.stats.LogErrors.Load(), e.logs)
	}
	// A follower that starts later goes on from what the fleet verified:
	// a smaller checkpoint it publishes never replaces the larger.
	if _, err := e.store.Set(ctx, cache.LogCheckpointKey, &cache.Entry{Raw: []byte(`{"note":"x","size":1}`), Version: 1, AsOf: 1,
		Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := e.fleet(t).Checkpoint; got == nil || got.Size != second.Checkpoint.Size {
		t.Errorf("an older checkpoint replaced the fleet's: %+v", got)
	}
}

// A log that shows this platform a history other than the one it
// verified before is a fork: the alarm goes off once, and the fleet
// learns of it. Here a man in the middle (or a registry that rolled its
// log back and rewrote it) shows the platform, after the genuine log,
// the checkpoints a rival was shown.
func TestLogAuditCatchesAFork(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t, "platform", "rival")
	ctx := context.Background()
	var as atomic.Value
	as.Store("platform")
	swap := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+as.Load().(string))
		return http.DefaultTransport.RoundTrip(r)
	})
	api, err := client.New(client.WithBaseURL(e.srv.URL), client.WithHTTPClient(&http.Client{Transport: swap}),
		client.WithAPIKey("platform"), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	e.api["mitm"] = api
	if _, err := e.srv.ForkLog("rival"); err != nil {
		t.Fatal(err)
	}
	e.change(t)
	a := e.auditor("mitm", cache.FollowOptions{LogKeys: e.srv.LogKeys()})
	a.Audit(ctx)
	if e.fleet(t).Checkpoint == nil || e.stats.LogForks.Load() != 0 {
		t.Fatalf("the genuine log: %d forks; logs:\n%s", e.stats.LogForks.Load(), e.logs)
	}
	as.Store("rival")
	e.change(t)
	a.Audit(ctx)
	a.Audit(ctx)
	if n := e.stats.LogForks.Load(); n != 1 {
		t.Fatalf("%d forks found after the log forked; want 1; logs:\n%s", n, e.logs)
	}
	if al := e.alarms(); len(al) != 1 || !errors.Is(al[0], client.ErrLogFork) {
		t.Errorf("alarms %v; want one ErrLogFork", al)
	}
	if fl := e.fleet(t); !errors.Is(fl.Fork, client.ErrLogFork) {
		t.Errorf("the fleet's log %+v; want the fork recorded", fl)
	}
	// The alarm is the caller's to raise: the cache logs no error of
	// its own beside it (without one, it does; see below).
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("an error logged beside the alarm:\n%s", e.logs)
	}
	var alone bytes.Buffer
	c := cache.NewLogAuditor(e.api["mitm"], must(cache.NewMemory()), &cache.FollowOptions{LogKeys: e.srv.LogKeys(),
		Logger: slog.New(slog.NewTextHandler(&alone, nil))})
	as.Store("platform")
	c.Audit(ctx)
	as.Store("rival")
	e.change(t)
	c.Audit(ctx)
	if !strings.Contains(alone.String(), "level=ERROR") {
		t.Errorf("no error logged of a fork with no LogAlarm:\n%s", alone.String())
	}
	// Another follower of the fleet stays alarmed: the fork is sticky.
	as.Store("platform")
	b := e.auditor("mitm", cache.FollowOptions{LogKeys: e.srv.LogKeys()})
	b.Audit(ctx)
	if e.stats.LogAudits.Load() != 1 {
		t.Errorf("%d audits passed; want only the first, before the fork", e.stats.LogAudits.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A witness that was shown another history than this platform — both
// signed by the registry, each consistent over time — is a fork too: a
// split view no single reader can see.
func TestLogAuditComparesWitnesses(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t, "platform", "rival")
	ctx := context.Background()
	rival := cache.WitnessFunc(func(ctx context.Context) ([]byte, error) {
		b, _, err := e.api["rival"].Log.Checkpoint(ctx)
		return b, err
	})
	a := e.auditor("platform", cache.FollowOptions{LogKeys: e.srv.LogKeys(), Witnesses: []cache.Witness{rival}})
	a.Audit(ctx)
	e.change(t)
	a.Audit(ctx)
	if e.stats.LogForks.Load() != 0 || e.stats.LogAudits.Load() != 2 {
		t.Fatalf("one history: %d forks, %d audits; logs:\n%s", e.stats.LogForks.Load(), e.stats.LogAudits.Load(), e.logs)
	}
	if _, err := e.srv.ForkLog("rival"); err != nil {
		t.Fatal(err)
	}
	e.change(t)
	a.Audit(ctx)
	if e.stats.LogForks.Load() != 1 {
		t.Fatalf("the rival shown another history: %d forks; want 1; logs:\n%s", e.stats.LogForks.Load(), e.logs)
	}
}

// A witness whose checkpoint is older than the registry's, but of the
// same history, is no fork: it has not caught up yet.
func TestLogAuditTakesAWitnessBehindForNoFork(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t, "platform")
	ctx := context.Background()
	old, _, err := e.api["platform"].Log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	behind := cache.WitnessFunc(func(context.Context) ([]byte, error) { return old, nil })
	a := e.auditor("platform", cache.FollowOptions{LogKeys: e.srv.LogKeys(), Witnesses: []cache.Witness{behind}})
	e.change(t)
	e.change(t)
	a.Audit(ctx)
	if e.stats.LogForks.Load() != 0 || e.stats.LogAudits.Load() != 1 {
		t.Errorf("a witness behind: %d forks, %d audits; logs:\n%s", e.stats.LogForks.Load(), e.stats.LogAudits.Load(), e.logs)
	}
}

// With a Cosigner, what the fleet publishes carries the platform's
// signature beside the registry's, for others to use it as a witness.
func TestLogAuditCosigns(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t, "platform")
	skey, vkey, err := note.GenerateKey(nil, "platform.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	a := e.auditor("platform", cache.FollowOptions{LogKeys: e.srv.LogKeys(), Cosigner: signer})
	a.Audit(context.Background())
	cp := e.fleet(t).Checkpoint
	if cp == nil {
		t.Fatalf("nothing published; logs:\n%s", e.logs)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cp.Note, note.VerifierList(v)); err != nil {
		t.Errorf("the published checkpoint does not carry the platform's signature: %v\n%s", err, cp.Note)
	}
}

// The follower audits the log when the feed brings a change, at most
// once every LogEvery: a change that comes while an audit runs, or
// within LogEvery of the last one, is audited when that one ends or that
// time has passed. It used to be dropped, and on a quiet feed the fleet's
// checkpoint stayed behind the change for good (CI caught the first case:
// the audit at the lease was still running when the change came).
func TestFollowAuditsTheLog(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		every time.Duration
	}{
		{"an audit for every change", time.Nanosecond},
		{"a change within LogEvery of the last audit", 2 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newAuditEnv(t, "platform")
			ctx, cancel := context.WithCancel(context.Background())
			stats := new(cache.FollowStats)
			applied := make(chan client.Event, 16)
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				done <- cache.Follow(ctx, e.api["platform"], e.store, &cache.FollowOptions{
					FollowOptions: client.FollowOptions{Wait: 5 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
					Stats:         stats,
					LogEvery:      c.every,
					Applied:       func(ev client.Event) { applied <- ev },
				})
			}()
			defer func() { cancel(); <-done }()
			// The audit at the lease first, so that the change is one
			// the registry makes after it.
			awaitCount(t, "the audit at the lease", stats.LogAudits.Load, 1)
			e.change(t)
			ev := <-applied
			// The audit after the change runs in the background: wait for
			// the fleet's checkpoint to reach it.
			deadline := time.Now().Add(c.every + timescale.Scale(10*time.Second))
			for stats.LogSize.Load() < ev.Seq {
				if time.Now().After(deadline) {
					t.Fatalf("the fleet's checkpoint is of %d changes, the change applied at %d; audits %d, errors %d",
						stats.LogSize.Load(), ev.Seq, stats.LogAudits.Load(), stats.LogErrors.Load())
				}
				<-time.After(5 * time.Millisecond)
			}
			if fl := e.fleet(t); fl.Checkpoint == nil || fl.Checkpoint.Size < ev.Seq {
				t.Errorf("the fleet's log %+v", fl)
			}
			// At most once every LogEvery, the first at the lease.
			if n, most := stats.LogAudits.Load(), 1+int64(time.Since(start)/c.every); n > most {
				t.Errorf("%d audits in %v; LogEvery %v allows %d", n, time.Since(start), c.every, most)
			}
		})
	}
}

// forkEntry is what the follower records for the fleet when it finds a
// fork.
func forkEntry(now time.Time) *cache.Entry {
	return &cache.Entry{Raw: []byte(`{"fork":"two roots for a tree of 9","size":0}`), Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(time.Hour)}
}

// While the store holds a fork, the cache trusts no answer — warm or
// cold, one product or a page — and every badge is neutral; once an
// operator clears it, answers are served again.
func TestAForkMakesEveryAnswerUntrusted(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	g := e.demo(client.VerdictCommitted)
	if _, err := statusByGTIN(e.cache, ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.cache.Cached(g); !ok {
		t.Fatal("not warm after a lookup")
	}
	if _, err := e.cache.Store().Set(ctx, cache.LogForkKey, forkEntry(e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.cache.Cached(g); ok {
		t.Error("Cached answered a warm product while the log is forked")
	}
	if !e.cache.Stats().LogForked {
		t.Error("Stats().LogForked is false while the store holds a fork")
	}
	if _, err := statusByGTIN(e.cache, ctx, g); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("Status = %v; want ErrLogFork", err)
	}
	for _, it := range e.cache.Statuses(ctx, []client.ProductKey{{GTIN: g}, {GTIN: e.demo(client.VerdictWithdrawn)}}) {
		if !errors.Is(it.Err, client.ErrLogFork) || it.Status != nil {
			t.Errorf("Statuses(%s) = %+v, %v; want ErrLogFork", it.Key.GTIN, it.Status, it.Err)
		}
	}
	if err := cache.ClearLogFork(ctx, e.cache.Store()); err != nil {
		t.Fatal(err)
	}
	if st, err := statusByGTIN(e.cache, ctx, g); err != nil || st == nil {
		t.Errorf("after the fork was cleared: %+v, %v", st, err)
	}
	if _, _, ok := e.cache.Cached(g); !ok {
		t.Error("not served warm after the fork was cleared")
	}
}

// A fork the follower records in Redis reaches every server of the
// fleet: each one's badges go neutral, and come back when it is cleared.
func TestAForkReachesEveryServerOfTheFleet(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	ctx := context.Background()
	g := demoGTIN(t, f.srv, client.VerdictCommitted)
	for _, n := range f.nodes {
		if _, err := statusByGTIN(n, ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	shared := f.sharedStore(t)
	if _, err := shared.Set(ctx, cache.LogForkKey, forkEntry(time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := shared.Publish(ctx, cache.LogForkKey); err != nil {
		t.Fatal(err)
	}
	untrusted := func(n *cache.Cache) bool {
		_, err := statusByGTIN(n, ctx, g)
		return errors.Is(err, client.ErrLogFork)
	}
	awaitAll(t, f.nodes, untrusted, "every server to stop trusting the forked log")
	if err := cache.ClearLogFork(ctx, shared); err != nil {
		t.Fatal(err)
	}
	awaitAll(t, f.nodes, func(n *cache.Cache) bool { return !untrusted(n) }, "every server to trust the log again")
}

// awaitAll waits until ok holds for every node, for at most 10 s.
func awaitAll(t *testing.T, nodes []*cache.Cache, ok func(*cache.Cache) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for i, n := range nodes {
		for !ok(n) {
			if time.Now().After(deadline) {
				t.Fatalf("server %d: waited 10 s for %s", i, what)
			}
			<-time.After(5 * time.Millisecond)
		}
	}
}

// Each server's client takes the checkpoint the fleet's follower
// verified as the one later answers must extend: no server judges the
// registry against a checkpoint of its own choosing.
func TestEveryServerTakesTheFleetsCheckpoint(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		if cp := f.api.LatestCheckpoint(); cp != nil {
			fl, err := cache.ReadFleetLog(context.Background(), f.nodes[0].Store(), f.srv.LogKeys(), time.Now())
			if err != nil || fl.Checkpoint == nil || cp.Size < fl.Checkpoint.Size {
				t.Fatalf("the client's latest is of %d changes; the fleet's %+v (%v)", cp.Size, fl.Checkpoint, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no server took the fleet's checkpoint within 10 s, and no page asked anything")
		}
		<-time.After(5 * time.Millisecond)
	}
	// A server that starts now finds it in Redis at start.
	api, err := client.New(client.WithBaseURL(f.srv.URL), client.WithLogKeys(f.srv.LogKeys()...))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	shared := f.sharedStore(t)
	tiered, err := cache.NewTiered(must(cache.NewMemory()), shared)
	if err != nil {
		t.Fatal(err)
	}
	defer tiered.Close()
	late, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	for api.LatestCheckpoint() == nil {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("a server started after the fleet verified a checkpoint did not take it")
		}
		<-time.After(5 * time.Millisecond)
	}
}

// sharedStore is another connection to the fleet's Redis, on its prefix,
// closed with the test.
func (f *fleet) sharedStore(t *testing.T) *redisstore.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr(), ContextTimeoutEnabled: true})
	shared := must(redisstore.New(rdb, redisstore.WithPrefix("fleet:"+t.Name()+":"), redisstore.WithTimeout(testStoreTimeout)))
	t.Cleanup(func() { shared.Close(); rdb.Close() })
	return shared
}
