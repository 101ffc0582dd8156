package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/internal/intern"
)

// An Option configures a Redis store. A value out of range is an error
// from New; nil, for a clock or a logger, is the default.
type Option func(*Store) error

// WithPrefix is put before every Redis key the store uses (default
// "qcsdk:"); it must not be empty. Give each platform, and each test, its
// own. The store's announcements travel on the prefix's "changes"
// channel, so stores of one prefix hear each other and no other.
func WithPrefix(p string) Option {
	return func(r *Store) error {
		if p == "" {
			return errors.New("prefix is empty")
		}
		r.prefix = p
		return nil
	}
}

// WithTimeout bounds every Redis operation a page may wait for (default
// 100 ms); d must be positive. A slow Redis then costs a page at most this
// much per operation. The follower's operations (the lease, the cursor,
// the stamps), which no page waits for, get ten times as long, and at
// least a second.
func WithTimeout(d time.Duration) Option {
	return func(r *Store) error {
		if d <= 0 {
			return errors.New("timeout must be positive")
		}
		r.timeout = d
		return nil
	}
}

// WithClock sets the clock that decides expiry on Get and Set. Nil, the
// default, is the real clock. Redis itself drops an entry at its Expires
// by its own clock (PEXPIREAT).
func WithClock(now func() time.Time) Option {
	return func(r *Store) error {
		r.clock = now
		return nil
	}
}

// WithLogger sets where the store reports what it refuses (an entry no
// registry answer could be), once per process. Nil, the default, reports
// nothing; Stats counts it either way.
func WithLogger(l *slog.Logger) Option {
	return func(r *Store) error {
		r.logger = l
		return nil
	}
}

// ErrStoreUnavailable is matched (errors.Is) by every error of a store
// whose backend failed: Redis down, slow past its timeout, or refusing a
// command.
var ErrStoreUnavailable = errors.New("qcsdk/cache/redisstore: store unavailable")

// StoreError is a failed store operation. It matches ErrStoreUnavailable.
// Its message never contains the Redis password.
type StoreError struct {
	Op  string // "get", "set", "delete", "stamp", "publish", "subscribe", "lease", "cursor"
	Key string // the key or set, when the operation has one
	Err error
}

func (e *StoreError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("qcsdk/cache/redisstore: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("qcsdk/cache/redisstore: %s %q: %v", e.Op, e.Key, e.Err)
}

// Unwrap is the cause, and ErrStoreUnavailable, which every StoreError
// matches.
func (e *StoreError) Unwrap() []error { return []error{ErrStoreUnavailable, e.Err} }

// redactedError hides a secret in the message of the error it wraps.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "[redacted]")
}
func (e *redactedError) Unwrap() error { return e.err }

// errStoreNoExpiry refuses a nil entry or one that would never expire.
var errStoreNoExpiry = errors.New("qcsdk/cache/redisstore: an entry needs an Expires time")

