package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
)

// maxWarm bounds the warm file: a hot catalogue, not a whole one. Past
// the cache's own bound (cache.DefaultMaxEntries) warming would evict
// what it had just looked up.
const maxWarm = cache.DefaultMaxEntries

// readWarmFile reads the products to warm at start: one GTIN a line,
// blank lines and lines starting with # skipped. A malformed line is a
// usage error naming its line, so that a typo is found at start rather
// than as a product that is never warm.
func readWarmFile(path string) ([]client.ProductKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("-warm (QC_WARM_FILE): %v", err)
	}
	defer f.Close()
	return parseWarm(f, path)
}

func parseWarm(r io.Reader, path string) ([]client.ProductKey, error) {
	var keys []client.ProductKey
	seen := make(map[client.GTIN]bool)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g, err := client.ParseGTIN(line)
		if err != nil {
			shown := line
			if len(shown) > 32 {
				shown = shown[:32] + "…"
			}
			return nil, usagef("-warm (QC_WARM_FILE): %s line %d: %q: %v", path, n, shown, err)
		}
		if seen[g] {
			continue
		}
		if len(keys) == maxWarm {
			return nil, usagef("-warm (QC_WARM_FILE): %s names more than %d products; warm the hot ones", path, maxWarm)
		}
		seen[g] = true
		keys = append(keys, client.ProductKey{GTIN: g})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("-warm (QC_WARM_FILE): %s: %v", path, err)
	}
	return keys, nil
}

// warming is the warm start's progress, for /readyz.
type warming struct {
	total  int
	warmed atomic.Int64
	done   atomic.Bool
}

// start looks up keys in the background until done or ctx ends.
func (w *warming) start(ctx context.Context, qc *cache.Cache, keys []client.ProductKey, log *slog.Logger) <-chan struct{} {
	w.total = len(keys)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer w.done.Store(true)
		began := time.Now()
		// In slices, so that /readyz can say how far it has come.
		for len(keys) > 0 && ctx.Err() == nil {
			n := min(len(keys), 10*client.MaxBatchKeys)
			got, _ := qc.Warm(ctx, keys[:n])
			w.warmed.Add(int64(got))
			keys = keys[n:]
		}
		log.Info("qcbadge: warm start", "warmed", w.warmed.Load(), "of", w.total, "took", time.Since(began).Round(time.Millisecond).String())
	}()
	return finished
}

// check is the warm start's state: ready once it has run, however many
// products the registry answered — a product it could not answer now is
// looked up by the page that shows it.
func (w *warming) check() check {
	if w == nil {
		return check{OK: true, Reason: "off"}
	}
	if !w.done.Load() {
		return check{Reason: fmt.Sprintf("warming: %d of %d products looked up", w.warmed.Load(), w.total)}
	}
	return check{OK: true, Reason: fmt.Sprintf("warm: %d of %d products answered", w.warmed.Load(), w.total)}
}
