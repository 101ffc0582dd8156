package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// The reads below serve the consumer enquiry pages: a maker's page, its
// commitments and inspections, a search, the typical cases. A shopper
// opens them far less often than a product page, so they are kept as the
// API's JSON and decoded per call — each caller gets its own copy — with
// the same TTLs, stale-while-revalidate, stale-if-error and coalescing as
// product statuses.
//
// A change from the feed or a webhook reaches every cached read of the
// maker it concerns (each carries its maker, like a product status, and a
// Stamp of the maker reaches it).
// Reads that no change can name — a search, the list of all inspections,
// the cases, the categories — are kept for the short TTL only (the API's
// max-age, or WithNegativeTTL).

// fetchRaw asks the API for one read. old is the entry held, for its
// ETag; maker is the enterprise id the answer concerns ("" for none).
type fetchRaw func(ctx context.Context, old *Entry) (e *Entry, maker string, err error)

// read is the cache's one read path (see lookup) for an enquiry read,
// decoded for the caller: a fresh entry is served, a stale one within the
// stale-while-revalidate window is served and refreshed once in the
// background, otherwise one coalesced fetch, falling back on what the
// store holds.
func read[T any](c *Cache, ctx context.Context, skey string, fetch fetchRaw) (T, error) {
	var v T
	e, now := c.peek(ctx, skey)
	e, fl := c.begin(ctx, skey, query{raw: fetch}, e, now, nil)
	if e == nil {
		var err error
		if e, err = c.await(ctx, skey, fl); err != nil {
			return v, err
		}
	}
	if string(e.Raw) == "null" {
		return v, errNotFound
	}
	if err := json.Unmarshal(e.Raw, &v); err != nil {
		return v, fmt.Errorf("qcsdk/cache: decode the cached %q: %w", skey, err)
	}
	return v, nil
}

// errNotFound is what a read of a record the registry does not have returns,
// from the API or from the cache (which remembers it for the short TTL).
var errNotFound = fmt.Errorf("qcsdk/cache: %w", client.ErrNotFound)

// fetchRaw runs one fetch and stores its answer, marked with its maker.
func (c *Cache) fetchRaw(skey string, old *Entry, fetch fetchRaw) (*Entry, error) {
	ctx, cancel := context.WithTimeout(c.bg, c.fetchTimeout)
	defer cancel()
	c.stats.upstream.Add(1)
	e, maker, err := fetch(ctx, old)
	if err != nil {
		if c.logger != nil && !keyRefused(err) {
			c.logger.Warn("qcsdk/cache: fetch failed", "read", readName(skey), "error", err)
		}
		return nil, err
	}
	if !e.FreshUntil.After(e.Fetched) && !e.Expires.After(e.Fetched) {
		return e, nil // no-store
	}
	e.Maker = maker
	won, err := c.store.Set(ctx, skey, e)
	if err != nil {
		c.stats.storeErrors.Add(1)
		return e, nil
	}
	if won == nil || won.Raw == nil {
		// A tombstone from a change this answer may predate (by the
		// clocks, which differ between machines): serve it, keep nothing,
		// and ask again next time.
		return e, nil
	}
	return won, nil
}

// readName is a read's key without its separators, for logs.
func readName(skey string) string { return strings.ReplaceAll(skey, "\x1f", " ") }

// rawEntry wraps an answer. A nil record (not found) is kept as JSON
// null for the short TTL.
func (c *Cache) rawEntry(v any, version int64, resp *client.Response, scoped bool, now time.Time) (*Entry, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	e := &Entry{Raw: raw, Version: version}
	var cc client.CacheControl
	if resp != nil {
		e.ETag, e.AsOf, cc = resp.ETag, max(resp.AsOf, version), resp.CacheControl
	}
	c.times(e, cc, scoped && string(raw) != "null", now)
	return e, nil
}

