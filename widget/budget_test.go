package widget_test

import (
	"context"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/faultproxy"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// listing renders a listing of gtins, one badge a product, as a
// platform's handler renders a page view: one Page for the page, given to
// its template.
func listing(t *testing.T, w *widget.Widget, gtins []client.GTIN) string {
	t.Helper()
	page := w.Page(context.Background(), gtins...) // a handler passes r.Context()
	defer page.Close()
	return execute(t, template.New("listing"), `{{ range .GTINs }}{{ $.QC.Badge . }}{{ end }}`, map[string]any{"QC": page, "GTINs": gtins})
}

func execute(t *testing.T, tmpl *template.Template, src string, data any) string {
	t.Helper()
	var out strings.Builder
	if err := template.Must(tmpl.Parse(src)).Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// listingOf is n products of the sandbox, a few of each maker, as a
// listing page names them.
func listingOf(t *testing.T, sb *sandbox.Server, n int) []client.GTIN {
	t.Helper()
	var gtins []client.GTIN
	ents, _ := sb.Size()
	for e := 0; e < ents && len(gtins) < n; e++ {
		for j := 0; j < 3 && len(gtins) < n; j++ {
			if p, ok := sb.Product(e, j); ok {
				gtins = append(gtins, p.GTIN)
			}
		}
	}
	if len(gtins) < n {
		t.Fatalf("the sandbox has %d products; want %d", len(gtins), n)
	}
	return gtins
}

// overProxy is a widget, with the default budget unless opts set
// another, whose registry is reached through a fault proxy.
func overProxy(t *testing.T, opts ...widget.Option) (*widget.Widget, *faultproxy.Proxy, *sandbox.Server, func() int64) {
	t.Helper()
	sb := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference))
	proxy, err := faultproxy.New(strings.TrimPrefix(sb.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	_, qc := sdktest.Over(t, "http://"+proxy.Addr(), nil)
	w, err := widget.New(qc, append([]widget.Option{widget.WithClock(func() time.Time { return reference.Add(12 * time.Hour) })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	// A hedge sends a slow call's keys again; it is the same lookup.
	return w, proxy, sb, func() int64 { s := qc.Stats(); return s.Upstream - s.Hedges }
}

// A page of 60 badges with the registry blackholed waits for it once, the
// widget's budget (50 ms). The widget's FuncMap, whose qcBadge had no
// request and so no page, waited the budget for each badge in turn: 3 s
// for 60, while the shopper's page hung. A template now shows badges only
// through a page.
func TestATemplateOfManyBadgesWaitsOneBudget(t *testing.T) {
	const n = 60
	w, proxy, sb, upstream := overProxy(t)
	gtins := listingOf(t, sb, n)
	proxy.Blackhole()
	start := time.Now()
	out := listing(t, w, gtins)
	took := time.Since(start)
	if got := strings.Count(out, "qcb-unknown"); got != n {
		t.Errorf("%d unknown badges of %d with the registry blackholed", got, n)
	}
	// A functional bound, a quarter of a wait per badge and far above one
	// budget on a loaded machine: not a performance figure.
	if limit := n * widget.DefaultRenderTimeout / 4; took > limit {
		t.Errorf("a page of %d badges took %v with the registry blackholed; want about one budget (%v), far under %v",
			n, took, widget.DefaultRenderTimeout, limit)
	}
	if calls := upstream(); calls > 1 {
		t.Errorf("a page of %d badges made %d calls to the blackholed registry; want at most 1, for them all", n, calls)
	}
	t.Logf("a page of %d badges took %v with the registry blackholed", n, took)
}

// The same, counted rather than timed: with the registry refusing every
// connection, a page of 60 badges makes its one lookup and one more try,
// together, and then renders every badge the neutral one without a
// lookup of its own. The FuncMap's qcBadge made one lookup per badge.
func TestATemplateOfManyBadgesLooksUpOnce(t *testing.T) {
	const n = 60
	w, proxy, sb, upstream := overProxy(t)
	gtins := listingOf(t, sb, n)
	proxy.Cut()
	out := listing(t, w, gtins)
	if got := strings.Count(out, "qcb-unknown"); got != n {
		t.Errorf("%d unknown badges of %d with the registry unreachable", got, n)
	}
	if calls := upstream(); calls > 2 {
		t.Errorf("a page of %d badges made %d calls to the registry; want at most 2 (its lookup and one more try)", n, calls)
	}
}

// A page's Status is the answer its badge shows, under the page's one
// budget: a product the page could not get an answer for is unknown at
// once, with the reason, and no lookup of its own.
func TestAPagesStatusIsItsBadgesAnswer(t *testing.T) {
	w, proxy, sb, upstream := overProxy(t, widget.WithRenderTimeout(timescale.Scale(10*time.Second))) // no loaded machine misses it
	demo := sb.Demo()
	up, down := demo[0].GTIN, demo[2].GTIN

	page := w.Page(context.Background(), up)
	defer page.Close()
	st, d, err := page.Status(up)
	if err != nil || st == nil || d.Verdict != demo[0].Verdict {
		t.Errorf("Status(%s) = %v, %v, %v; want %v", up, st, d.Verdict, err, demo[0].Verdict)
	}
	if b, _ := page.Badge(up); !strings.Contains(string(b), "qcb-committed") {
		t.Errorf("the badge of %s, whose Status is %v: %s", up, d.Verdict, b)
	}

	proxy.Cut()
	page = w.Page(context.Background(), down)
	defer page.Close()
	calls := upstream()
	st, d, err = page.Status(down)
	if err == nil || st != nil || d.Verdict != client.VerdictUnknown {
		t.Errorf("Status(%s) with the registry unreachable = %v, %v, %v; want unknown and the error", down, st, d.Verdict, err)
	}
	if n := upstream() - calls; n != 0 {
		t.Errorf("Status made %d calls of its own after the page's lookup failed; want none", n)
	}
}
