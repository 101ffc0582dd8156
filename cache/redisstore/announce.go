package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// Announcements travel by pub/sub: PUBLISH on one Redis, sharded
// SPUBLISH on a Cluster, where the shard that owns the channel's slot
// delivers them itself. A plain PUBLISH on a cluster is relayed over the
// cluster bus to every node, and the relay has a tail: in a test on
// loopback (3 masters, 3 replicas) its slowest of 300 took 41 ms, a
// sharded one's 4.9 ms.
//
// A sharded channel lives on one shard, and while that shard fails over
// (until a replica is promoted: cluster-node-timeout and a little more)
// nothing it carries arrives. So that no revocation waits for one shard,
// on a Cluster every announcement goes out on two channels whose slots lie
// half the slot space apart — on different masters under any even
// allocation of slots — and each server listens on both. An announcement
// that arrives twice is applied twice, which changes nothing: a stamp
// joins by the larger position, a key is checked against Redis again.

type announcement struct {
	Node  string       `json:"node"`
	Keys  []string     `json:"keys,omitempty"`
	Stamp *cache.Stamp `json:"stamp,omitempty"`
}

// Publish announces on the channels that the entries under keys changed.
func (r *Store) Publish(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return r.announce(ctx, announcement{Node: r.node, Keys: keys})
}

// announce publishes a on every channel at once, and returns as soon as
// one took it — a channel whose shard is failing over does not hold up an
// announcement the other carries — or with the first error when none did.
// A publish still going on when it returns ends within the store's
// timeout; Close waits for it.
func (r *Store) announce(ctx context.Context, a announcement) error {
	msg, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // a publish under way finishes for the others' sake
	publish := func(ch string) error {
		pctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		if r.sharded {
			return r.rdb.SPublish(pctx, ch, msg).Err()
		}
		return r.rdb.Publish(pctx, ch, msg).Err()
	}
	errs := make(chan error, len(r.channels))
	r.mu.Lock()
	if r.closed || len(r.channels) == 1 {
		// One channel, or a closed store that starts no goroutine: in
		// turn.
		r.mu.Unlock()
		for _, ch := range r.channels {
			errs <- publish(ch)
		}
	} else {
		r.pubs.Add(len(r.channels))
		r.mu.Unlock()
		for _, ch := range r.channels {
			go func() {
				defer r.pubs.Done()
				errs <- publish(ch)
			}()
		}
	}
	var first error
	for range r.channels {
		err := <-errs
		if err == nil {
			return nil
		}
		first = cmp.Or(first, err)
	}
	what := strings.Join(a.Keys, ",")
	if a.Stamp != nil {
		what = "stamp " + a.Stamp.Maker
	}
	return r.fail("publish", what, first)
}

// Subscribe calls fn with every announcement published through another
// *Store value — another process, or another store in this one — until
// ctx ends or the store is closed. Announcements of keys published through
// this same *Store are not delivered to it: its writer already knows.
// Each *Store value is its own node, whatever process it lives in.
//
// Subscribe returns once Redis confirmed the subscription (on a Cluster,
// one of the two). fn is called one announcement at a time. Announcements
// made while a subscription's connection is down are lost: go-redis
// resubscribes on its own once Redis is back, and an Announcement with
// Lost set then says that anything may have changed. go-redis follows a
// channel's slot when a shard fails over or the slot moves.
func (r *Store) Subscribe(ctx context.Context, fn func(cache.Announcement)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.fail("subscribe", "", errors.New("store closed"))
	}
	r.mu.Unlock()

	// One channel of two may be on a shard that is down: the other
	// serves, and the first is subscribed to again in the background.
	subs := make([]*redis.PubSub, len(r.channels))
	var first error
	for i, ch := range r.channels {
		sub, err := r.listen(ctx, ch)
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		subs[i] = sub
	}
	if !slices.ContainsFunc(subs, func(s *redis.PubSub) bool { return s != nil }) {
		return first
	}
	ctx, stop := context.WithCancel(ctx)
	s := &redisSub{cancel: stop}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		stop()
		for _, sub := range subs {
			if sub != nil {
				_ = sub.Close()
			}
		}
		return r.fail("subscribe", "", errors.New("store closed"))
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()

	var one sync.Mutex // fn is called one announcement at a time
	deliver := func(a cache.Announcement) {
		one.Lock()
		defer one.Unlock()
		fn(a)
	}
	var wg sync.WaitGroup
	for i, ch := range r.channels {
		sub := subs[i]
		wg.Add(1)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer wg.Done()
			r.receive(ctx, ch, sub, deliver)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		wg.Wait()
		r.mu.Lock()
		delete(r.subs, s)
		r.mu.Unlock()
		stop()
	}()
	return nil
}