// Store is a cache.Store shared by every web server of a platform, a
// cache.Notifier over Redis pub/sub, and a cache.Leaser that elects the
// fleet's follower: what cache.NewTiered needs as its shared tier
// (cache.Shared).
//
// Each entry is a string under Prefix+key: a fixed-width header (the
// registry position it reflects, answer or tombstone, version, times; see
// header.go) and the entry as compact JSON, its maker's and its
// commitment's records by reference (see redisEntry); it expires in Redis
// at the entry's Expires. Set decides in a Lua script whether the entry it
// is given is newer than the one held, comparing the headers as strings,
// so that concurrent writers from any number of servers never let an
// older answer win, and equal copies never write at all. Stamps live one
// key per maker, Prefix+"stamp:"+maker, the position of its latest change
// (about 70 bytes a maker that ever changed, not pruned), so that on a
// Cluster they spread over the shards; a Get reads the stamps of the
// makers its entries belong to, the resynchronisation's, and the fleet's
// head, in the same round trip as the records it lacks.
//
// The fleet's head, Prefix+"head", is the newest registry position any
// server or the follower has seen. An entry that claims more — a position
// or version no answer of this registry could carry — is read as a miss
// and replaced by the registry's next answer (see Stats.Impossible and
// WithLogger). It guards against a value written around the fleet (a
// registry restored from a backup, whose resynchronisation brings the
// head back down; a write that bypassed the store); it cannot tell two
// registries writing one prefix apart, so give each environment its own.
//
// The layout is this release's own: a value of an earlier layout is read
// as a miss and replaced by the next write, so that servers of two
// releases sharing one Redis during a rolling upgrade each fetch what the
// other wrote, rather than misread it.
//
// Every operation is bounded by WithTimeout through its context.
// For the bound to hold against a Redis that accepts connections but
// answers slowly, build the client with ContextTimeoutEnabled: true (the
// go-redis default uses its own ReadTimeout, 3s, instead).
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	channel string
	// channels are where announcements travel: the channel, and on a
	// Cluster a second one on another shard (see announce.go).
	channels []string
	timeout  time.Duration
	clock    func() time.Time
	node     string // identifies this *Store in announcements
	sharded  bool   // announce by sharded pub/sub: rdb is a cluster client
	secret   string // the client's password, redacted from errors

	records intern.Records // what Get decodes shares the copies of makers and commitments
	written written        // the records this store wrote, and until when
	corrupt atomic.Int64
	logger  *slog.Logger

	// head is the newest registry position this store knows of; an entry
	// claiming more is impossible (see impossible).
	head        atomic.Int64
	sharedHead  atomic.Int64 // the newest head this store saw Redis hold
	impossibleN atomic.Int64
	dmu         sync.Mutex
	distrusted  map[string]string // key → the order key of a value found beyond the head there

	mu     sync.Mutex
	closed bool
	subs   map[*redisSub]struct{}
	wg     sync.WaitGroup
	pubs   sync.WaitGroup // announcements still being published (see announce)
}

type redisSub struct {
	cancel context.CancelFunc
}

var _ cache.Shared = (*Store)(nil)

// New builds a Redis store on rdb, or returns the first option's error.
// The store does not own rdb: Close
// stops the store's subscriptions, and the caller closes rdb afterwards.
//
// rdb may be a Redis Cluster client. When a master dies and its replica
// takes over, a cluster client learns the new layout from a MOVED reply,
// which the store's short timeouts may not leave time for, or from its
// periodic reload (ClusterStateReloadInterval, 60 s by default): set it to
// a second or two, so that the fleet uses the promoted replica within that
// time rather than within a minute. The reload is lazy (it runs with
// traffic, not on a ticker).
func New(rdb redis.UniversalClient, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("qcsdk/cache/redisstore: client is nil")
	}
	r := &Store{
		rdb:     rdb,
		prefix:  "qcsdk:",
		timeout: 100 * time.Millisecond,
		subs:    make(map[*redisSub]struct{}),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, fmt.Errorf("qcsdk/cache/redisstore: %w", err)
		}
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	r.channel = r.prefix + "changes"
	r.channels = []string{r.channel}
	var id [12]byte
	_, _ = rand.Read(id[:])
	r.node = hex.EncodeToString(id[:])
	switch c := rdb.(type) {
	case *redis.Client:
		r.secret = c.Options().Password
	case *redis.ClusterClient:
		r.secret = c.Options().Password
		r.sharded = true
		r.channels = append(r.channels, farChannel(r.channel))
	case *redis.Ring:
		r.secret = c.Options().Password
	}
	return r, nil
}

func (r *Store) fail(op, key string, err error) error {
	if r.secret != "" && strings.Contains(err.Error(), r.secret) {
		err = &redactedError{err: err, secret: r.secret}
	}
	return &StoreError{Op: op, Key: key, Err: err}
}

func (r *Store) key(k string) string { return r.prefix + k }

