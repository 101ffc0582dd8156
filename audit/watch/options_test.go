package watch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
)

// New refuses what nothing can stand in for (the client, the index) and
// an option out of range, naming it; it returns the first error.
func TestNewRefuses(t *testing.T) {
	api, err := client.New(client.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	idx := openIndex(t, []byte("listing_id,gtin\nL1,06901234567892\n"))
	for _, tc := range []struct {
		name string
		api  *client.Client
		idx  *watch.Index
		opts []watch.Option
		want string
	}{
		{"nil client", nil, idx, nil, "client"},
		{"nil index", api, nil, nil, "index"},
		{"negative lookback", api, idx, []watch.Option{watch.WithLookback(-time.Hour)}, "lookback"},
		{"first error wins", api, idx, []watch.Option{watch.WithLookback(-time.Hour), watch.WithLookback(-2 * time.Hour)}, "-1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := watch.New(tc.api, tc.idx, tc.opts...)
			if err == nil || w != nil {
				t.Fatalf("New = %v, %v; want an error", w, err)
			}
			if !strings.HasPrefix(err.Error(), "watch: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not start with \"watch: \" and name %q", err, tc.want)
			}
		})
	}
}

// A nil option, clock, logger or finding function is the default: the
// option is skipped, the clock is time.Now, nothing is logged and the
// findings go nowhere. A zero lookback is client.DefaultLookback.
func TestNewNilIsDefault(t *testing.T) {
	e := newEnv(t)
	csvText, _ := catalogue(t, e)
	idx := openIndex(t, csvText)
	w, err := watch.New(e.api, idx, nil, watch.WithClock(nil), watch.WithLogger(nil),
		watch.WithOnFinding(nil), watch.WithLookback(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recheck(t.Context()); err != nil {
		t.Fatal(err)
	}
}
