package watch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

var refTime = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// now is the clock of every decision: noon on the sandbox's reference day.
func now() time.Time { return refTime.Add(12 * time.Hour) }

type env struct {
	srv *sandbox.Server
	api *client.Client
}

func newEnv(t testing.TB, opts ...sandbox.Option) *env {
	t.Helper()
	// The registry's clock runs from the reference day, so that what it
	// publishes is dated before the decisions' clock.
	t0 := time.Now()
	clock := func() time.Time { return refTime.Add(time.Since(t0)) }
	srv := sandbox.NewServer(t, append([]sandbox.Option{sandbox.WithReferenceTime(refTime), sandbox.WithClock(clock)}, opts...)...)
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	return &env{srv: srv, api: api}
}

// item is what the test knows of a listing: the product behind it.
type item struct {
	id   string
	e    int // the maker, counted from 0
	prod client.Product
	key  client.ProductKey
}

// catalogue lists every product of the sandbox three ways — two sellers
// by GTIN, one by USCC, brand and model — and each maker's first brand
// once by USCC and brand alone: 3,050 listings over the demo set.
func catalogue(t testing.TB, e *env) ([]byte, map[string]item) {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"listing_id", "seller", "title", "gtin", "uscc", "brand", "model"})
	items := make(map[string]item)
	ents, _ := e.srv.Size()
	add := func(it item, seller string) {
		items[it.id] = it
		w.Write([]string{it.id, seller, it.prod.Name.In("en"), string(it.key.GTIN), string(it.key.USCC), it.key.Brand, it.key.Model})
	}
	for en := 0; en < ents; en++ {
		var uscc client.USCC
		for _, d := range e.srv.Demo() {
			if p0, _ := e.srv.Product(en, 0); d.GTIN == p0.GTIN {
				uscc = d.USCC
			}
		}
		if uscc == "" {
			uscc = makerUSCC(t, e, en)
		}
		for j := 0; ; j++ {
			p, ok := e.srv.Product(en, j)
			if !ok {
				break
			}
			if j == 0 {
				add(item{id: fmt.Sprintf("B-%02d", en), e: en, prod: p, key: client.ProductKey{USCC: uscc, Brand: p.Brand}}, "shop-b")
			}
			add(item{id: fmt.Sprintf("G-%02d-%03d-1", en, j), e: en, prod: p, key: client.ProductKey{GTIN: p.GTIN}}, "shop-1")
			add(item{id: fmt.Sprintf("G-%02d-%03d-2", en, j), e: en, prod: p, key: client.ProductKey{GTIN: p.GTIN}}, "shop-2")
			add(item{id: fmt.Sprintf("U-%02d-%03d", en, j), e: en, prod: p, key: client.ProductKey{USCC: uscc, Brand: p.Brand, Model: p.Model}}, "shop-u")
		}
	}
	w.Flush()
	return buf.Bytes(), items
}

// makerUSCC asks the registry for maker en's USCC.
func makerUSCC(t testing.TB, e *env, en int) client.USCC {
	t.Helper()
	ent, _, err := e.api.Enterprises.Get(context.Background(), fmt.Sprintf("ent_%07d", en+1), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ent.USCC
}

// status is the registry's answer for one key.
func status(t testing.TB, e *env, k client.ProductKey) *client.ProductStatus {
	t.Helper()
	items, _, err := e.api.Products.Batch(context.Background(), []client.ProductKey{k})
	if err != nil || items[0].Err != nil {
		t.Fatal(err, items[0].Err)
	}
	return items[0].Status
}

// newWatcher is watch.New deciding at now, failing the test on an error.
func newWatcher(t testing.TB, e *env, idx *watch.Index, opts ...watch.Option) *watch.Watcher {
	t.Helper()
	w, err := watch.New(e.api, idx, append([]watch.Option{watch.WithClock(now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// openIndex opens an index in a test's directory and loads csvText.
func openIndex(t testing.TB, csvText []byte) *watch.Index {
	t.Helper()
	idx, err := watch.OpenIndex(filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if _, err := idx.Load(context.Background(), audit.ReadCSV(bytes.NewReader(csvText), nil)); err != nil {
		t.Fatal(err)
	}
	return idx
}

// sink collects findings by listing id.
type sink map[string]audit.Finding

func (s sink) Write(f audit.Finding) error { s[f.Listing.ID] = f; return nil }
func (s sink) Flush() error                { return nil }

// fullAudit is the independent view: audit.Run with All over the whole
// catalogue.
func fullAudit(t testing.TB, e *env, csvText []byte) sink {
	t.Helper()
	out := sink{}
	if _, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(csvText), nil), out, &audit.Options{All: true, Clock: now}); err != nil {
		t.Fatal(err)
	}
	return out
}

// nextEvent reads the one event published after cursor.
func nextEvent(t testing.TB, e *env, cursor string) client.Event {
	t.Helper()
	page, _, err := e.api.Changes.List(context.Background(), &client.ChangesOptions{After: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Fatalf("%d events after %q, want 1", len(page.Data), cursor)
	}
	return page.Data[0]
}

// pick finds a maker past the curated ones whose commitment covering
// product 0 is active, has GTIN prefixes or not as asked, and is not in
// skip.
func pick(t testing.TB, e *env, prefixes bool, skip ...int) (int, *client.Commitment) {
	t.Helper()
	ents, _ := e.srv.Size()
	for en := 11; en < ents; en++ {
		if contains(skip, en) {
			continue
		}
		p, ok := e.srv.Product(en, 0)
		if !ok {
			continue
		}
		st := status(t, e, client.ProductKey{GTIN: p.GTIN})
		c := st.Commitment
		if c != nil && c.Status == client.CommitmentActive && (len(c.Scope.GTINPrefixes) > 0) == prefixes {
			return en, c
		}
	}
	t.Fatalf("no maker with an active commitment (prefixes %v)", prefixes)
	return 0, nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }
