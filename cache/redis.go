package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis store. The zero value is ready to use.
type RedisOptions struct {
	// Prefix is put before every Redis key the store uses; "" means
	// "qcsdk:". Give each platform (and each test) its own.
	Prefix string
	// Timeout bounds every Redis operation; 0 means 100ms. A slow Redis
	// then costs a page at most this much per operation.
	Timeout time.Duration
	// Clock decides expiry on Get and Set; nil is the real clock. Redis
	// itself drops an entry at its Expires by its own clock (PEXPIREAT).
	Clock Clock
	// Channel is the pub/sub channel of change announcements; "" means
	// Prefix+"changes".
	Channel string
}

// ErrStoreUnavailable is matched (errors.Is) by every error of a store
// whose backend failed: Redis down, slow past its timeout, or refusing a
// command.
var ErrStoreUnavailable = errors.New("qcsdk/cache: store unavailable")

// StoreError is a failed store operation. It matches ErrStoreUnavailable.
// Its message never contains the Redis password.
type StoreError struct {
	Op  string // "get", "set", "delete", "index", "members", "publish", "subscribe"
	Key string // the key or set, when the operation has one
	Err error
}

func (e *StoreError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("qcsdk/cache: redis %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("qcsdk/cache: redis %s %q: %v", e.Op, e.Key, e.Err)
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
var errStoreNoExpiry = errors.New("qcsdk/cache: an entry needs an Expires time")

// Redis is a Store shared by every web server of a platform, and a
// Notifier over Redis pub/sub.
//
// Each entry is a hash under Prefix+key with fields v (version), f (fetched
// time), t (tombstone), e (expiry, unix ms) and d (the Entry as JSON), and
// expires in Redis at the entry's Expires (PEXPIREAT). Set decides in a Lua
// script whether the entry it is given is newer than the one held, so that
// concurrent writers from any number of servers never let an older version
// win. Index sets live under Prefix+"index:"+set and expire a day after
// their last addition.
//
// Every operation is bounded by RedisOptions.Timeout through its context.
// For the bound to hold against a Redis that accepts connections but
// answers slowly, build the client with ContextTimeoutEnabled: true (the
// go-redis default uses its own ReadTimeout, 3s, instead).
type Redis struct {
	rdb     redis.UniversalClient
	prefix  string
	channel string
	timeout time.Duration
	clock   Clock
	node    string // identifies this *Redis in announcements
	secret  string // the client's password, redacted from errors

	records records // what Get decodes shares the copies of makers and commitments

	mu     sync.Mutex
	closed bool
	subs   map[*redisSub]struct{}
	wg     sync.WaitGroup
}

type redisSub struct {
	cancel context.CancelFunc
}

var (
	_ Store    = (*Redis)(nil)
	_ Notifier = (*Redis)(nil)
)

// NewRedis builds a Redis store on rdb. The store does not own rdb: Close
// stops the store's subscriptions, and the caller closes rdb afterwards.
func NewRedis(rdb redis.UniversalClient, opts RedisOptions) *Redis {
	r := &Redis{
		rdb:     rdb,
		prefix:  opts.Prefix,
		channel: opts.Channel,
		timeout: opts.Timeout,
		clock:   opts.Clock,
		subs:    make(map[*redisSub]struct{}),
	}
	if r.prefix == "" {
		r.prefix = "qcsdk:"
	}
	if r.channel == "" {
		r.channel = r.prefix + "changes"
	}
	if r.timeout <= 0 {
		r.timeout = 100 * time.Millisecond
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	r.node = hex.EncodeToString(id[:])
	switch c := rdb.(type) {
	case *redis.Client:
		r.secret = c.Options().Password
	case *redis.ClusterClient:
		r.secret = c.Options().Password
	case *redis.Ring:
		r.secret = c.Options().Password
	}
	return r
}

func (r *Redis) fail(op, key string, err error) error {
	if r.secret != "" && strings.Contains(err.Error(), r.secret) {
		err = &redactedError{err: err, secret: r.secret}
	}
	return &StoreError{Op: op, Key: key, Err: err}
}

func (r *Redis) key(k string) string { return r.prefix + k }

func (r *Redis) indexKey(set string) string { return r.prefix + "index:" + set }

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

// setScript stores ARGV's entry unless the held one is newer — the rule of
// newer — and returns {1, json} when it stored, {0, held json} when not.
// KEYS[1] the entry hash; ARGV: v, f, t, e (expiry ms), d (json), now ms.
var setScript = redis.NewScript(`
local old = redis.call('HMGET', KEYS[1], 'v', 'f', 't', 'e', 'd')
local v, f, t, e, d, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
if old[5] and old[4] and tonumber(old[4]) > now then
  local win
  if old[3] == '1' and t == '0' and f >= old[2] then
    win = true
  elseif v ~= old[1] then
    win = v > old[1]
  else
    win = f >= old[2]
  end
  if not win then
    return {0, old[5]}
  end
end
if e <= now then
  redis.call('DEL', KEYS[1])
  return {1, d}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', v, 'f', f, 't', t, 'e', ARGV[4], 'd', d)
redis.call('PEXPIREAT', KEYS[1], e)
return {1, d}
`)

// Get returns the entry under key, or nil when there is none or it has
// expired by the store's clock.
func (r *Redis) Get(ctx context.Context, key string) (*Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.rdb.HGet(ctx, r.key(key), "d").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, r.fail("get", key, err)
	}
	e := new(Entry)
	if err := json.Unmarshal(b, e); err != nil {
		return nil, r.fail("get", key, err)
	}
	if !r.clock.Now().Before(e.Expires) {
		return nil, nil
	}
	r.records.status(e.Status)
	e.Enterprise = r.records.enterprise(e.Enterprise)
	return e, nil
}

// Set stores e unless Redis holds a newer entry under key, and returns the
// entry Redis holds afterwards (e itself when it won).
func (r *Redis) Set(ctx context.Context, key string, e *Entry) (*Entry, error) {
	if e == nil || e.Expires.IsZero() {
		return nil, errStoreNoExpiry
	}
	d, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("qcsdk/cache: encode entry %q: %w", key, err)
	}
	tomb := "0"
	if e.Tombstone() {
		tomb = "1"
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := setScript.Run(ctx, r.rdb, []string{r.key(key)},
		ordered(e.Version), ordered(fetchedNanos(e.Fetched)), tomb,
		e.Expires.UnixMilli(), string(d), r.clock.Now().UnixMilli()).Slice()
	if err != nil {
		return nil, r.fail("set", key, err)
	}
	if len(res) != 2 {
		return nil, r.fail("set", key, fmt.Errorf("unexpected script reply %v", res))
	}
	if won, _ := res[0].(int64); won == 1 {
		return e, nil
	}
	s, _ := res[1].(string)
	held := new(Entry)
	if err := json.Unmarshal([]byte(s), held); err != nil {
		return nil, r.fail("set", key, err)
	}
	return held, nil
}

// Delete removes the entries under keys.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
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

// indexTTL is how long an index set lives after its last addition.
const indexTTL = 24 * time.Hour

// Index adds key to a set, which expires a day after its last addition.
func (r *Redis) Index(ctx context.Context, set, key string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ik := r.indexKey(set)
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, ik, r.key(key))
		p.Expire(ctx, ik, indexTTL)
		return nil
	})
	if err != nil {
		return r.fail("index", set, err)
	}
	return nil
}