// setScript stores ARGV's entry unless the one held is newer or its equal
// (see the header's order key) and returns {1} when it stored, {2} when it
// stored over a value found impossible, {0, held value} when not. A held
// value that is not of this layout is replaced; so is one whose order key
// is ARGV[5] — a value the writer found beyond the head and marked — if it
// claims a position or version beyond ARGV[4], the head as the writer's
// own answer shows it. KEYS[1] the entry; ARGV: the value (header and
// JSON), expiry in ms, now as ordered ns, the head as position12, the marked
// order key ("" for none).
var setScript = redis.NewScript(`
local new, exp, now, head, suspect = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local old = redis.pcall('GET', KEYS[1])
if type(old) == 'table' and old.err then
  old = false
end
local won = 1
if old and string.len(old) >= 74 and string.sub(old, 1, 1) == 'q' and string.sub(old, 43, 58) > now then
  local beyond = suspect ~= '' and string.sub(old, 1, 42) == suspect and
    (string.sub(old, 2, 13) > head or string.sub(old, 15, 26) > head)
  if beyond then
    won = 2
  elseif string.sub(new, 1, 42) <= string.sub(old, 1, 42) then
    return {0, old}
  end
end
if string.sub(new, 43, 58) <= now then
  redis.call('DEL', KEYS[1])
  return {won}
end
redis.call('SET', KEYS[1], new, 'PXAT', exp)
return {won}
`)

// Get returns the entry under key, or nil when there is none or it has
// expired by the store's clock. It costs two round trips for an entry of a
// maker: the entry, then the stamps that may concern it and the records
// it refers to that this process does not hold (these live under keys of
// their own, which a Redis Cluster may keep on other nodes, so one script
// cannot read them all). It is GetMany of one key: a pipeline of one
// command costs what the command does.
func (r *Store) Get(ctx context.Context, key string) (*cache.Entry, error) {
	es, err := r.GetMany(ctx, []string{key})
	if err != nil {
		return nil, err
	}
	return es[0], nil
}

// GetMany returns what Get would for each key, in two round trips
// whatever the number of keys: one pipeline of the entries, then one of
// the records they refer to that this process lacks and the stamps that
// may concern them (one HMGET of the stamps hash for all their makers).
// On a Redis Cluster each pipeline is split by node and sent to the nodes
// at once.
//
// A value that is not an entry of the store's is a miss, counted (see
// RedisStats), as in Get. A key that Redis could not be asked for fails
// the call, with a *StoreError naming the keys that failed: a caller such
// as Tiered then serves every key from its own copies, rather than some
// keys from Redis and the others from copies it cannot confirm.
func (r *Store) GetMany(ctx context.Context, keys []string) ([]*cache.Entry, error) {
	out := make([]*cache.Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	vals, err := r.readEntries(ctx, keys)
	if err != nil {
		return nil, err
	}
	p := r.sortFound(keys, vals)
	if len(p.todo) == 0 {
		return out, nil
	}
	recs, st, err := r.fetchRecords(ctx, p.missing, p.makers, true)
	if err != nil {
		return nil, r.fail("get", strings.Join(keys, ","), err)
	}
	r.complete(out, p.todo, recs, st)
	return out, nil
}

// readEntries reads keys' values in one pipeline: each value, or ""
// where Redis holds none (an entry's value is never empty), or a value not of a string (WRONGTYPE), which
// is counted as corrupt and read as none.
//
// Each command carries its own error; the pipeline's is the first of
// them — or one of its own that go-redis leaves off the commands when
// Redis refused the pipeline with a reply (a failed AUTH, say), which
// fails every key.
func (r *Store) readEntries(ctx context.Context, keys []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, perr := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, r.key(k))
		}
		return nil
	})
	var failed []string
	var first error
	for i, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) && !wrongType(err) {
			failed = append(failed, keys[i])
			first = cmp.Or(first, err)
		}
	}
	if first == nil && perr != nil && !errors.Is(perr, redis.Nil) && !wrongType(perr) {
		failed, first = keys, perr
	}
	if first != nil {
		return nil, r.fail("get", strings.Join(failed, ","), first)
	}
	vals := make([]string, len(keys))
	for i, c := range cmds {
		val, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil: // WRONGTYPE: not ours, a miss, and the next Set replaces it
			r.corrupt.Add(1)
		default:
			vals[i] = val
		}
	}
	return vals, nil
}

