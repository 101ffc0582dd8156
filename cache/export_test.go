package cache

import (
	"context"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// ApplyAt is Apply learnt of at now, for simulations on a virtual clock.
func ApplyAt(ctx context.Context, store Store, ev client.Event, now time.Time) error {
	return apply(ctx, store, ev, now)
}

// ReadKey names an enquiry read in the store.
var ReadKey = readKey
