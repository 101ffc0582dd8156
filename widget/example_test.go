package widget_test

import (
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// A platform's product page template with the badge in it.
func Example() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer api.CloseIdleConnections()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()

	badges, err := widget.New(qc, widget.WithClock(func() time.Time { return sb.ReferenceTime() }),
		widget.WithRenderTimeout(2*time.Second)) // generous, for a busy test machine
	if err != nil {
		log.Fatal(err)
	}
	product := template.Must(template.New("product").Parse(
		`<h1>{{ .Name }}</h1>
{{ $.QC.Badge .GTIN "en" "compact" }}
`))

	// In the product page's handler: one page, one budget, for every
	// badge the page shows.
	gtin := sb.Demo()[0].GTIN
	page := badges.Page(context.Background(), gtin) // in a handler: r.Context()
	defer page.Close()
	err = product.Execute(os.Stdout, map[string]any{"Name": "Electric kettle", "GTIN": gtin, "QC": page})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// <h1>Electric kettle</h1>
	// <a class="qcb qcb-compact qcb-light qcb-committed" lang="en" dir="ltr" href="https://verify.qualitycommit.example/commitments/cmt_0000001_1" target="_blank" rel="noopener noreferrer" aria-label="Quality commitment Passed inspection 2026-02-03 (verify on the official platform)" title="Quality commitment Passed inspection 2026-02-03 (verify on the official platform)"><span class="qcb-icon" aria-hidden="true">✓</span><span class="qcb-text"><span class="qcb-title">Quality commitment</span> <span class="qcb-detail">Passed inspection 2026-02-03</span></span></a>
}

// A listing page: its badges share one deadline, and the products it names
// are looked up together, in one batch call.
func ExampleWidget_Page() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer api.CloseIdleConnections()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	badges, err := widget.New(qc, widget.WithClock(func() time.Time { return sb.ReferenceTime() }),
		widget.WithRenderTimeout(2*time.Second)) // generous, for a busy test machine
	if err != nil {
		log.Fatal(err)
	}
	listing := template.Must(template.New("listing").Parse(
		`{{ range .GTINs }}{{ $.QC.Badge . "en" "compact" }}
{{ end }}`))

	var gtins []client.GTIN
	for _, d := range sb.Demo()[:3] {
		gtins = append(gtins, d.GTIN)
	}
	page := badges.Page(context.Background(), gtins...) // in a handler: r.Context()
	defer page.Close()
	var out strings.Builder
	if err := listing.Execute(&out, map[string]any{"QC": page, "GTINs": gtins}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Count(out.String(), `class="qcb `), "badges")
	// One call for the page's three products; a machine too busy to
	// answer within the hedge delay may race it with a second, counted
	// apart.
	s := qc.Stats()
	fmt.Println(s.Batches-s.Hedges, "batch call")
	// Output:
	// 3 badges
	// 1 batch call
}

// A product page that says more than the badge — the maker, what it
// promised — reads the page's answer, under the page's one budget.
func ExamplePage_Status() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer api.CloseIdleConnections()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	badges, err := widget.New(qc, widget.WithClock(func() time.Time { return sb.ReferenceTime() }),
		widget.WithRenderTimeout(2*time.Second)) // generous, for a busy test machine
	if err != nil {
		log.Fatal(err)
	}

	gtin := sb.Demo()[0].GTIN
	page := badges.Page(context.Background(), gtin) // in a handler: r.Context()
	defer page.Close()
	st, d, err := page.Status(gtin)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Verdict, st.Enterprise.USCC != "")
	fmt.Println(qc.Stats().Misses, "lookup")
	// Output:
	// committed true
	// 1 lookup
}

// A platform behind a reverse proxy that overwrites X-Real-IP with the
// address it was called from gives each shopper their own budget of cold
// lookups on the public badge endpoint, and the public as a whole a share
// of the registry's quota.
func ExampleWithClientAddress() {
	var qc *cache.Cache // the platform's cache
	badges, err := widget.New(qc,
		widget.WithClientAddress(func(r *http.Request) string { return r.Header.Get("X-Real-IP") }),
		widget.WithBadgeLookupLimitPerAddress(5, 60),
		widget.WithBadgeLookupLimit(20, 60),
	)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/quality/", badges.Handler("/quality/"))
}

// While the registry cannot be reached, a badge shows an answer past its
// freshness with a clock for its icon and the day the registry last
// confirmed it; past the stale limit it shows no verdict, only that day.
func ExampleWithStaleLimit() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithRetryPolicy(client.RetryPolicy{}))
	if err != nil {
		log.Fatal(err)
	}
	defer api.CloseIdleConnections()
	now := time.Date(2026, 3, 15, 2, 0, 0, 0, time.UTC) // 10:00 in China
	qc, err := cache.New(api, cache.WithClock(func() time.Time { return now }))
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	badges, err := widget.New(qc, widget.WithStaleLimit(time.Hour),
		widget.WithRenderTimeout(2*time.Second)) // generous, for a busy test machine
	if err != nil {
		log.Fatal(err)
	}
	gtin := sb.Demo()[0].GTIN
	show := func(when string) {
		h := badges.Badge(context.Background(), gtin, widget.Look{Locale: widget.LocaleEN, Size: widget.SizeCompact})
		_, name, _ := strings.Cut(string(h), `aria-label="`)
		name, _, _ = strings.Cut(name, `"`)
		name, _, _ = strings.Cut(name, ` (`)
		_, icon, _ := strings.Cut(string(h), `aria-hidden="true">`)
		icon, _, _ = strings.Cut(icon, "<")
		fmt.Printf("%s: %s %s\n", when, icon, strings.ReplaceAll(name, "&#43;", "+"))
	}
	show("fresh")
	_ = sb.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: http.StatusServiceUnavailable})
	now = now.Add(30 * time.Minute)
	show("30 minutes on, the registry down")
	now = now.Add(time.Hour)
	show("90 minutes on")
	// Output:
	// fresh: ✓ Quality commitment Passed inspection 2026-02-03
	// 30 minutes on, the registry down: ◷ Committed as of 03-15 10:00 UTC+8
	// 90 minutes on: ? Unverified since 03-15 10:00 UTC+8
}