// Members lists a set's keys.
func (r *Redis) Members(ctx context.Context, set string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ms, err := r.rdb.SMembers(ctx, r.indexKey(set)).Result()
	if err != nil {
		return nil, r.fail("members", set, err)
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if k, ok := strings.CutPrefix(m, r.prefix); ok {
			out = append(out, k)
		}
	}
	return out, nil
}

type announcement struct {
	Node string   `json:"node"`
	Keys []string `json:"keys"`
}

// Publish announces on the channel that the entries under keys changed.
func (r *Redis) Publish(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	msg, err := json.Marshal(announcement{Node: r.node, Keys: keys})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.rdb.Publish(ctx, r.channel, msg).Err(); err != nil {
		return r.fail("publish", strings.Join(keys, ","), err)
	}
	return nil
}

// Subscribe calls fn with the keys of every announcement published through
// another *Redis value — another process, or another store in this one —
// until ctx ends or the store is closed. Announcements published through
// this same *Redis are not delivered to it: its writer already knows. Each
// *Redis value is its own node, whatever process it lives in.
//
// Subscribe returns once Redis confirmed the subscription. fn runs on one
// goroutine, one announcement at a time. Announcements made while the
// connection to Redis is down are lost: go-redis resubscribes on its own
// once Redis is back, and fn(nil) then says that any key may have changed.
func (r *Redis) Subscribe(ctx context.Context, fn func(keys []string)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.fail("subscribe", "", errors.New("store closed"))
	}
	r.mu.Unlock()

	sub := r.rdb.Subscribe(context.WithoutCancel(ctx), r.channel)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	_, err := sub.Receive(cctx)
	cancel()
	if err != nil {
		_ = sub.Close()
		return r.fail("subscribe", "", err)
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
		defer sub.Close()
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
					if m.Kind == "subscribe" {
						fn(nil)
					}
				case *redis.Message:
					var a announcement
					if json.Unmarshal([]byte(m.Payload), &a) != nil || a.Node == r.node || len(a.Keys) == 0 {
						continue
					}
					fn(a.Keys)
				}
			}
		}
	}()
	return nil
}

// Close stops the subscriptions started by Subscribe and waits for their
// goroutines. It does not close the Redis client, which is the caller's.
// Close is idempotent; the store's other operations keep working.
func (r *Redis) Close() error {
	r.mu.Lock()
	r.closed = true
	for s := range r.subs {
		s.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}
