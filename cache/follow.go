package cache

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// CursorKey is where Follow keeps the change-feed position it has applied
// up to, in the store it follows into.
const CursorKey = "follow\x1fcursor"

// FollowOptions tune Follow. The zero value is ready to use.
type FollowOptions struct {
	// Clock stamps the cursor entry and the tombstones; nil is the real
	// clock.
	Clock Clock
	// Logger reports feed and store failures at warn level; nil is silent.
	Logger *slog.Logger
	// Feed tunes the long poll; nil means the client's defaults.
	Feed *client.FollowOptions
	// Applied, if set, is called after each event is applied and its
	// cursor saved — for metrics, and for tests that wait on propagation.
	Applied func(client.Event)
}

// Follow keeps a store current from the registry's change feed until ctx
// ends, and returns ctx's error. It resumes from the cursor saved in the
// store, applies each event (see Apply), then saves the event's cursor, so
// that a restart neither loses an event nor applies one twice to any
// effect: applying is idempotent, guarded by record versions. API failures
// are retried by the feed; store failures are retried here with backoff,
// holding the cursor where it is, so nothing is skipped while Redis is
// down.
//
// Give it the shared store (Redis) directly, not a Tiered one: a Tiered
// store falls back to its memory tier when Redis fails, and the fleet
// would not see the change. With a store that is a Notifier, every change
// is announced, so that each web server drops its memory copy.
func Follow(ctx context.Context, api *client.Client, store Store, opts *FollowOptions) error {
	if opts == nil {
		opts = &FollowOptions{}
	}
	clk := opts.Clock
	if clk == nil {
		clk = realClock{}
	}
	var after string
	if err := retry(ctx, opts.Logger, "read the follow cursor", func() error {
		e, err := store.Get(ctx, CursorKey)
		if e != nil {
			after = e.Cursor
		}
		return err
	}); err != nil {
		return err
	}
	for ev, err := range api.Changes.Follow(ctx, after, opts.Feed) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if opts.Logger != nil {
				opts.Logger.Warn("qcsdk/cache: change feed failed; resuming", "error", err)
			}
			continue
		}
		if err := retry(ctx, opts.Logger, "apply a change", func() error { return apply(ctx, store, ev, clk.Now()) }); err != nil {
			return err
		}
		if err := retry(ctx, opts.Logger, "save the follow cursor", func() error {
			return saveCursor(ctx, store, ev, clk.Now())
		}); err != nil {
			return err
		}
		if opts.Applied != nil {
			opts.Applied(ev)
		}
	}
	return ctx.Err()
}

func saveCursor(ctx context.Context, store Store, ev client.Event, now time.Time) error {
	_, err := store.Set(ctx, CursorKey, &Entry{
		Cursor:     ev.Cursor,
		Version:    eventVersion(ev),
		Fetched:    now,
		FreshUntil: now,
		Expires:    now.Add(90 * 24 * time.Hour),
	})
	return err
}

