package cache

import (
	"context"
	"encoding/json"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// Entry is one cached answer of the registry, with what the cache needs to
// judge it: its version, validator and times. Entries are immutable once
// stored — a change stores a new Entry — so a store may hand the same
// *Entry to any number of readers. Never modify one you got from a Store.
//
// An Entry with no record (Status, Enterprise, Raw and Cursor all empty)
// is a tombstone: the follower learnt that the record changed to Version but not
// what it became. It keeps an older answer from being stored again, and a
// reader treats it as a miss.
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

	// Version is the registry's version of the record; a store never
	// replaces an entry with one of a lower Version.
	Version int64  `json:"version"`
	ETag    string `json:"etag,omitempty"`
	// Fetched is when the request for the answer was sent (for a
	// tombstone, when the change was learnt of); FreshUntil until when it
	// is served without asking the registry again; Expires when it may no
	// longer be served at all, not even while the registry is down. A
	// store drops the entry at Expires.
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
	// Set stores e under key until e.Expires — unless the store holds an
	// entry of a higher Version under key, which it keeps: freshness only
	// moves forward. It returns the entry the store holds afterwards.
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

// A Stamp says that the registry changed a maker's records (Maker set), or
// that changes may have been missed altogether (Maker empty: a follower
// resynchronising). It is a generation mark, checked when an entry is
// read, instead of an invalidation of each entry, which would need an
// index of every maker's entries that a failed write could leave
// incomplete.
//
// An entry of the maker whose answer was requested before At and whose
// Version is below Version predates the change: it is read as a tombstone,
// so that the next lookup asks the registry. An entry requested before the
// At of an empty-Maker stamp is read as stale: it is served while one
// refresh revalidates it.
type Stamp struct {
	Maker   string    `json:"maker,omitempty"`
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
}

// Apply returns e as s leaves it, for a Store to answer a read with: a
// tombstone when s is a change of e's maker that e predates, a copy stale
// from s.At when s is a resynchronisation that e predates, e itself
// otherwise. A Store of one's own reads its stamps and applies them with
// it, as the stores of this module do.
func (s Stamp) Apply(e *Entry) *Entry {
	switch {
	case e == nil || !s.predates(e):
		return e
	case s.Maker == "":
		return staled(e, s.At)
	default:
		return s.tombstoneFor(e)
	}
}

// predates reports whether e was answered before the change s records.
func (s Stamp) predates(e *Entry) bool {
	if s.Maker == "" {
		return e.Fetched.Before(s.At)
	}
	return e.Maker == s.Maker && e.Version < s.Version && e.Fetched.Before(s.At)
}

// join merges two stamps of one maker into one that every entry either
// reaches also reaches (and possibly a few more, which are then asked
// again: never fewer).
func (s Stamp) join(o Stamp) Stamp {
	s.Version = max(s.Version, o.Version)
	if o.At.After(s.At) {
		s.At = o.At
	}
	return s
}

// tombstoneFor is the tombstone a stamp leaves in place of e.
func (s Stamp) tombstoneFor(e *Entry) *Entry {
	return &Entry{Maker: e.Maker, Version: s.Version, Fetched: s.At, Expires: e.Expires}
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

// A LocalReader is a Store that holds entries in this process's memory
// and reads them without a context, an error or a round trip. A warm
// product page view is one such read: the cache asks a LocalReader first,
// so that a hit costs a map lookup and one reading of the clock — which
// costs more than the lookup — and goes to Get only when the store says
// so. It is optional, as MultiGetter is: a Store that lacks it is read
// with Get. Memory and Tiered implement it, and so does a store that
// embeds a *Memory.
type LocalReader interface {
	// ReadLocal returns what Get would return for key — the entry, or nil
	// — and the time by the store's clock it judged that at, with ok set;
	// or ok unset when only Get can answer (a copy this process must check
	// with the other servers first, or nothing held here).
	ReadLocal(key string) (e *Entry, now time.Time, ok bool)
}

// Replaces reports whether a Store may replace old with e under one key;
// otherwise it keeps old, so that freshness only moves forward. old may
// be nil (nothing held).
func (e *Entry) Replaces(old *Entry) bool { return newer(e, old) }

// newer reports whether e may replace old: a higher version, or the same
// version fetched later (a revalidation that renewed it). A tombstone gives
// way to any answer requested after the change was learnt of (or at the
// same instant, which only a virtual clock produces): the change
// may concern a record the answer does not carry (another commitment of
// the maker, say), so the answer's version can be lower and still be the
// registry's word after the change. It gives way as well to an answer of
// its version or higher, requested whenever: that answer already carries
// the change.
func newer(e, old *Entry) bool {
	if old == nil {
		return true
	}
	if old.Tombstone() && !e.Tombstone() && (!e.Fetched.Before(old.Fetched) || e.Version >= old.Version) {
		return true
	}
	if e.Version != old.Version {
		return e.Version > old.Version
	}
	return !e.Fetched.Before(old.Fetched)
}
