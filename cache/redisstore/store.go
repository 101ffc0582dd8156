package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/internal/intern"
)

// An Option configures a Redis store. A value out of range leaves the
// default in place: New cannot fail.
type Option func(*Store)

// WithPrefix is put before every Redis key the store uses (default
// "qcsdk:"). Give each platform, and each test, its own.
func WithPrefix(p string) Option {
	return func(r *Store) {
		if p != "" {
			r.prefix = p
		}
	}
}

// WithTimeout bounds every Redis operation a page may wait for (default
// 100 ms). A slow Redis then costs a page at most this much per
// operation. The follower's operations (the lease, the cursor, the
// stamps), which no page waits for, get ten times as long, and at least a
// second.
func WithTimeout(d time.Duration) Option {
	return func(r *Store) {
		if d > 0 {
			r.timeout = d
		}
	}
}

// WithClock sets the clock that decides expiry on Get and Set (default the
// real clock). Redis itself drops an entry at its Expires by its own clock
// (PEXPIREAT).
func WithClock(now func() time.Time) Option {
	return func(r *Store) {
		if now != nil {
			r.clock = now
		}
	}
}

// WithChannel sets the pub/sub channel of change announcements (default
// the prefix and "changes").
func WithChannel(ch string) Option {
	return func(r *Store) {
		if ch != "" {
			r.channel = ch
		}
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

func (e *StoreError) Unwrap() error { return e.Err }

// Is makes every StoreError match ErrStoreUnavailable.
func (e *StoreError) Is(target error) bool { return target == ErrStoreUnavailable }

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
// Each entry is a string under Prefix+key: a fixed-width header (version,
// fetched time, tombstone flag, expiry) and the entry as compact JSON, its
// maker's and its commitment's records by reference (see redisEntry); it
// expires in Redis at the entry's Expires. Set decides in a Lua script
// whether the entry it is given is newer than the one held, so that
// concurrent writers from any number of servers never let an older version
// win. Stamps live in one hash, Prefix+"stamps", a field per maker (and
// "*" for a resynchronisation), each the highest version and latest time
// recorded; a Get reads the fields that concern the entry it found. The
// hash holds one short field per maker that ever changed, and is not
// pruned: about 60 bytes a maker.
//
// Every operation is bounded by WithTimeout through its context.
// For the bound to hold against a Redis that accepts connections but
// answers slowly, build the client with ContextTimeoutEnabled: true (the
// go-redis default uses its own ReadTimeout, 3s, instead).
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	channel string
	timeout time.Duration
	clock   func() time.Time
	node    string // identifies this *Store in announcements
	sharded bool   // announce by sharded pub/sub: rdb is a cluster client
	secret  string // the client's password, redacted from errors

	records intern.Records // what Get decodes shares the copies of makers and commitments
	written written        // the records this store wrote, and until when
	corrupt atomic.Int64

	mu     sync.Mutex
	closed bool
	subs   map[*redisSub]struct{}
	wg     sync.WaitGroup
}

type redisSub struct {
	cancel context.CancelFunc
}

var _ cache.Shared = (*Store)(nil)

// New builds a Redis store on rdb. The store does not own rdb: Close
// stops the store's subscriptions, and the caller closes rdb afterwards.
//
// rdb may be a Redis Cluster client. When a master dies and its replica
// takes over, a cluster client learns the new layout from a MOVED reply,
// which the store's short timeouts may not leave time for, or from its
// periodic reload (ClusterStateReloadInterval, 60 s by default): set it to
// a second or two, so that the fleet uses the promoted replica within that
// time rather than within a minute. The reload is lazy (it runs with
// traffic, not on a ticker).
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	r := &Store{
		rdb:     rdb,
		prefix:  "qcsdk:",
		timeout: 100 * time.Millisecond,
		clock:   time.Now,
		subs:    make(map[*redisSub]struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	if r.channel == "" {
		r.channel = r.prefix + "changes"
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	r.node = hex.EncodeToString(id[:])
	switch c := rdb.(type) {
	case *redis.Client:
		r.secret = c.Options().Password
	case *redis.ClusterClient:
		r.secret = c.Options().Password
		r.sharded = true
	case *redis.Ring:
		r.secret = c.Options().Password
	}
	return r
}

func (r *Store) fail(op, key string, err error) error {
	if r.secret != "" && strings.Contains(err.Error(), r.secret) {
		err = &redactedError{err: err, secret: r.secret}
	}
	return &StoreError{Op: op, Key: key, Err: err}
}

func (r *Store) key(k string) string { return r.prefix + k }

// ordered encodes an int64 as a fixed-width decimal string whose
// byte order is the numbers' order, so that the Lua script (whose numbers
// are doubles) compares versions and nanosecond times exactly.
func ordered(n int64) string {
	return fmt.Sprintf("%020d", uint64(n)^(1<<63))
}

func fetchedNanos(t time.Time) int64 {
	if t.IsZero() {
		return -1 << 63
	}
	return t.UnixNano()
}

// An entry's value in Redis is a fixed-width header — version, fetched
// time (Unix ns), tombstone flag and expiry (Unix ms), the numbers as
// ordered — and then the entry's JSON (see redisEntry). One string keeps
// an entry in one allocation in Redis; a hash of long values would cost a
// dictionary per entry.
const (
	hdrVersion = 20
	hdrFetched = 40
	hdrTomb    = 41
	hdrLen     = 61
)

// setScript stores ARGV's entry unless the held one is newer — the rule of
// newer — and returns {1} when it stored, {0, held value} when not.
// KEYS[1] the entry; ARGV: the value (header and JSON), expiry in ms, now
// as ordered ms.
var setScript = redis.NewScript(`
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
end
local new, exp, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local old = redis.call('GET', KEYS[1])
if old and string.len(old) >= 61 and string.sub(old, 42, 61) > now then
  local v, f, t = string.sub(new, 1, 20), string.sub(new, 21, 40), string.sub(new, 41, 41)
  local ov, of, ot = string.sub(old, 1, 20), string.sub(old, 21, 40), string.sub(old, 41, 41)
  local win
  if ot == '1' and t == '0' and (f >= of or v >= ov) then
    win = true
  elseif v ~= ov then
    win = v > ov
  else
    win = f >= of
  end
  if not win then
    return {0, old}
  end
end
if string.sub(new, 42, 61) <= now then
  redis.call('DEL', KEYS[1])
  return {1}
end
redis.call('SET', KEYS[1], new, 'PXAT', exp)
return {1}
`)

// header is the fixed-width start of an entry's value.
func header(e *cache.Entry) string {
	t := "0"
	if e.Tombstone() {
		t = "1"
	}
	return ordered(e.Version) + ordered(fetchedNanos(e.Fetched)) + t + ordered(e.Expires.UnixMilli())
}

// unordered reads back a number that ordered wrote.
func unordered(s string) (int64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return int64(n ^ 1<<63), err == nil
}

// split reads an entry's value: its version and fetched time from the
// header, and the JSON after it.
func split(val string) (version int64, fetched time.Time, d []byte, ok bool) {
	if len(val) < hdrLen {
		return 0, time.Time{}, nil, false
	}
	v, ok1 := unordered(val[:hdrVersion])
	f, ok2 := unordered(val[hdrVersion:hdrFetched])
	if !ok1 || !ok2 {
		return 0, time.Time{}, nil, false
	}
	if f != -1<<63 {
		fetched = time.Unix(0, f)
	}
	return v, fetched, []byte(val[hdrLen:]), true
}

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
	cmds := make([]*redis.StringCmd, len(keys))
	_, perr := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, r.key(k))
		}
		return nil
	})
	// Each command carries its own error; the pipeline's is the first of
	// them — or one of its own that go-redis leaves off the commands when
	// Redis refused the pipeline with a reply (a failed AUTH, say), which
	// fails every key.
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

	// What each found entry still needs: the records this process lacks,
	// and the stamps hash's fields that concern it — the resync field,
	// then its maker's, each read once for the whole page.
	type found struct {
		i       int
		val     string
		e       *cache.Entry
		missing []string
		maker   int // its maker's index in fields; 0 for none
	}
	var (
		todo    []found
		missing []string // the records to fetch, each once
		asked   map[string]struct{}
		fields  []string
		fieldOf map[string]int
		now     = r.clock()
	)
	for i, c := range cmds {
		val, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil { // WRONGTYPE: not ours, a miss, and the next Set replaces it
			r.corrupt.Add(1)
			continue
		}
		e, miss, err := r.decode(val, nil)
		if err != nil {
			r.corrupt.Add(1) // truncated, or written by something else
			continue
		}
		if !now.Before(e.Expires) {
			continue
		}
		f := found{i: i, val: val, e: e, missing: miss}
		if !e.Tombstone() {
			if fields == nil {
				fields, fieldOf = []string{resyncField}, make(map[string]int)
			}
			if e.Maker != "" {
				j, ok := fieldOf[e.Maker]
				if !ok {
					j = len(fields)
					fields = append(fields, e.Maker)
					fieldOf[e.Maker] = j
				}
				f.maker = j
			}
		}
		if len(miss) == 0 && e.Tombstone() {
			out[i] = e
			continue
		}
		for _, k := range miss {
			if _, ok := asked[k]; !ok {
				if asked == nil {
					asked = make(map[string]struct{})
				}
				asked[k] = struct{}{}
				missing = append(missing, k)
			}
		}
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return out, nil
	}
	recs, stamps, err := r.fetchRecords(ctx, missing, fields)
	if err != nil {
		return nil, r.fail("get", strings.Join(keys, ","), err)
	}
	for _, f := range todo {
		e := f.e
		if len(f.missing) > 0 {
			var miss []string
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
		var resync, maker any
		if len(stamps) > 0 {
			resync = stamps[0]
			if f.maker > 0 {
				maker = stamps[f.maker]
			}
		}
		out[f.i] = stamped(e, resync, maker)
	}
	return out, nil
}