// found is an entry GetMany read, with what it still needs: the records
// this process lacks, and the stamps of its maker.
type found struct {
	i       int
	key     string
	val     string
	e       *cache.Entry
	missing []string
	maker   int // its maker's index in pending.makers, -1 for none
}

// pending is what a page's entries need from Redis's second round trip:
// the records to fetch, each once, and the makers whose stamps to read.
type pending struct {
	todo    []found
	missing []string
	makers  []string
}

// sortFound decodes the values read, drops those that are not entries of
// this store or have expired, and gathers what the rest still need.
func (r *Store) sortFound(keys []string, vals []string) pending {
	var (
		p       pending
		asked   map[string]struct{}
		makerAt map[string]int
		now     = r.clock()
	)
	for i, v := range vals {
		if v == "" {
			continue
		}
		e, miss, err := r.decode(v, nil)
		if err != nil {
			r.corrupt.Add(1) // truncated, of an earlier layout, or written by something else
			continue
		}
		if !now.Before(e.Expires) {
			continue
		}
		f := found{i: i, key: keys[i], val: v, e: e, missing: miss, maker: -1}
		if e.Maker != "" {
			j, ok := makerAt[e.Maker]
			if !ok {
				if makerAt == nil {
					makerAt = make(map[string]int)
				}
				j = len(p.makers)
				p.makers = append(p.makers, e.Maker)
				makerAt[e.Maker] = j
			}
			f.maker = j
		}
		for _, k := range miss {
			if _, ok := asked[k]; !ok {
				if asked == nil {
					asked = make(map[string]struct{})
				}
				asked[k] = struct{}{}
				p.missing = append(p.missing, k)
			}
		}
		p.todo = append(p.todo, f)
	}
	return p
}

// complete fills out with the entries found, their records joined and
// the stamps that concern them — the resynchronisation's, then their
// maker's — applied; an entry beyond the fleet's head, or whose records
// are gone, is left a miss.
func (r *Store) complete(out []*cache.Entry, todo []found, recs map[string]string, st stamps) {
	head := r.learn(st)
	now := r.clock()
	for _, f := range todo {
		e := f.e
		if len(f.missing) > 0 {
			var miss []string
			var err error
			if e, miss, err = r.decode(f.val, recs); err != nil || len(miss) > 0 {
				// A record the entry refers to is gone (evicted, say): a
				// miss, and the next write of an entry of it writes it again.
				for _, k := range miss {
					r.written.forget(k)
				}
				r.corrupt.Add(1)
				continue
			}
		}
		if r.beyond(f.key, e, head) {
			continue
		}
		if f.maker >= 0 {
			if s := (cache.Stamp{Maker: e.Maker, Seq: st.makers[f.maker]}); s.Seq > 0 {
				if t := s.Apply(e, now); t != e {
					out[f.i] = t
					continue
				}
			}
		}
		out[f.i] = cache.Stamp{Seq: st.resync}.Apply(e, now)
	}
}

// wrongType reports a value of another type than a string under an
// entry's key: not one of ours.
func wrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// The stamps live one key each, Prefix+"stamp:"+maker, the position of
// the maker's latest change in decimal (an operator reads them with
// redis-cli), so that on a Redis
// Cluster they spread over every shard: a shard that fails over holds
// back the stamps of its own makers only. Prefix+"stamp:*" (no registry id
// contains a '*') is the resynchronisation's position, and Prefix+"head"
// the newest position the fleet has seen, which the follower moves on with
// every stamp: the bound past which an entry's claims are impossible.
func (r *Store) stampKey(maker string) string {
	if maker == "" {
		maker = "*"
	}
	return r.prefix + "stamp:" + maker
}

func (r *Store) headKey() string { return r.prefix + "head" }

