package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// A loop that tries until it succeeds or its context ends, waiting longer
// after each failure in a row.
func Example() {
	ctx := context.Background()
	policy := backoff.Exponential{Base: time.Millisecond, Max: 10 * time.Millisecond}
	tries := 0
	op := func() error {
		if tries++; tries < 3 {
			return errors.New("unavailable")
		}
		return nil
	}
	for failures := 0; ; failures++ {
		err := op()
		if err == nil {
			break
		}
		if !backoff.Sleep(ctx, policy.Wait(failures)) {
			fmt.Println("stopped:", ctx.Err())
			return
		}
	}
	fmt.Println("succeeded at try", tries)
	// Output: succeeded at try 3
}