// receive delivers what arrives on one channel until ctx ends. sub is the
// subscription already made, nil when it failed: then it is made again
// until it succeeds.
func (r *Store) receive(ctx context.Context, channel string, sub *redis.PubSub, deliver func(cache.Announcement)) {
	if sub == nil {
		if sub = r.relisten(ctx, channel); sub == nil {
			return
		}
	}
	defer func() {
		if sub != nil { // nil when the store closed while resubscribing
			_ = sub.Close()
		}
	}()
	// With subscription messages: after the first, each one means that
	// go-redis re-established the connection, and announcements made
	// meanwhile are lost.
	ch := sub.ChannelWithSubscriptions()
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
					r.lost(ctx, deliver)
				case "sunsubscribe":
					// The channel's slot moved to another shard, which
					// unsubscribed us: subscribe again, there.
					_ = sub.Close()
					if sub = r.relisten(ctx, channel); sub == nil {
						return
					}
					ch = sub.ChannelWithSubscriptions()
					r.lost(ctx, deliver)
				}
			case *redis.Message:
				var a announcement
				if json.Unmarshal([]byte(m.Payload), &a) != nil {
					continue
				}
				switch {
				case a.Stamp != nil:
					if a.Node != r.node {
						r.noteStamp(*a.Stamp)
					}
					deliver(cache.Announcement{Stamp: a.Stamp})
				case a.Node != r.node && len(a.Keys) > 0:
					deliver(cache.Announcement{Keys: a.Keys})
				}
			}
		}
	}
}

// lost tells the subscriber that announcements may have been lost, and
// then the resynchronisation Redis holds: one announced while the
// subscription was down would otherwise stay unknown to the subscriber's
// memory tier, whose copies from before it are each as far along as
// Redis's (only staler), and so would be served fresh again.
//
// The read is tried again until Redis answers (or ctx ends): a link just
// back, or a loaded machine, can fail the first, and the subscriber has no
// other way to learn the resynchronisation. The retries run apart, so that
// the announcements behind them are not held up; a stamp is the same
// whenever it arrives.
func (r *Store) lost(ctx context.Context, deliver func(cache.Announcement)) {
	deliver(cache.Announcement{Lost: true})
	if r.deliverResync(ctx, deliver) {
		return
	}
	r.wg.Add(1) // under receive's own count: Close is not waiting on zero
	go func() {
		defer r.wg.Done()
		wait := 10 * time.Millisecond
		for {
			if !backoff.Sleep(ctx, wait) {
				return
			}
			if r.deliverResync(ctx, deliver) {
				return
			}
			wait = min(2*wait, time.Second)
		}
	}()
}

// deliverResync reads the resynchronisation Redis holds and delivers it,
// if there is one; false when Redis did not answer.
func (r *Store) deliverResync(ctx context.Context, deliver func(cache.Announcement)) bool {
	rctx, cancel := context.WithTimeout(ctx, r.followTimeout())
	defer cancel()
	cmd := r.rdb.Get(rctx, r.stampKey(""))
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false
	}
	if seq := position(cmd); seq > 0 {
		deliver(cache.Announcement{Stamp: &cache.Stamp{Seq: seq}})
	}
	return true
}

// listen subscribes to channel and waits for Redis to confirm it.
func (r *Store) listen(ctx context.Context, channel string) (*redis.PubSub, error) {
	// The PubSub is made with no channel, which connects nothing, and
	// then told the channel under the store's timeout: made with the
	// channel, it connects at once under its own context, which must
	// outlive this call, and a Redis that accepts connections and never
	// answers held it for go-redis's dial timeout (5 s) whatever ours.
	var sub *redis.PubSub
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var err error
	if r.sharded {
		sub = r.rdb.SSubscribe(context.WithoutCancel(ctx))
		err = sub.SSubscribe(cctx, channel)
	} else {
		sub = r.rdb.Subscribe(context.WithoutCancel(ctx))
		err = sub.Subscribe(cctx, channel)
	}
	if err == nil {
		_, err = sub.Receive(cctx)
	}
	if err != nil {
		_ = sub.Close()
		return nil, r.fail("subscribe", "", err)
	}
	return sub, nil
}

// relisten subscribes to channel again (its slot moved, or its shard was
// down when Subscribe ran), until it succeeds or ctx ends (nil): the
// cluster client may need a reload of its slots to find the new shard.
func (r *Store) relisten(ctx context.Context, channel string) *redis.PubSub {
	wait := 10 * time.Millisecond
	for {
		if cc, ok := r.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
		if sub, err := r.listen(ctx, channel); err == nil {
			return sub
		}
		wait = min(2*wait, time.Second)
	}
}

// farChannel is a channel whose slot lies half the slot space from
// channel's, so that on a Cluster whose masters hold even shares of the
// slots the two live on different masters. It is channel with a hash tag
// chosen for that: the first "{n}" whose slot is within a sixteenth of the
// slot space of the far point.
func farChannel(channel string) string {
	const slots = 16384
	target := (slot(channel) + slots/2) % slots
	for n := 0; ; n++ {
		c := "{" + strconv.Itoa(n) + "}" + channel
		d := (slot(c) - target + slots) % slots
		if d < slots/32 || d > slots-slots/32 {
			return c
		}
	}
}

// slot is a key's hash slot on a Redis Cluster: CRC16 (XMODEM) of the key,
// or of its hash tag, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
