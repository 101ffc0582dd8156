package cache_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// countingClock is a fixed clock that counts its readings.
type countingClock struct {
	t     time.Time
	reads atomic.Int64
}

func (c *countingClock) Now() time.Time {
	c.reads.Add(1)
	return c.t
}

// wrapped is a store of the platform's own that builds on the memory
// store: every method promoted, as a platform would write it.
type wrapped struct{ *cache.Memory }

// bare is a store that offers nothing but the Store interface.
type bare struct{ cache.Store }

// A store the platform passes in takes the same path as the cache's own:
// a warm hit of a memory store, or of a store that builds on one, reads
// the clock once (a clock read costs more than the map lookup), and a
// store that offers only the Store interface still answers.
func TestAStoreOfYourOwnTakesTheFastPath(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	var g string
	for _, d := range srv.Demo() {
		if d.Verdict == client.VerdictCommitted {
			g = string(d.GTIN)
		}
	}
	ctx := context.Background()

	tests := []struct {
		name      string
		store     func(now func() time.Time) cache.Store
		wantReads int64 // clock readings per warm hit; 0: not checked
	}{
		{"memory", func(now func() time.Time) cache.Store { return must(cache.NewMemory(cache.WithMemoryClock(now))) }, 1},
		{"wrapped memory", func(now func() time.Time) cache.Store {
			return wrapped{must(cache.NewMemory(cache.WithMemoryClock(now)))}
		}, 1},
		{"bare store", func(now func() time.Time) cache.Store {
			return bare{must(cache.NewMemory(cache.WithMemoryClock(now)))}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &countingClock{t: time.Now()}
			st := tt.store(clk.Now)
			defer st.Close()
			c, err := cache.New(api, cache.WithStore(st), cache.WithClock(clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			first, err := statusByGTIN(c, ctx, client.GTIN(g))
			if err != nil {
				t.Fatal(err)
			}
			before := c.Stats().Upstream
			const hits = 50
			start := clk.reads.Load()
			for range hits {
				st, err := statusByGTIN(c, ctx, client.GTIN(g))
				if err != nil || st != first {
					t.Fatalf("warm hit = %p, %v; want the cached %p", st, err, first)
				}
			}
			if got := c.Stats().Upstream; got != before {
				t.Errorf("%d API calls for warm hits, want none", got-before)
			}
			if tt.wantReads == 0 {
				return
			}
			if got := (clk.reads.Load() - start) / hits; got != tt.wantReads {
				t.Errorf("a warm hit read the clock %d times, want %d", got, tt.wantReads)
			}
		})
	}
}

// WithMaxEntries bounds the cache's own store; with a store passed in it
// would bound nothing, so New says so instead of ignoring it.
func TestMaxEntriesWithAStoreOfYourOwnIsAnError(t *testing.T) {
	api, err := client.New(client.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	mem := must(cache.NewMemory())
	defer mem.Close()
	_, err = cache.New(api, cache.WithStore(mem), cache.WithMaxEntries(10))
	if err == nil || !strings.Contains(err.Error(), "WithMaxEntries") {
		t.Fatalf("New(WithStore, WithMaxEntries) = %v, want an error naming WithMaxEntries", err)
	}
}

// The cache takes a client.GTIN, parsed at the edge, and checks it: one in
// another form (a GTIN-13) finds the status cached under the 14-digit
// form, and one built by conversion that only looks canonical (a wrong
// check digit) is refused before any lookup or call.
func TestAGTINIsParsedOnceAtTheEdge(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	g := e.demo(client.VerdictCommitted)
	want, err := statusByGTIN(e.cache, ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	short := client.GTIN(strings.TrimLeft(string(g), "0")) // the GTIN-13 form
	if got, err := statusByGTIN(e.cache, ctx, short); err != nil || got != want {
		t.Errorf("Status(%s) = %p, %v; want the status cached under %s", short, got, err, g)
	}
	before := e.cache.Stats().Upstream
	bad := g[:13] + client.GTIN(rune('0'+(g[13]-'0'+1)%10))
	if _, err := e.cache.Status(ctx, client.ProductKey{GTIN: bad}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("Status(%s, a wrong check digit) = %v; want ErrInvalidInput", bad, err)
	}
	if _, _, ok := e.cache.Cached(bad); ok {
		t.Errorf("Cached(%s) answered", bad)
	}
	if n := e.cache.Stats().Upstream - before; n != 0 {
		t.Errorf("%d API calls for a malformed GTIN, want none", n)
	}
}