// getRecord fetches one record by id with its ETag, remembering a 404.
func getRecord[T any](c *Cache, get func(ctx context.Context, opts *client.GetOptions) (*T, *client.Response, error), version func(*T) int64, maker func(*T) string) fetchRaw {
	return func(ctx context.Context, old *Entry) (*Entry, string, error) {
		var opts *client.GetOptions
		if old != nil && old.Raw != nil && old.ETag != "" {
			opts = &client.GetOptions{ETag: old.ETag}
		}
		now := c.clock()
		rec, resp, err := get(ctx, opts)
		if errors.Is(err, client.ErrNotFound) {
			// Remembered for the short TTL, whatever the error's own
			// Cache-Control says.
			e, err := c.rawEntry(nil, 0, nil, false, now)
			return e, "", err
		}
		if err != nil {
			return nil, "", err
		}
		if resp.NotModified {
			c.stats.revalidated.Add(1)
			renewed := *old
			renewed.AsOf = max(old.AsOf, resp.AsOf)
			c.times(&renewed, resp.CacheControl, true, now)
			var held T
			if json.Unmarshal(old.Raw, &held) == nil {
				return &renewed, maker(&held), nil
			}
			return &renewed, "", nil
		}
		e, err := c.rawEntry(rec, version(rec), resp, true, now)
		return e, maker(rec), err
	}
}

