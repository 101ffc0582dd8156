package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

// slowShared is a store whose reads of many keys hang until the caller's
// context ends, as a blackholed Redis does; it keeps writes in memory.
type slowShared struct{ *cache.Memory }

func (s slowShared) GetMany(ctx context.Context, keys []string) ([]*cache.Entry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// ReadLocal hides the memory's: every read must go to the store.
func (s slowShared) ReadLocal(string) (*cache.Entry, time.Time, bool) { return nil, time.Time{}, false }

// A page's read of the store has a share of its time, not all of it: a
// store that does not answer used to keep a page's products from the
// registry until the page's deadline, and every one came back unanswered.
func TestAPagesStoreReadHasItsShareOfTheBudget(t *testing.T) {
	t.Parallel()
	srv, api := newSandbox(t)
	mem := cache.NewMemory()
	t.Cleanup(func() { mem.Close() })
	c, err := cache.New(api, cache.WithStore(struct {
		cache.Store
		cache.MultiGetter
	}{slowShared{mem}, slowShared{mem}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var keys []client.ProductKey
	for _, d := range srv.Demo() {
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, it := range c.Answers(ctx, keys) {
		if it.Err != nil {
			t.Errorf("%s: %v; want the registry's answer, the store having had its share", it.Key.GTIN, it.Err)
		}
	}
}