// wrongType reports a value of another type than a string under an
// entry's key: not one of ours.
func wrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// resyncField is the field of the stamps hash that holds the
// empty-Maker stamp: no registry id contains a '*'.
const resyncField = "*"

// stamped returns e as the stamps read for it make it: a tombstone when
// its maker changed after it was answered, stale when a follower
// resynchronised after it was answered, else e itself. resync and maker
// are the stamps hash's resyncField and e.Maker fields as HMGET read
// them, nil when not read or absent.
func stamped(e *cache.Entry, resync, maker any) *cache.Entry {
	if s, ok := decodeStamp(e.Maker, maker); ok && e.Maker != "" {
		if t := s.Apply(e); t != e {
			return t
		}
	}
	if s, ok := decodeStamp("", resync); ok {
		return s.Apply(e)
	}
	return e
}

func (r *Store) stampsKey() string { return r.prefix + "stamps" }

// decodeStamp reads a stamp as stampScript stores it.
func decodeStamp(maker string, v any) (cache.Stamp, bool) {
	s, _ := v.(string)
	ver, at, ok := strings.Cut(s, ":")
	if !ok {
		return cache.Stamp{}, false
	}
	vn, err1 := strconv.ParseUint(ver, 10, 64)
	an, err2 := strconv.ParseUint(at, 10, 64)
	if err1 != nil || err2 != nil {
		return cache.Stamp{}, false
	}
	return cache.Stamp{Maker: maker, Version: int64(vn ^ 1<<63), At: time.Unix(0, int64(an^1<<63))}, true
}

