package widget_test

import (
	"context"
	"io"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// A warm badge allocates nothing, in every state and look: it runs on
// every product page view, and an allocation there is garbage collected
// millions of times a minute. (A benchmark measures its time; this holds
// its allocations, which do not vary from run to run.)
func TestAWarmBadgeAllocatesNothing(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	for _, d := range e.srv.Demo() {
		g := string(d.GTIN)
		for _, look := range looks() {
			if err := e.w.WriteBadge(ctx, io.Discard, g, look); err != nil {
				t.Fatalf("%s: %v", g, err)
			}
			tests := []struct {
				name string
				f    func()
			}{
				{"WriteBadge", func() { _ = e.w.WriteBadge(ctx, io.Discard, g, look) }},
				{"Badge", func() { _ = e.w.Badge(ctx, client.GTIN(g), look) }},
				{"Render", func() { _, _ = e.w.Render(ctx, g, look) }},
			}
			for _, tt := range tests {
				if n := testing.AllocsPerRun(50, tt.f); n != 0 {
					t.Errorf("%s(%s, %+v): %v allocations, want 0", tt.name, g, look, n)
				}
			}
		}
	}
}