// retry runs op until it succeeds or ctx ends, waiting with full jitter
// between 100 ms and 10 s.
func retry(ctx context.Context, logger *slog.Logger, what string, op func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if logger != nil {
			logger.Warn("qcsdk/cache: failed to "+what+"; retrying", "error", err)
		}
		t := time.NewTimer(rand.N(wait) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// eventVersion is the version of the record an event carries: the
// registry's version after the change.
func eventVersion(ev client.Event) int64 {
	switch {
	case ev.Commitment != nil:
		return ev.Commitment.Version
	case ev.Inspection != nil:
		return ev.Inspection.Version
	case ev.Enterprise != nil:
		return ev.Enterprise.Version
	case ev.Case != nil:
		return ev.Case.Version
	case ev.Category != nil:
		return ev.Category.Version
	}
	return 0
}

// effect is what an event does to one cached product status.
type effect int

const (
	unaffected effect = iota // the change is not about this product
	updated                  // the change is applied to a copy of the status
	unknown                  // the change may concern it, in ways only the API can tell
)

// Apply brings the cached entries a change concerns up to date: every
// cached product of the enterprise the change names (found through the
// store's index), and for an inspection the product with that GTIN. Where
// the change can be applied exactly — a commitment's new state, a new
// inspection, a renamed or delisted maker — the entry is replaced by an
// updated copy carrying the change's version, so the page shows it at once
// without asking the API. Where it cannot — a new commitment that may
// cover products it did not before — a tombstone takes the entry's place,
// so the next lookup asks the API and no older answer can come back.
//
// Apply is idempotent: applying an event twice, or an older one after a
// newer, changes nothing. Webhook pushes and the change feed both end here.
func Apply(ctx context.Context, store Store, ev client.Event) error {
	return apply(ctx, store, ev, time.Now())
}

// apply is Apply with the time the change is learnt of, which stamps its
// tombstones (Follow's clock, so that tests can run it virtually).
func apply(ctx context.Context, store Store, ev client.Event, now time.Time) error {
	v := eventVersion(ev)
	var entID string
	var keys []string
	var fx func(st *client.ProductStatus) (*client.ProductStatus, effect)
	switch {
	case ev.Commitment != nil:
		c := ev.Commitment
		entID = c.EnterpriseID
		fx = func(st *client.ProductStatus) (*client.ProductStatus, effect) {
			if st.Commitment != nil && st.Commitment.ID == c.ID {
				cp := *st
				cp.Commitment = c
				return &cp, updated
			}
			// A commitment it did not rest on matters only if it covers the
			// product now, in its category: then only the API can say which
			// commitment the product rests on.
			if st.Listed && st.Enterprise != nil && st.Enterprise.ID == c.EnterpriseID && covers(c, st) {
				return nil, unknown
			}
			return nil, unaffected
		}
	case ev.Inspection != nil:
		in := ev.Inspection
		entID = in.EnterpriseID
		if g, err := client.ParseGTIN(string(in.Product.GTIN)); err == nil {
			keys = append(keys, string(g))
		}
		fx = func(st *client.ProductStatus) (*client.ProductStatus, effect) {
			if !inspects(in, st) {
				return nil, unaffected
			}
			cp := *st
			cp.Inspections = withInspection(st.Inspections, in)
			return &cp, updated
		}
	case ev.Enterprise != nil:
		ent := ev.Enterprise
		entID = ent.ID
		delisted := ev.Type == client.EventEnterpriseDelisted
		fx = func(st *client.ProductStatus) (*client.ProductStatus, effect) {
			if st.Enterprise == nil || st.Enterprise.ID != ent.ID {
				return nil, unaffected
			}
			if delisted {
				return &client.ProductStatus{Key: st.Key, UpdatedAt: ent.UpdatedAt}, updated
			}
			cp := *st
			cp.Enterprise = ent
			return &cp, updated
		}
	default:
		return nil // cases and categories change no product's status
	}

	members, err := store.Members(ctx, enterpriseSet(entID))
	if err != nil {
		return err
	}
	keys = append(keys, members...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var changed []string
	for _, key := range keys {
		e, err := store.Get(ctx, key)
		if err != nil {
			return err
		}
		if e != nil && e.Version >= v {
			continue // already as new as this change, or newer
		}
		next := tombstone(e, v, now)
		if e != nil && e.Status != nil {
			st, fxv := fx(e.Status)
			if fxv == unaffected {
				continue
			}
			if fxv == updated {
				st.Version = max(st.Version, v)
				cp := *e
				cp.Status, cp.Version, cp.ETag = st, st.Version, "" // the old validator no longer names this content
				next = &cp
			}
		}
		if _, err := store.Set(ctx, key, next); err != nil {
			return err
		}
		changed = append(changed, key)
	}
	if n, ok := store.(Notifier); ok && len(changed) > 0 {
		// The entries are right in the shared store whatever happens here;
		// a lost announcement only leaves memory copies until their TTL.
		_ = n.Publish(ctx, changed...)
	}
	return nil
}

// tombstone marks a key as changed to version v, content unknown, as of
// now: an answer requested before now cannot be stored over it, one
// requested after can (see newer). It lives as long as the entry it
// replaces might have.
func tombstone(old *Entry, v int64, now time.Time) *Entry {
	t := &Entry{Version: v, Fetched: now, Expires: now.Add(DefaultMaxStale)}
	if old != nil && old.Expires.After(t.Expires) {
		t.Expires = old.Expires
	}
	return t
}

// covers reports whether a commitment's scope covers the product of a
// status, in the product's category when the status names one.
func covers(c *client.Commitment, st *client.ProductStatus) bool {
	brand, model := st.Key.Brand, st.Key.Model
	if p := st.Product; p != nil {
		if p.Category != "" && p.Category != c.Category {
			return false
		}
		brand, model = p.Brand, p.Model
	}
	return c.Scope.Covers(st.Key.GTIN, brand, model)
}

// inspects reports whether an inspection sampled the product of a status.
func inspects(in *client.Inspection, st *client.ProductStatus) bool {
	if st.Enterprise == nil || st.Enterprise.ID != in.EnterpriseID {
		return false
	}
	if in.Product.GTIN != "" && st.Key.GTIN == in.Product.GTIN {
		return true
	}
	p := st.Product
	return p != nil && p.Brand == in.Product.Brand && p.Model != "" && p.Model == in.Product.Model
}

// withInspection returns a copy of list with in added or replaced, newest
// published first, at most five — keeping the newest decided one, as the
// API does, so that a failure never drops out behind pending re-tests.
func withInspection(list []client.Inspection, in *client.Inspection) []client.Inspection {
	out := make([]client.Inspection, 0, len(list)+1)
	out = append(out, *in)
	for _, x := range list {
		if x.ID != in.ID {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b client.Inspection) int { return b.PublishedAt.Compare(a.PublishedAt) })
	if len(out) > 5 {
		decided := slices.IndexFunc(out, func(x client.Inspection) bool {
			return x.Result == client.InspectionPass || x.Result == client.InspectionFail
		})
		if decided >= 5 {
			out[4] = out[decided]
		}
		out = out[:5]
	}
	return out
}

// WebhookHandler applies verified webhook pushes to a store, as Follow
// applies the feed. Mount it at the URL registered with the registry.
// Pushes and the feed may both run: Apply is idempotent.
func WebhookHandler(store Store, v client.WebhookVerifier) http.Handler {
	return client.WebhookHandler(v, func(ctx context.Context, ev client.Event) error {
		return Apply(ctx, store, ev)
	})
}
