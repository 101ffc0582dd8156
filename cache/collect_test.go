package cache_test

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A closed cache is garbage: a platform that builds a new one (a new
// configuration, a test per case) does not keep every old one's entries.
func TestAClosedCacheIsCollected(t *testing.T) {
	srv := sandbox.NewServer(t)
	held := func() weak.Pointer[cache.Cache] {
		api, err := client.New(client.WithBaseURL(srv.URL), client.WithLogKeys(srv.LogKeys()...))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(api)
		if err != nil {
			t.Fatal(err)
		}
		keys := []client.ProductKey{}
		for _, p := range srv.Demo()[:5] {
			keys = append(keys, client.ProductKey{GTIN: p.GTIN})
		}
		for _, it := range c.Statuses(context.Background(), keys) {
			if it.Err != nil {
				t.Fatal(it.Err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		api.CloseIdleConnections()
		return weak.Make(c)
	}()
	for range 3 {
		runtime.GC()
	}
	if held.Value() != nil {
		t.Fatal("a closed cache, no longer referred to, is still reachable")
	}
}