// maxScript sets KEYS[1] to the position ARGV[1] unless it holds a
// greater or equal one: a stamp, and the fleet's head, only move forward.
// Lua's numbers are doubles, exact to 2^53, far past any registry's
// position. It runs by EVAL inside a pipeline, which EVALSHA's fallback
// cannot.
const maxScript = `
local old = tonumber(redis.call('GET', KEYS[1]) or '')
if old and old >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`

// stamps is what a read learnt of the stamps and the head.
type stamps struct {
	resync, head int64
	makers       []int64 // by the index of the makers asked for; 0 for none
}

// learn moves this store's idea of the registry's head on by what a read
// found — the fleet's head, and any stamp, which the follower recorded
// from the registry's own feed — and returns it.
func (r *Store) learn(st stamps) int64 {
	r.sawShared(st.head)
	h := max(st.head, st.resync)
	for _, s := range st.makers {
		h = max(h, s)
	}
	return r.sawHead(h)
}

// sawShared records that Redis holds a fleet head of at least h.
func (r *Store) sawShared(h int64) {
	for {
		cur := r.sharedHead.Load()
		if h <= cur || r.sharedHead.CompareAndSwap(cur, h) {
			return
		}
	}
}

// sawHead records that the registry's head is at least h, and returns the
// head as known now.
func (r *Store) sawHead(h int64) int64 {
	for {
		cur := r.head.Load()
		if h <= cur || r.head.CompareAndSwap(cur, h) {
			return max(cur, h)
		}
	}
}

// beyond reports whether e claims a position or version beyond the
// registry's head as this store knows it. No registry answer can, so the
// value may have been written by something else than this fleet's
// servers — an environment sharing the prefix, a registry restored from a
// backup, a forged write — and serving it could pin a badge for as long as
// it lives. It is read as a miss, and its key marked, so that the next Set
// of the key — the registry's answer — is judged against the head that
// answer shows, and replaces the value if it still claims more: only then
// is it counted and logged as impossible (see Set), since a value just
// written by another server may be ahead of what this one has seen. Before
// this store knows any head, every entry is read as a miss, so that the
// registry's first answers tell it.
func (r *Store) beyond(key string, e *cache.Entry, head int64) bool {
	if head > 0 && e.AsOf <= head && e.Version <= head {
		return false
	}
	r.distrust(key, e)
	return true
}

// refused counts and reports a value found impossible.
func (r *Store) refused(key string, head int64) {
	if r.impossibleN.Add(1) == 1 && r.logger != nil {
		r.logger.Error("qcsdk/cache/redisstore: replaced an entry that claimed a registry position beyond the registry's head; "+
			"another environment may share the prefix, or the registry was restored from a backup",
			"key", key, "head", head)
	}
}

// distrust marks the value e found under key for replacement by the key's
// next Set, should it still be there and claim more than that Set's
// answer shows the registry has reached. The value is named by its order
// key, so that a value written there since — another server's later
// answer — is never replaced in its stead.
func (r *Store) distrust(key string, e *cache.Entry) {
	r.dmu.Lock()
	if r.distrusted == nil || len(r.distrusted) >= maxDistrusted {
		r.distrusted = make(map[string]string)
	}
	r.distrusted[key] = header(e)[:orderLen]
	r.dmu.Unlock()
}

// suspect returns and clears the order key distrust marked under key, ""
// for none.
func (r *Store) suspect(key string) string {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	v := r.distrusted[key]
	delete(r.distrusted, key)
	return v
}

// maxDistrusted bounds the keys marked for replacement; past it the marks
// start again, and a key whose mark was lost is marked again when read.
const maxDistrusted = 10_000

