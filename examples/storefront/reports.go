package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/qualitycommit/qcsdk/client"
)

// The shop hears back about its shoppers' reports, in the smallest way
// that works. The enquiry entry hands it every report it files
// (enquiry.WithReportFiled); the shop keeps the report's id and private
// status link with the shopper who sent it (here, in memory, under a
// cookie that names the browser: a real shop keeps them with the
// shopper's account, the link as a secret), and follows the change feed,
// where the registry tells the filing platform, and no one else, each
// report.status_changed. /my/reports shows a shopper what became of their
// own reports, and no one else's: whoever holds a status link reads the
// report. A real shop would also send a message.

type shopperReport struct {
	ID      string
	Link    string // the entry's private status page
	Status  client.ReportStatus
	Outcome client.ReportOutcome
	shopper string // who sent it: only they are shown it
}

// shopperCookie names a browser that sent a report, so that /my/reports
// shows it that browser's reports. The shop has no accounts; a real one
// keeps reports with the shopper's account instead.
const shopperCookie = "shopper"

// shopperIDLen is the length of rand.Text's 128 random bits: a cookie of
// another length is none of the shop's.
const shopperIDLen = 26

// sender is the browser sending a report form. It is named (given its
// shopper cookie) only once a report is filed, so that a refused or
// invalid form, and every cacheable page, carry no cookie.
type sender struct {
	w      http.ResponseWriter
	secure bool
	id     string // the browser's shopper cookie, "" until it has one
}

type senderKey struct{}

// withSender tells the entry's callback, through the request's context,
// which browser is sending the form.
func withSender(w http.ResponseWriter, r *http.Request) *http.Request {
	s := &sender{w: w, secure: r.TLS != nil, id: shopperID(r)}
	return r.WithContext(context.WithValue(r.Context(), senderKey{}, s))
}

// name is the sender's shopper id, giving the browser its cookie (128
// random bits, out of scripts' reach) if it has none yet. The entry calls
// back before it answers, so the cookie goes with the confirmation.
func (s *sender) name() string {
	if s.id == "" {
		s.id = rand.Text()
		http.SetCookie(s.w, &http.Cookie{
			Name: shopperCookie, Value: s.id, Path: "/", HttpOnly: true, Secure: s.secure,
			SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600,
		})
	}
	return s.id
}

// shopperID is the browser's shopper cookie, or "" when it has none (or
// one not of the shop's shape).
func shopperID(r *http.Request) string {
	c, err := r.Cookie(shopperCookie)
	if err != nil || len(c.Value) != shopperIDLen {
		return ""
	}
	return c.Value
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
// with the same report: keyed by id, nothing is kept twice. A report
// whose sender the shop did not see (withSender) is not kept: no one
// could be shown it.
func (b *shopperReports) filed(ctx context.Context, rep client.Report) {
	from, _ := ctx.Value(senderKey{}).(*sender)
	if from == nil {
		return
	}
	who := from.name()
	link := enquiryPrefix + "report/" + url.PathEscape(rep.ID) + "?t=" + url.QueryEscape(string(rep.AccessToken))
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.byID[rep.ID]; !ok {
		b.order = slices.Insert(b.order, 0, rep.ID)
	}
	b.byID[rep.ID] = &shopperReport{ID: rep.ID, Link: link, Status: rep.Status, shopper: who}
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

// list is one shopper's reports, newest first.
func (b *shopperReports) list(shopper string) []shopperReport {
	out := []shopperReport{}
	if shopper == "" {
		return out
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range b.order {
		if r := b.byID[id]; r.shopper == shopper {
			out = append(out, *r)
		}
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
	h.Set("Vary", "Cookie")
	s.render(w, "reports.html", map[string]any{"Lang": language(r), "Reports": s.reports.list(shopperID(r))})
}
