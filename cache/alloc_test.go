package cache_test

import (
	"context"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// A warm hit allocates nothing, by Status or Cached: it is every product
// page view. (BenchmarkWarmHit measures its
// time; this holds its allocations, which do not vary from run to run.)
func TestAWarmHitAllocatesNothing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	g := string(e.demo(client.VerdictCommitted))
	if _, err := statusByGTIN(e.cache, ctx, client.GTIN(g)); err != nil {
		t.Fatal(err)
	}
	key := client.ProductKey{GTIN: client.GTIN(g)}
	tests := []struct {
		name string
		f    func()
	}{
		{"Status", func() { _, _ = e.cache.Status(ctx, key) }},
		{"Cached", func() { _, _, _ = e.cache.Cached(client.GTIN(g)) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per hit, want 0", tt.name, n)
		}
	}
}