// Stamp records s in Redis, where every later Get of any server reads it,
// moves the fleet's head on to it, and announces it, so that every Tiered
// store applies it to its memory tier at once. A stamp only moves forward:
// recording an older one changes nothing.
func (r *Store) Stamp(ctx context.Context, s cache.Stamp) error {
	// Announced first, and even when it cannot be recorded (its key's
	// shard is failing over): every server applies it at once, while the
	// follower records it again until it succeeds.
	aerr := r.announce(ctx, announcement{Node: r.node, Stamp: &s})
	tctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	seq := strconv.FormatInt(s.Seq, 10)
	var stamp, head redis.Cmder
	_, err := r.rdb.Pipelined(tctx, func(p redis.Pipeliner) error {
		stamp = p.Eval(tctx, maxScript, []string{r.stampKey(s.Maker)}, seq)
		if s.Maker == "" {
			// A resynchronisation read the registry's head itself: the
			// fleet's head is that, even below what was seen before (a
			// registry restored from a backup), so that entries claiming
			// more are refused.
			head = p.Set(tctx, r.headKey(), seq, 0)
		} else {
			head = p.Eval(tctx, maxScript, []string{r.headKey()}, seq)
		}
		return nil
	})
	if err == nil {
		err = cmp.Or(stamp.Err(), head.Err())
	}
	r.noteStamp(s)
	if err != nil {
		return r.fail("stamp", s.Maker, err)
	}
	return aerr
}

// noteStamp moves this store's idea of the registry's head to a stamp's
// position: on by a maker's change, to it by a resynchronisation.
func (r *Store) noteStamp(s cache.Stamp) {
	if s.Maker == "" {
		r.head.Store(s.Seq)
		r.sharedHead.Store(s.Seq)
		return
	}
	r.sawHead(s.Seq)
	r.sawShared(s.Seq)
}

// Set stores e unless Redis holds a newer entry under key, or its equal,
// and returns the entry Redis holds afterwards (e itself when it won).
func (r *Store) Set(ctx context.Context, key string, e *cache.Entry) (*cache.Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errStoreNoExpiry
	}
	// What this process stores is the registry's word (an answer, or the
	// follower's application of a change): its position is one the
	// registry reached.
	known := r.sawHead(max(e.AsOf, e.Version))
	d, recs, err := r.encode(e)
	if err != nil {
		return nil, fmt.Errorf("qcsdk/cache: encode entry %q: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if len(recs) > 0 {
		if err := r.writeRecords(ctx, recs, e.Expires.UnixMilli()); err != nil {
			return nil, r.fail("set", key, err)
		}
	}
	return r.set(ctx, key, e, header(e)+string(d), known, r.suspect(key))
}

// set runs the write script; suspect, the order key of a value distrust
// marked, is replaced if it is still what Redis holds and it claims more
// than head. In the same round trip it moves the fleet's head on to head
// when this store has not seen Redis hold it yet, so that the other
// servers know the position the entry claims is one the registry reached.
func (r *Store) set(ctx context.Context, key string, e *cache.Entry, val string, head int64, suspect string) (*cache.Entry, error) {
	keys := []string{r.key(key)}
	args := []any{val, e.Expires.UnixMilli(), ordered(r.clock().UnixNano()), position12(head), suspect}
	bump := head > r.sharedHead.Load()
	var cmd *redis.Cmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if bump {
			p.Eval(ctx, maxScript, []string{r.headKey()}, strconv.FormatInt(head, 10))
		}
		cmd = setScript.EvalSha(ctx, p, keys, args...)
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd = setScript.Run(ctx, r.rdb, keys, args...) // loads the script
		err = cmd.Err()
	}
	if err != nil {
		return nil, r.fail("set", key, err)
	}
	if bump {
		r.sawShared(head)
	}
	return r.setResult(ctx, key, e, val, head, cmd)
}

