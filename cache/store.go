package cache

import (
	"cmp"
	"context"
	"encoding/json"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// Entry is one cached answer of the registry, with what the cache needs to
// judge it: the registry's position it reflects, its version, validator and
// times. Entries are immutable once stored — a change stores a new Entry —
// so a store may hand the same *Entry to any number of readers. Never
// modify one you got from a Store.
//
// An Entry with no record (Status, Enterprise, Raw and Cursor all empty)
// is a tombstone: the follower learnt that the maker's records changed at
// position AsOf, but not what they became. It keeps an answer from before
// that position from being stored again, and a reader treats it as a miss.
type Entry struct {
	Status     *client.ProductStatus `json:"status,omitempty"`
	Enterprise *client.Enterprise    `json:"enterprise,omitempty"`
	// Raw is the JSON of an enquiry read (a maker, a list page; see
	// Cache.Enterprise), "null" for a record the registry does not have.
	Raw json.RawMessage `json:"raw,omitempty"`
	// Cursor is the change feed position a follower has applied up to.
	Cursor string `json:"cursor,omitempty"`
	// Maker is the registry id of the enterprise the record belongs to, ""
	// for none (a product not on the list, a search): a Stamp of that
	// maker reaches the entry.
	Maker string `json:"maker,omitempty"`

	// AsOf is the position in the registry's change sequence the answer
	// reflects: every change up to it — the position the registry said it
	// answered at (client.Response.AsOf), or the answer's own version if
	// that is later, since an answer that shows a change reflects the
	// registry after it. It is the registry's clock, the one by which
	// entries are ordered (see Replaces); for a tombstone, the position
	// of the change it records.
	AsOf int64 `json:"as_of,omitempty"`
	// Version is the registry's version of the record.
	Version int64  `json:"version"`
	ETag    string `json:"etag,omitempty"`
	// Fetched is when the request for the answer was sent, by this
	// machine's clock, for a shopper to read ("last confirmed"); nothing
	// is ordered by it. FreshUntil is until when the entry is served
	// without asking the registry again; Expires when it may no longer be
	// served at all, not even while the registry is down. A store drops
	// the entry at Expires. These are local TTLs: the only use of wall
	// clocks.
	Fetched    time.Time `json:"fetched"`
	FreshUntil time.Time `json:"fresh_until"`
	Expires    time.Time `json:"expires"`
}

// Tombstone reports whether e records a change without its content.
func (e *Entry) Tombstone() bool {
	return e.Status == nil && e.Enterprise == nil && e.Raw == nil && e.Cursor == ""
}

// Store keeps entries under string keys until they expire. The memory
// store keeps them in this process; the Redis store shares them between
// every web server of a platform. Implementations are safe for concurrent
// use.
type Store interface {
	// Get returns the entry under key, or nil when there is none or it has
	// expired. An entry that a Stamp reached comes back as a tombstone (a
	// maker's change) or as stale, its FreshUntil no later than the stamp
	// (a resynchronisation): never as it was.
	Get(ctx context.Context, key string) (*Entry, error)
	// Set stores e under key until e.Expires — unless the entry the store
	// holds under key is as new or newer by the registry's order
	// (Entry.Replaces: position first, then answer over tombstone, then
	// version), which it keeps: freshness only moves forward. It returns
	// the entry the store holds afterwards.
	Set(ctx context.Context, key string, e *Entry) (*Entry, error)
	// Delete removes the entries under keys, whatever their version.
	Delete(ctx context.Context, keys ...string) error
	// Stamp records a change of one maker, or of anything, that the store
	// cannot apply entry by entry: it reaches every entry it concerns, on
	// every reader, at once and without listing them, so that no lost
	// write can hide an entry from it.
	Stamp(ctx context.Context, s Stamp) error
	// Close releases the store's resources and stops its goroutines.
	Close() error
}

// A MultiGetter is a Store that reads many keys at once. A listing page
// looks up dozens of products together; read one by one from a store
// across the network, they cost a round trip each, one after another, so
// the page waits for the sum of them. A MultiGetter answers the page in a
// fixed number of round trips instead. It is optional, as io.WriterTo is
// for an io.Writer: a Store that lacks it is read key by key with Get.
// Every store of this package implements it.
type MultiGetter interface {
	// GetMany returns the entries under keys, in order: for each key what
	// Get would return, nil where Get would return nil, with the same
	// stamp semantics (an entry a Stamp reached comes back a tombstone or
	// stale). An error means that no entry could be trusted: the slice is
	// then nil.
	GetMany(ctx context.Context, keys []string) ([]*Entry, error)
}

// A MultiSetter is a Store that writes many entries at once, as the
// answers of a batch call arrive together: across the network, in a
// fixed number of round trips rather than one or two a key. It is
// optional, as MultiGetter is; a Tiered store uses it when its shared
// tier has it, and the Redis store of package redisstore does.
type MultiSetter interface {
	// SetMany is Set for each key and entry, in order, and returns what
	// the store holds under each afterwards. An error means that no
	// write is known to have happened: the slice is then nil.
	SetMany(ctx context.Context, keys []string, es []*Entry) ([]*Entry, error)
}

// A Stamp says that the registry changed a maker's records at position Seq
// of its change sequence (Maker set), or that changes up to Seq may have
// been missed altogether (Maker empty: a follower resynchronising at the
// feed's head). It is a generation mark, checked when an entry is read,
// instead of an invalidation of each entry, which would need an index of
// every maker's entries that a failed write could leave incomplete.
//
// Stamps compare positions in the registry's sequence, never times: an
// entry of the maker whose AsOf is below Seq predates the change, whatever
// the clocks of the machines that fetched it and learnt of the change say.
// It is read as a tombstone, so that the next lookup asks the registry.
// An entry whose AsOf is below the Seq of an empty-Maker stamp is read as
// stale: served while one refresh revalidates it. Stamps of one maker
// join by the larger Seq, so recording one twice, or an older one late,
// changes nothing.
type Stamp struct {
	Maker string `json:"maker,omitempty"`
	Seq   int64  `json:"seq"`
}

// Apply returns e as s leaves it at now, for a Store to answer a read
// with: a tombstone when s is a change of e's maker that e predates, a
// copy stale from now when s is a resynchronisation that e predates (so
// that it is served while one refresh revalidates it), e itself
// otherwise. A Store of one's own reads its stamps and applies them with
// it, as the stores of this module do.
func (s Stamp) Apply(e *Entry, now time.Time) *Entry {
	switch {
	case e == nil || !s.predates(e):
		return e
	case s.Maker == "":
		return staled(e, now)
	default:
		return s.tombstoneFor(e)
	}
}

// predates reports whether e reflects the registry from before the change
// s records. A tombstone predates only a later change of its maker.
func (s Stamp) predates(e *Entry) bool {
	if s.Maker == "" {
		return !e.Tombstone() && e.AsOf < s.Seq
	}
	return e.Maker == s.Maker && e.AsOf < s.Seq
}

// join merges two stamps of one maker.
func (s Stamp) join(o Stamp) Stamp {
	s.Seq = max(s.Seq, o.Seq)
	return s
}

// tombstoneFor is the tombstone a stamp leaves in place of e.
func (s Stamp) tombstoneFor(e *Entry) *Entry {
	return &Entry{Maker: e.Maker, AsOf: s.Seq, Version: max(e.Version, s.Seq), Fetched: e.Fetched, Expires: e.Expires}
}

// staled is a copy of e that is stale from now on: served while one
// refresh revalidates it.
func staled(e *Entry, now time.Time) *Entry {
	if !now.Before(e.FreshUntil) {
		return e
	}
	cp := *e
	cp.FreshUntil = now
	return &cp
}

// Notifier is implemented by stores shared between processes (Redis): a
// write through one process tells the others which keys changed, so that
// each can check its own memory copies.
type Notifier interface {
	// Publish announces that the entries under keys changed.
	Publish(ctx context.Context, keys ...string) error
	// Subscribe calls fn with every announcement from another process
	// until ctx ends. It returns once the subscription is listening.
	Subscribe(ctx context.Context, fn func(Announcement)) error
}

// An Announcement tells a process what another one changed in a shared
// store.
type Announcement struct {
	Keys  []string // the entries under these keys changed
	Stamp *Stamp   // a Stamp was recorded
	// Lost says that the subscription was lost and re-established:
	// announcements made meanwhile are lost, and anything may have changed.
	Lost bool
}

// A localReader is a Store that holds entries in this process's memory
// and reads them without a context, an error or a round trip. A warm
// product page view is one such read: the cache asks a localReader first,
// so that a hit costs a map lookup and one reading of the clock — which
// costs more than the lookup — and goes to Get only when the store says
// so. A Store that lacks it is read with Get. Memory and Tiered
// implement it, and a store of one's own that embeds a *Memory has it
// by the embedding; no other store can, since the entries it reads are
// this package's own bookkeeping.
type localReader interface {
	// readLocal returns what Get would return for key — the entry, or nil
	// — and the time by the store's clock it judged that at, with ok set;
	// or ok unset when only Get can answer (a copy this process must check
	// with the other servers first, or nothing held here).
	readLocal(key string) (e *Entry, now time.Time, ok bool)
}

// Replaces reports whether a Store may replace old with e under one key;
// otherwise it keeps old, so that freshness only moves forward. old may
// be nil (nothing held).
//
// Entries are ordered by the registry's clock, never a machine's: the one
// that reflects the later position (AsOf) is newer, whatever its version
// (a maker delisted answers a product "not listed" at version 0, after a
// listing of a higher version). At one position an answer beats a
// tombstone, since it reflects the change the tombstone records, and a
// higher version the lower. Only then, at one position and version, does
// a later FreshUntil win: a revalidation that renewed the entry's local
// TTL. Equal is not newer: a copy never replaces its equal, so servers
// that hold one answer never write it over each other.
func (e *Entry) Replaces(old *Entry) bool { return newer(e, old) }

func newer(e, old *Entry) bool {
	if old == nil {
		return true
	}
	if c := order(e, old); c != 0 {
		return c > 0
	}
	return e.FreshUntil.After(old.FreshUntil)
}

// ahead reports whether e reflects more of the registry than old: newer
// by the registry's order alone, not by a renewed TTL. A server writes
// back to the shared tier only what is ahead of it: a copy that merely
// looks fresher here (its TTL renewed by this machine's clock, or not yet
// staled by a resynchronisation) is no knowledge the fleet lacks.
func ahead(e, old *Entry) bool { return old == nil || order(e, old) > 0 }

// order compares two entries by the registry's clock: the position they
// reflect, then an answer over a tombstone, then the version.
func order(e, old *Entry) int {
	if e.AsOf != old.AsOf {
		return cmp.Compare(e.AsOf, old.AsOf)
	}
	if et, ot := e.Tombstone(), old.Tombstone(); et != ot {
		if ot {
			return 1
		}
		return -1
	}
	return cmp.Compare(e.Version, old.Version)
}

// An errorCounter is a Store that handles some of its own failures
// instead of returning them, and counts them: a Tiered store serves from
// its memory tier when Redis fails, and its Get never errs. Cache.Stats
// adds the count to StoreErrors, so that an outage of any tier shows
// there. Only the stores of this package implement it: a store of one's
// own returns its errors.
type errorCounter interface {
	// handledErrors is how many operations failed and were handled so far.
	handledErrors() int64
}

// storeErrors is what s counted of its own failures, if it counts them.
func storeErrors(s Store) int64 {
	if ec, ok := s.(errorCounter); ok {
		return ec.handledErrors()
	}
	return 0
}
