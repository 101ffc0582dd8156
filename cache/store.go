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
	// expired.
	Get(ctx context.Context, key string) (*Entry, error)
	// Set stores e under key until e.Expires — unless the store holds an
	// entry of a higher Version under key, which it keeps: freshness only
	// moves forward. It returns the entry the store holds afterwards.
	Set(ctx context.Context, key string, e *Entry) (*Entry, error)
	// Delete removes the entries under keys, whatever their version.
	Delete(ctx context.Context, keys ...string) error
	// Index adds key to the named set, and Members lists a set's keys, so
	// that a change naming an enterprise can find every cached product of
	// that enterprise. Members may list keys whose entries are gone.
	Index(ctx context.Context, set, key string) error
	Members(ctx context.Context, set string) ([]string, error)
	// Close releases the store's resources and stops its goroutines.
	Close() error
}

// Notifier is implemented by stores shared between processes (Redis): a
// write through one process tells the others which keys changed, so that
// each can drop its own memory copies.
type Notifier interface {
	// Publish announces that the entries under keys changed.
	Publish(ctx context.Context, keys ...string) error
	// Subscribe calls fn with the keys of every announcement, from any
	// process, until ctx ends. It returns once the subscription is
	// listening. If the subscription is lost and re-established, the
	// announcements made meanwhile are lost too, and fn(nil) says so: any
	// key may have changed.
	Subscribe(ctx context.Context, fn func(keys []string)) error
}

// Clock tells the time. The cache reads it for every freshness decision, so
// that tests and simulations can run it virtually instead of sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// newer reports whether e may replace old: a higher version, or the same
// version fetched later (a revalidation that renewed it). A tombstone gives
// way to any answer requested after the change was learnt of (or at the
// same instant, which only a virtual clock produces): the change
// may concern a record the answer does not carry (another commitment of
// the maker, say), so the answer's version can be lower and still be the
// registry's word after the change.
func newer(e, old *Entry) bool {
	if old == nil {
		return true
	}
	if old.Tombstone() && !e.Tombstone() && !e.Fetched.Before(old.Fetched) {
		return true
	}
	if e.Version != old.Version {
		return e.Version > old.Version
	}
	return !e.Fetched.Before(old.Fetched)
}
