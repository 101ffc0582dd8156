package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/qualitycommit/qcsdk/client"
)

// The shop hears back about its shoppers' reports, in the smallest way
// that works. The enquiry entry hands it every report it files
// (enquiry.WithReportFiled); the shop keeps the report's id and private
// status link with the shopper (here, in memory: a real shop keeps them
// with the shopper's account, the link as a secret), and follows the
// change feed, where the registry tells the filing platform, and no one
// else, each report.status_changed. /my/reports shows the shopper what
// became of their reports; a real shop would also send a message.

type shopperReport struct {
	ID      string
	Link    string // the entry's private status page
	Status  client.ReportStatus
	Outcome client.ReportOutcome
}

type shopperReports struct {
	mu    sync.Mutex
	byID  map[string]*shopperReport
	order []string // newest filed first

	started chan string // tests: told the cursor follow starts from
}

func newShopperReports() *shopperReports {
	return &shopperReports{byID: map[string]*shopperReport{}}
}

// filed is the enquiry entry's callback. A resent form calls it again
// with the same report: keyed by id, nothing is kept twice.
func (b *shopperReports) filed(_ context.Context, rep client.Report) {
	link := enquiryPrefix + "report/" + url.PathEscape(rep.ID) + "?t=" + url.QueryEscape(string(rep.AccessToken))
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.byID[rep.ID]; !ok {
		b.order = slices.Insert(b.order, 0, rep.ID)
	}
	b.byID[rep.ID] = &shopperReport{ID: rep.ID, Link: link, Status: rep.Status}
}

// apply takes a change from the feed; it reports whether it was about one
// of the shop's shoppers' reports.
func (b *shopperReports) apply(ev client.Event) bool {
	if ev.Type != client.EventReportStatusChanged || ev.Report == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.byID[ev.Report.ID]
	if !ok {
		return false
	}
	// A copy, so that a page being rendered keeps what it read.
	cp := *r
	cp.Status, cp.Outcome = ev.Report.Status, ev.Report.Outcome
	b.byID[cp.ID] = &cp
	return true
}

// follow applies the feed's report changes until ctx is done, from the
// feed's head: the reports filed before the shop started are not in
// memory anyway. changed, if set, is called after each change applied:
// where a real shop would message the shopper.
func (b *shopperReports) follow(ctx context.Context, api *client.Client, changed func(shopperReport)) {
	head, err := api.Changes.Head(ctx)
	if err != nil {
		return
	}
	b.following(head)
	for ev, err := range api.Changes.Follow(ctx, head, nil) {
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue // Follow backs off and polls again
		}
		if b.apply(ev) && changed != nil {
			b.mu.Lock()
			r := *b.byID[ev.Report.ID]
			b.mu.Unlock()
			changed(r)
		}
	}
}

// following is where follow starts reading: a test waits for it.
func (b *shopperReports) following(cursor string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started != nil {
		b.started <- cursor
	}
}

func (b *shopperReports) list() []shopperReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]shopperReport, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, *b.byID[id])
	}
	return out
}

// myReports lists the shopper's reports and what became of them. The page
// holds the private status links: no cache keeps it, no search engine,
// and no click carries its address away.
func (s *shop) myReports(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	s.render(w, "reports.html", map[string]any{"Lang": language(r), "Reports": s.reports.list()})
}
