package enquiry_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// reference is the sandbox's "today" in these tests.
var reference = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

type env struct {
	srv *sandbox.Server
	api *client.Client
	qc  *cache.Cache
	w   *widget.Widget
	q   *enquiry.Entry
}

// setup is an entry over a sandbox, with the widget's defaults.
func setup(t testing.TB, sbOpts []sandbox.Option, opts ...enquiry.Option) *env {
	t.Helper()
	// No pause after a 503: these tests heal a fault and ask at once.
	srv, api, qc := sdktest.Sandbox(t, append([]sandbox.Option{sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference)}, sbOpts...),
		[]client.Option{client.WithMaxPause(time.Nanosecond)})
	w, err := widget.New(qc, widget.WithClock(func() time.Time { return reference.Add(12 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	// A budget no loaded machine misses: these tests are about what the
	// pages say; the one about the budget builds its own entry.
	q, err := enquiry.New(qc, w, append([]enquiry.Option{enquiry.WithTimeout(timescale.Scale(10 * time.Second))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, api: api, qc: qc, w: w, q: q}
}

var (
	get  = testio.Get
	body = testio.Body
)
