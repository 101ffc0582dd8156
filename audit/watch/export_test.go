package watch

import (
	"context"

	"github.com/qualitycommit/qcsdk/client"
)

// WithHandled makes Run call f after each event's findings were all given
// and its cursor saved: the point a test waits for before it looks.
func WithHandled(f func(client.Event)) Option {
	return func(c *config) error { c.handled = f; return nil }
}

// Touched returns the distinct product keys of the index that ev touches,
// sorted, and records what ev says of its maker, for the benchmark of the
// mapping alone.
func Touched(ctx context.Context, w *Watcher, ev client.Event) ([]client.ProductKey, error) {
	keys, fs, err := w.touched(ctx, ev)
	if err != nil {
		return nil, err
	}
	if err := w.idx.learn(ctx, func(l learner) error { return fs.write(ctx, l) }); err != nil {
		return nil, err
	}
	return keys, nil
}