// stampScript joins a stamp with the one held for its field (the higher
// version, the later time; see Stamp.join). KEYS[1] the stamps hash;
// ARGV: field, version, time (both as ordered).
var stampScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
local v, a = ARGV[2], ARGV[3]
if old and string.len(old) == 41 then
  local ov, oa = string.sub(old, 1, 20), string.sub(old, 22, 41)
  if ov > v then v = ov end
  if oa > a then a = oa end
end
redis.call('HSET', KEYS[1], ARGV[1], v .. ':' .. a)
return 1
`)

// Stamp records s in Redis, where every later Get of any server reads it,
// and announces it, so that every Tiered store applies it to its memory
// tier at once.
func (r *Store) Stamp(ctx context.Context, s cache.Stamp) error {
	field := s.Maker
	if field == "" {
		field = resyncField
	}
	tctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	if err := stampScript.Run(tctx, r.rdb, []string{r.stampsKey()},
		field, ordered(s.Version), ordered(s.At.UnixNano())).Err(); err != nil {
		return r.fail("stamp", s.Maker, err)
	}
	return r.announce(ctx, announcement{Node: r.node, Stamp: &s})
}

// Set stores e unless Redis holds a newer entry under key, and returns the
// entry Redis holds afterwards (e itself when it won).
func (r *Store) Set(ctx context.Context, key string, e *cache.Entry) (*cache.Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errStoreNoExpiry
	}
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
	res, err := setScript.Run(ctx, r.rdb, []string{r.key(key)},
		header(e)+string(d), e.Expires.UnixMilli(), ordered(r.clock().UnixMilli())).Slice()
	if err != nil {
		return nil, r.fail("set", key, err)
	}
	if len(res) == 0 {
		return nil, r.fail("set", key, fmt.Errorf("unexpected script reply %v", res))
	}
	if won, _ := res[0].(int64); won == 1 {
		return e, nil
	}
	var s string
	if len(res) == 2 {
		s, _ = res[1].(string)
	}
	held, missing, err := r.decode(s, nil)
	if err == nil && len(missing) > 0 {
		var recs map[string]string
		if recs, _, err = r.fetchRecords(ctx, missing, nil); err != nil {
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
		return r.Set(ctx, key, e)
	}
	return held, nil
}

// Stats counts what a Redis store found that it could not use.
type Stats struct {
	// Corrupt counts values under the store's prefix that were not
	// entries of its own (another type, truncated, not JSON): each was
	// read as a miss, and replaced by the next write.
	Corrupt int64
}

// Stats is a snapshot of the counters.
func (r *Store) Stats() Stats { return Stats{Corrupt: r.corrupt.Load()} }

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

type announcement struct {
	Node  string       `json:"node"`
	Keys  []string     `json:"keys,omitempty"`
	Stamp *cache.Stamp `json:"stamp,omitempty"`
}

// Publish announces on the channel that the entries under keys changed.
func (r *Store) Publish(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return r.announce(ctx, announcement{Node: r.node, Keys: keys})
}

func (r *Store) announce(ctx context.Context, a announcement) error {
	msg, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	pub := r.rdb.Publish
	if r.sharded {
		pub = r.rdb.SPublish
	}
	if err := pub(ctx, r.channel, msg).Err(); err != nil {
		what := strings.Join(a.Keys, ",")
		if a.Stamp != nil {
			what = "stamp " + a.Stamp.Maker
		}
		return r.fail("publish", what, err)
	}
	return nil
}

// Subscribe calls fn with every announcement published through another
// *Redis value — another process, or another store in this one — until
// ctx ends or the store is closed. Announcements of keys published through
// this same *Redis are not delivered to it: its writer already knows. Each
// *Redis value is its own node, whatever process it lives in.
//
// Subscribe returns once Redis confirmed the subscription. fn runs on one
// goroutine, one announcement at a time. Announcements made while the
// connection to Redis is down are lost: go-redis resubscribes on its own
// once Redis is back, and an Announcement with Lost set then says that
// anything may have changed.
//
// On one Redis the announcements travel by PUBLISH; on a Redis Cluster by
// sharded pub/sub (SPUBLISH, Redis 7), which the shard that owns the
// channel's slot delivers itself. A plain PUBLISH on a cluster is relayed
// over the cluster bus to every node, and the relay has a tail: in a test
// on loopback (3 masters, 3 replicas) its slowest of 300 took 41 ms, a
// sharded one's 4.9 ms. go-redis follows the channel's slot when a shard
// fails over or the slot moves, and the subscription's return says that
// announcements may have been lost.
func (r *Store) Subscribe(ctx context.Context, fn func(cache.Announcement)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.fail("subscribe", "", errors.New("store closed"))
	}
	r.mu.Unlock()

	sub, err := r.listen(ctx)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	s := &redisSub{cancel: stop}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		stop()
		_ = sub.Close()
		return r.fail("subscribe", "", errors.New("store closed"))
	}
	r.subs[s] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()

	// With subscription messages: after the first, each one means that
	// go-redis re-established the connection, and announcements made
	// meanwhile are lost.
	ch := sub.ChannelWithSubscriptions()
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.subs, s)
			r.mu.Unlock()
			stop()
		}()
		defer func() {
			if sub != nil { // nil when the store closed while resubscribing
				_ = sub.Close()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *redis.Subscription:
					switch m.Kind {
					case "subscribe", "ssubscribe":
						fn(cache.Announcement{Lost: true})
					case "sunsubscribe":
						// The channel's slot moved to another shard, which
						// unsubscribed us: subscribe again, there.
						_ = sub.Close()
						if sub = r.relisten(ctx); sub == nil {
							return
						}
						ch = sub.ChannelWithSubscriptions()
						fn(cache.Announcement{Lost: true})
					}
				case *redis.Message:
					var a announcement
					if json.Unmarshal([]byte(m.Payload), &a) != nil {
						continue
					}
					switch {
					case a.Stamp != nil:
						fn(cache.Announcement{Stamp: a.Stamp})
					case a.Node != r.node && len(a.Keys) > 0:
						fn(cache.Announcement{Keys: a.Keys})
					}
				}
			}
		}
	}()
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

// listen subscribes to the channel and waits for Redis to confirm it.
func (r *Store) listen(ctx context.Context) (*redis.PubSub, error) {
	subscribe := r.rdb.Subscribe
	if r.sharded {
		subscribe = r.rdb.SSubscribe
	}
	sub := subscribe(context.WithoutCancel(ctx), r.channel)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	_, err := sub.Receive(cctx)
	cancel()
	if err != nil {
		_ = sub.Close()
		return nil, r.fail("subscribe", "", err)
	}
	return sub, nil
}

// relisten subscribes again after the channel's slot moved, until it
// succeeds or ctx ends (nil): the cluster client may need a reload of its
// slots to find the new shard.
func (r *Store) relisten(ctx context.Context) *redis.PubSub {
	wait := 10 * time.Millisecond
	for {
		if cc, ok := r.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if sub, err := r.listen(ctx); err == nil {
			return sub
		}
		wait = min(2*wait, time.Second)
	}
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
	return nil
}