// storedList is a page as the store keeps it. Its JSON is the one earlier
// releases wrote ("items", not client.List's "data"), so that the servers
// of two releases sharing a Redis read each other's pages during a rolling
// upgrade.
type storedList[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// readList is read for a page of a list.
func readList[T any](c *Cache, ctx context.Context, key string, fetch fetchRaw) (client.List[T], error) {
	p, err := read[storedList[T]](c, ctx, key, fetch)
	return client.List[T]{Data: p.Items, NextCursor: p.NextCursor}, err
}

// getList fetches one page of a list; maker is the enterprise the list is
// scoped to, "" for none. The page's version is its newest item's, so that
// a page that shows a change is never refused for one that predates it.
func getList[T any](c *Cache, maker string, version func(*T) int64, list func(ctx context.Context) (client.List[T], *client.Response, error)) fetchRaw {
	return func(ctx context.Context, _ *Entry) (*Entry, string, error) {
		now := c.clock()
		page, resp, err := list(ctx)
		if err != nil {
			return nil, "", err
		}
		var v int64
		for i := range page.Data {
			v = max(v, version(&page.Data[i]))
		}
		e, err := c.rawEntry(storedList[T]{Items: page.Data, NextCursor: page.NextCursor}, v, resp, maker != "", now)
		return e, maker, err
	}
}

// readKey names a read in the store: its kind and its parameters, in a
// fixed order, separated by a byte no parameter contains.
func readKey(kind string, params ...string) string {
	var b strings.Builder
	b.WriteString("r\x1f")
	b.WriteString(kind)
	for _, p := range params {
		b.WriteByte('\x1f')
		b.WriteString(url.QueryEscape(p))
	}
	return b.String()
}

func listParams(o client.ListOptions) []string {
	return []string{strconv.Itoa(o.Limit), o.Cursor}
}

// Enterprise returns a maker by id or USCC.
func (c *Cache) Enterprise(ctx context.Context, idOrUSCC string) (*client.Enterprise, error) {
	idOrUSCC = strings.TrimSpace(idOrUSCC)
	if idOrUSCC == "" {
		return nil, fmt.Errorf("qcsdk/cache: an enterprise id or USCC is needed: %w", client.ErrInvalidInput)
	}
	return read[*client.Enterprise](c, ctx, readKey("enterprise", idOrUSCC), getRecord(c,
		func(ctx context.Context, o *client.GetOptions) (*client.Enterprise, *client.Response, error) {
			return c.api.Enterprises.Get(ctx, idOrUSCC, o)
		},
		func(e *client.Enterprise) int64 { return e.Version },
		func(e *client.Enterprise) string { return e.ID }))
}

// Commitment returns a commitment by id.
func (c *Cache) Commitment(ctx context.Context, id string) (*client.Commitment, error) {
	if id == "" {
		return nil, fmt.Errorf("qcsdk/cache: a commitment id is needed: %w", client.ErrInvalidInput)
	}
	return read[*client.Commitment](c, ctx, readKey("commitment", id), getRecord(c,
		func(ctx context.Context, o *client.GetOptions) (*client.Commitment, *client.Response, error) {
			return c.api.Commitments.Get(ctx, id, o)
		},
		func(m *client.Commitment) int64 { return m.Version },
		func(m *client.Commitment) string { return m.EnterpriseID }))
}

// Inspection returns an inspection by id.
func (c *Cache) Inspection(ctx context.Context, id string) (*client.Inspection, error) {
	if id == "" {
		return nil, fmt.Errorf("qcsdk/cache: an inspection id is needed: %w", client.ErrInvalidInput)
	}
	return read[*client.Inspection](c, ctx, readKey("inspection", id), getRecord(c,
		func(ctx context.Context, o *client.GetOptions) (*client.Inspection, *client.Response, error) {
			return c.api.Inspections.Get(ctx, id, o)
		},
		func(in *client.Inspection) int64 { return in.Version },
		func(in *client.Inspection) string { return in.EnterpriseID }))
}

// EnterpriseCommitments returns a page of a maker's commitments. Give the
// maker's id, as Enterprise returns it: a change is matched to the reads
// of its maker by id.
func (c *Cache) EnterpriseCommitments(ctx context.Context, enterpriseID string, opts *client.ListOptions) (client.List[client.Commitment], error) {
	var o client.ListOptions
	if opts != nil {
		o = *opts
	}
	if enterpriseID == "" {
		return client.List[client.Commitment]{}, fmt.Errorf("qcsdk/cache: an enterprise id is needed: %w", client.ErrInvalidInput)
	}
	key := readKey("commitments", append([]string{enterpriseID}, listParams(o)...)...)
	return readList[client.Commitment](c, ctx, key, getList(c, enterpriseID, func(m *client.Commitment) int64 { return m.Version },
		func(ctx context.Context) (client.List[client.Commitment], *client.Response, error) {
			return c.api.Commitments.ListByEnterprise(ctx, enterpriseID, &o)
		}))
}

// Inspections returns a page of inspections. With opts.Enterprise set (to
// the maker's id), a change of the maker reaches it; otherwise it is kept
// for the short TTL.
func (c *Cache) Inspections(ctx context.Context, opts *client.InspectionListOptions) (client.List[client.Inspection], error) {
	var o client.InspectionListOptions
	if opts != nil {
		o = *opts
	}
	since := ""
	if !o.PublishedSince.IsZero() {
		since = o.PublishedSince.UTC().Format(time.RFC3339Nano)
	}
	key := readKey("inspections", append([]string{o.Enterprise, o.Category, string(o.Result), since}, listParams(o.ListOptions)...)...)
	return readList[client.Inspection](c, ctx, key, getList(c, o.Enterprise, func(in *client.Inspection) int64 { return in.Version },
		func(ctx context.Context) (client.List[client.Inspection], *client.Response, error) {
			return c.api.Inspections.List(ctx, &o)
		}))
}

// Enterprises returns a page of makers on the list: a search by name,
// category or region. It is kept for the short TTL.
func (c *Cache) Enterprises(ctx context.Context, opts *client.EnterpriseListOptions) (client.List[client.Enterprise], error) {
	var o client.EnterpriseListOptions
	if opts != nil {
		o = *opts
	}
	key := readKey("enterprises", append([]string{o.Category, o.Region, o.Query}, listParams(o.ListOptions)...)...)
	return readList[client.Enterprise](c, ctx, key, getList(c, "", func(e *client.Enterprise) int64 { return e.Version },
		func(ctx context.Context) (client.List[client.Enterprise], *client.Response, error) {
			return c.api.Enterprises.List(ctx, &o)
		}))
}

// Cases returns a page of typical enforcement cases. It is kept for the
// short TTL.
func (c *Cache) Cases(ctx context.Context, opts *client.CaseListOptions) (client.List[client.Case], error) {
	var o client.CaseListOptions
	if opts != nil {
		o = *opts
	}
	key := readKey("cases", append([]string{o.Category, o.Brand}, listParams(o.ListOptions)...)...)
	return readList[client.Case](c, ctx, key, getList(c, "", func(k *client.Case) int64 { return k.Version },
		func(ctx context.Context) (client.List[client.Case], *client.Response, error) {
			return c.api.Cases.List(ctx, &o)
		}))
}

// Categories returns the product categories of the registry, one page as
// the client answers it. It is kept for the short TTL.
func (c *Cache) Categories(ctx context.Context) (client.List[client.Category], error) {
	return readList[client.Category](c, ctx, readKey("categories"), getList(c, "", func(k *client.Category) int64 { return k.Version },
		func(ctx context.Context) (client.List[client.Category], *client.Response, error) {
			return c.api.Categories.List(ctx)
		}))
}