// setResult is what Redis holds under key after the write script ran as
// cmd: e if it won, else the entry it kept.
func (r *Store) setResult(ctx context.Context, key string, e *cache.Entry, val string, head int64, cmd *redis.Cmd) (*cache.Entry, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, r.fail("set", key, err)
	}
	if len(res) == 0 {
		return nil, r.fail("set", key, fmt.Errorf("unexpected script reply %v", res))
	}
	switch won, _ := res[0].(int64); won {
	case 1:
		return e, nil
	case 2:
		r.refused(key, head)
		return e, nil
	}
	var s string
	if len(res) == 2 {
		s, _ = res[1].(string)
	}
	held, missing, err := r.decode(s, nil)
	if err == nil && len(missing) > 0 {
		var recs map[string]string
		if recs, _, err = r.fetchRecords(ctx, missing, nil, false); err != nil {
			return nil, r.fail("set", key, err)
		}
		held, missing, err = r.decode(s, recs)
	}
	if err != nil || len(missing) > 0 {
		// What Redis holds is not an entry of ours, or its records are
		// gone, yet its fields claim a newer one: replace it.
		for _, k := range missing {
			r.written.forget(k)
		}
		r.corrupt.Add(1)
		if err := r.rdb.Del(ctx, r.key(key)).Err(); err != nil {
			return nil, r.fail("set", key, err)
		}
		return r.set(ctx, key, e, val, head, "")
	}
	if held.AsOf > head || held.Version > head {
		// Held claims more than the registry's answer just showed it has
		// reached: another server's newer answer, or a value no answer
		// could be. Hand back the registry's word, and judge the held
		// value on the key's next read and write (see beyond).
		r.distrust(key, held)
		return e, nil
	}
	return held, nil
}

