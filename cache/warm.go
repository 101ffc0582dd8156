package cache

import (
	"context"
	"errors"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// Warm looks up a platform's hot catalogue ahead of its page views, so
// that a freshly started server's first pages are warm: keys in batches
// of client.MaxBatchKeys, each read from the store first (one read of
// Redis, on a fleet) and then, for what the store lacks, from the
// registry in one batch call at low priority, which spends only what the
// upstream limiter (client.WithUpstreamLimit) has left over from the
// platform's own pages. A batch the limiter refuses waits for the tokens
// it names and is tried again, so that Warm keeps within the quota
// however long the catalogue; it takes as long as that takes, bounded by
// ctx.
//
// Warm returns how many keys have an answer (including "not listed"),
// and ctx's error if it ended first. A key the registry could not answer
// for another reason — a malformed key, an error it returned — is left
// for page views to look up; Warm does not fail because of it.
func (c *Cache) Warm(ctx context.Context, keys []client.ProductKey) (int, error) {
	ctx = client.WithPriority(ctx, client.PriorityLow)
	warmed := 0
	for len(keys) > 0 {
		n := min(len(keys), client.MaxBatchKeys)
		batch := keys[:n]
		keys = keys[n:]
		for len(batch) > 0 {
			var wait time.Duration
			var again []client.ProductKey
			for _, it := range c.Statuses(ctx, batch) {
				var rl *client.RateLimitError
				switch {
				case it.Err == nil:
					warmed++
				case errors.As(it.Err, &rl) && rl.Throttled:
					again = append(again, it.Key)
					wait = max(wait, rl.RetryAfter)
				}
			}
			if err := ctx.Err(); err != nil {
				return warmed, err
			}
			if len(again) == 0 {
				break
			}
			if !backoff.Sleep(ctx, max(wait, minWarmWait)) {
				return warmed, ctx.Err()
			}
			batch = again
		}
	}
	return warmed, nil
}

// minWarmWait is the least Warm waits before trying a refused batch
// again, when the limiter named no wait.
const minWarmWait = 50 * time.Millisecond