// SetMany is Set for many keys, in two round trips whatever their
// number — one pipeline of the records they refer to that Redis may
// lack, one of the writes — where Set makes two for each: the answers of
// a batch call land together. It returns what Redis holds under each key
// afterwards, in order. An error means Redis could not be asked: no
// write is known to have happened.
func (r *Store) SetMany(ctx context.Context, keys []string, es []*cache.Entry) ([]*cache.Entry, error) {
	if len(keys) != len(es) {
		return nil, fmt.Errorf("qcsdk/cache/redisstore: SetMany of %d keys and %d entries", len(keys), len(es))
	}
	out := make([]*cache.Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	vals := make([]string, len(keys))
	heads := make([]int64, len(keys))
	suspects := make([]string, len(keys))
	recs := make(map[string]any)
	recExpires := make(map[string]int64)
	var top int64
	for i, e := range es {
		if e == nil || e.Expires.IsZero() {
			return nil, errStoreNoExpiry
		}
		heads[i] = r.sawHead(max(e.AsOf, e.Version))
		top = max(top, heads[i])
		d, rs, err := r.encode(e)
		if err != nil {
			return nil, fmt.Errorf("qcsdk/cache: encode entry %q: %w", keys[i], err)
		}
		vals[i] = header(e) + string(d)
		suspects[i] = r.suspect(keys[i])
		for k, v := range rs {
			recs[k] = v
			recExpires[k] = max(recExpires[k], e.Expires.UnixMilli())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.writeRecordsEach(ctx, recs, func(k string) int64 { return recExpires[k] }); err != nil {
		return nil, r.fail("set", strings.Join(keys, ","), err)
	}
	bump := top > r.sharedHead.Load()
	now := ordered(r.clock().UnixNano())
	cmds := make([]*redis.Cmd, len(keys))
	write := func(p redis.Pipeliner) error {
		if bump {
			p.Eval(ctx, maxScript, []string{r.headKey()}, strconv.FormatInt(top, 10))
		}
		for i, k := range keys {
			cmds[i] = setScript.EvalSha(ctx, p, []string{r.key(k)},
				vals[i], es[i].Expires.UnixMilli(), now, position12(heads[i]), suspects[i])
		}
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, write)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = setScript.Load(ctx, r.rdb).Err(); err == nil {
			_, err = r.rdb.Pipelined(ctx, write)
		}
	}
	if err != nil {
		return nil, r.fail("set", strings.Join(keys, ","), err)
	}
	if bump {
		r.sawShared(top)
	}
	for i, k := range keys {
		if out[i], err = r.setResult(ctx, k, es[i], vals[i], heads[i], cmds[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Stats counts what a Redis store found that it could not use.
type Stats struct {
	// Corrupt counts values under the store's prefix that were not
	// entries of its own (another type, truncated, not JSON, an earlier
	// layout): each was read as a miss, and replaced by the next write.
	Corrupt int64
	// Impossible counts entries that claimed a registry position or
	// version beyond the head the fleet has seen: each was refused and
	// replaced by the registry's answer (see WithLogger).
	Impossible int64
	// Head is the newest position of the registry's change sequence this
	// store knows of.
	Head int64
}

// Stats is a snapshot of the counters.
func (r *Store) Stats() Stats {
	return Stats{Corrupt: r.corrupt.Load(), Impossible: r.impossibleN.Load(), Head: r.head.Load()}
}

// Delete removes the entries under keys.
func (r *Store) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.key(k)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.rdb.Del(ctx, full...).Err(); err != nil {
		return r.fail("delete", strings.Join(keys, ","), err)
	}
	return nil
}

// followTimeout bounds the follower's operations — the lease, the cursor,
// the stamps — which no page waits for: ten times Timeout, and at least a
// second, so that a loaded Redis (or a cluster client loading its slots)
// does not cost the fleet its follower.
func (r *Store) followTimeout() time.Duration { return max(10*r.timeout, time.Second) }

// The follower's lease, its fencing counter and its cursor share a hash
// tag, so that on a Redis Cluster they live in one slot and one script
// can check the lease and save the cursor together.
func (r *Store) leaseKey() string  { return r.prefix + "{follow}:lease" }
func (r *Store) fenceKey() string  { return r.prefix + "{follow}:fence" }
func (r *Store) cursorKey() string { return r.prefix + "{follow}:cursor" }

// leaseScript takes the lease (ARGV[1] "0") when it is free, with a token
// one higher than any before, or renews it for the token holding it;
// 0 means another holds it, -1 that the token lost it. KEYS: lease,
// fence; ARGV: token, ttl in ms.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] ~= '0' then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(ARGV[1])
  end
  return -1
end
if cur then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- A fence lost with the data (Redis restarted empty) starts again from
  -- the time, in ms, so that its tokens stay above any issued before.
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] * 1000 + math.floor(now[2] / 1000))
end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[2])
return t
`)

// Lease takes or renews the follower's lease (see Leaser): a SET NX PX
// and a fencing counter, in one script.
func (r *Store) Lease(ctx context.Context, token int64, ttl time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	n, err := leaseScript.Run(ctx, r.rdb, []string{r.leaseKey(), r.fenceKey()},
		token, ttl.Milliseconds()).Int64()
	switch {
	case err != nil:
		return 0, r.fail("lease", "", err)
	case n == 0:
		return 0, cache.ErrLeaseHeld
	case n < 0:
		return 0, cache.ErrLeaseLost
	}
	return n, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
`)

// Release gives the lease up if token holds it.
func (r *Store) Release(ctx context.Context, token int64) error {
	ctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	if err := releaseScript.Run(ctx, r.rdb, []string{r.leaseKey()}, token).Err(); err != nil {
		return r.fail("lease", "", err)
	}
	return nil
}

// Cursor is the follower's saved cursor, "" for none.
func (r *Store) Cursor(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	c, err := r.rdb.Get(ctx, r.cursorKey()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", r.fail("cursor", "", err)
	}
	return c, nil
}

var saveCursorScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`)

// SaveCursor saves the cursor if token holds the lease.
func (r *Store) SaveCursor(ctx context.Context, token int64, cursor string) error {
	ctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	n, err := saveCursorScript.Run(ctx, r.rdb, []string{r.leaseKey(), r.cursorKey()}, token, cursor).Int64()
	if err != nil {
		return r.fail("cursor", "", err)
	}
	if n == 0 {
		return cache.ErrLeaseLost
	}
	return nil
}

// Close stops the subscriptions started by Subscribe and waits for their
// goroutines. It does not close the Redis client, which is the caller's.
// Close is idempotent; the store's other operations keep working.
func (r *Store) Close() error {
	r.mu.Lock()
	r.closed = true
	for s := range r.subs {
		s.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.pubs.Wait()
	return nil
}
