package enquiry

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// A report's private status link. Filing a report answers its access
// token; the confirmation page shows the report's number and a link,
// {prefix}report/{id}?t={token}, that the shopper keeps. The status page
// behind it reads the report's lifecycle with the token and shows it in
// the page's locale. Whoever holds the link sees the report's progress,
// so both pages are private: never stored by a cache (no-store), kept out
// of search engines (noindex), and sending no referrer, so that the link
// does not leak through a click on the page.

// statusWords are the status pages' texts in one locale.
type statusWords struct {
	Title, Number, Link, LinkAbout, Now         string
	Received, Forwarded, Investigating, Closed  string
	InProgress                                  string
	CasePublished, NotSubstantiated, OutOfScope string
	ClosedOther, SeeCase, ForwardedTo           string
	NoSuchReport, TooMany                       string
	Clues                                       string
	timeLayout                                  string
}

var statusVocab = [...]statusWords{
	widget.LocaleZH: {
		Title: "举报进展", Number: "举报编号：", Link: "查看举报进展",
		LinkAbout: "请保存此链接以便日后查看进展。持有链接的人都能看到这份举报的进展，请勿与他人分享。",
		Now:       "当前状态：",
		Received:  "已受理", Forwarded: "已转交执法机关", Investigating: "调查中", Closed: "已办结", InProgress: "处理中",
		ForwardedTo:   "转交：",
		CasePublished: "已依法查处，并作为典型案例公布。", NotSubstantiated: "经核查，未发现违法行为。",
		OutOfScope: "不属于市场监管部门的管辖范围。", ClosedOther: "已办结。", SeeCase: "查看该典型案例",
		NoSuchReport: "没有找到这份举报，或链接不完整。请使用提交举报后得到的完整链接。",
		TooMany:      "查询过于频繁，请稍后再试。",
		Clues:        "案件线索：消费者举报 %d 条，权利人举报 %d 条",
		timeLayout:   "2006-01-02 15:04",
	},
	widget.LocaleEN: {
		Title: "Your report's progress", Number: "Report number: ", Link: "Follow your report",
		LinkAbout: "Keep this link to follow your report. Anyone who has it can see the report's progress, so please do not share it.",
		Now:       "Now: ",
		Received:  "Received", Forwarded: "Forwarded to an enforcement authority", Investigating: "Under investigation", Closed: "Closed", InProgress: "In progress",
		ForwardedTo:   "Forwarded to: ",
		CasePublished: "Acted on, and published as a typical case.", NotSubstantiated: "Checked: no violation was found.",
		OutOfScope: "Outside the market regulator's remit.", ClosedOther: "Closed.", SeeCase: "See the typical case",
		NoSuchReport: "No such report, or the link is incomplete. Please use the whole link you were given when you sent the report.",
		TooMany:      "Too many look-ups just now. Please try again shortly.",
		Clues:        "Led to by %d reports from shoppers and %d from rights holders",
		timeLayout:   "2006-01-02 15:04",
	},
}

// reportToken is the shape of the registry's tokens: URL-safe base64 of
// at least 128 bits. A link whose token has another shape is not looked up.
var reportToken = regexp.MustCompile(`^[A-Za-z0-9_-]{22,128}$`)

// statusView is a report's lifecycle as the status page shows it.
type statusView struct {
	ID, Now string
	Steps   []stepView
}

type stepView struct {
	Name, When, Detail, Case, CaseLink string
}

// statusLink is the report's private status page, in the page's locale
// when the shopper chose one.
func (s *site) statusLink(p *page, id string, token client.ReportToken) string {
	link := s.prefix + "report/" + url.PathEscape(id) + "?t=" + url.QueryEscape(string(token))
	if p.Explicit {
		link += "&locale=" + url.QueryEscape(p.Lang)
	}
	return link
}

// private marks a page as holding a report's token.
func (p *page) private(token string) {
	p.Private = true
	p.Keep = template.URL(url.Values{"t": {token}}.Encode()) // encoded here: safe in a query
}

// reportSent confirms a report: its number, and its private status link.
func (s *site) reportSent(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.Report })
	ref, tok := r.URL.Query().Get("ref"), r.URL.Query().Get("t")
	if !reportRef.MatchString(ref) || !reportToken.MatchString(tok) {
		s.fail(rw, p, client.ErrInvalidInput)
		return
	}
	p.private(tok)
	p.Keep += template.URL("&ref=" + url.QueryEscape(ref))
	p.Message = ref
	p.Status = &statusView{ID: ref}
	p.StatusLink = s.statusLink(p, ref, client.ReportToken(tok))
	p.S = &statusVocab[loc]
	s.render(rw, http.StatusOK, "report-sent", p)
}

// reportStatus shows a report's lifecycle to whoever holds its link. A
// malformed link, a wrong token and an unknown report are one answer.
func (s *site) reportStatus(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.Report })
	w := &statusVocab[loc]
	p.S, p.Title = w, w.Title
	id, tok := r.PathValue("id"), r.URL.Query().Get("t")
	if reportToken.MatchString(tok) {
		p.private(tok)
	} else {
		p.Private = true
	}
	if !reportRef.MatchString(id) || !reportToken.MatchString(tok) {
		p.Message = w.NoSuchReport
		s.render(rw, http.StatusNotFound, "problem", p)
		return
	}
	if !s.e.allowLookup(r, time.Now()) {
		p.Message, p.Retry = w.TooMany, p.Self
		rw.Header().Set("Retry-After", "10")
		s.render(rw, http.StatusTooManyRequests, "problem", p)
		return
	}
	rep, _, err := s.e.qc.API().Reports.Get(r.Context(), id, client.ReportToken(tok))
	switch {
	case err == nil:
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrInvalidInput):
		p.Message = w.NoSuchReport
		s.render(rw, http.StatusNotFound, "problem", p)
		return
	case errors.Is(err, client.ErrRateLimited):
		// The registry's limit on the platform's look-ups: say when, in
		// whole seconds, at least one.
		wait := time.Second
		if rl := (*client.RateLimitError)(nil); errors.As(err, &rl) && rl.RetryAfter > wait {
			wait = rl.RetryAfter
		}
		rw.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		p.Message, p.Retry = w.TooMany, p.Self
		s.render(rw, http.StatusTooManyRequests, "problem", p)
		return
	default:
		s.fail(rw, p, err)
		return
	}
	v := &statusView{ID: rep.ID, Now: w.statusName(rep.Status)}
	for _, st := range rep.Steps {
		sv := stepView{Name: w.statusName(st.Status), When: widget.LTR(st.At.In(chinaTime).Format(w.timeLayout))}
		switch {
		case st.Authority != nil:
			sv.Detail = w.ForwardedTo + textIn(*st.Authority, loc)
		case st.Status == client.ReportClosed:
			sv.Detail = w.outcome(st.Outcome)
			if st.CaseID != "" {
				sv.Case, sv.CaseLink = w.SeeCase, s.caseLink(r.Context(), st.CaseID)
			}
		}
		v.Steps = append(v.Steps, sv)
	}
	p.Status = v
	s.render(rw, http.StatusOK, "report-status", p)
}

// caseLink is the official page of the case a report led to, or "" when
// it cannot be read just now: the page shows the outcome all the same.
func (s *site) caseLink(ctx context.Context, id string) string {
	c, _, err := s.e.qc.API().Cases.Get(ctx, id, nil)
	if err != nil || c == nil {
		return ""
	}
	return s.e.badges.VerifyLink(c.VerifyURL)
}

func (w *statusWords) statusName(st client.ReportStatus) string {
	switch st {
	case client.ReportReceived:
		return w.Received
	case client.ReportForwarded:
		return w.Forwarded
	case client.ReportUnderInvestigation:
		return w.Investigating
	case client.ReportClosed:
		return w.Closed
	}
	return w.InProgress // statuses are an open set: one this SDK does not know is still open
}

func (w *statusWords) outcome(o client.ReportOutcome) string {
	switch o {
	case client.OutcomeCasePublished:
		return w.CasePublished
	case client.OutcomeNotSubstantiated:
		return w.NotSubstantiated
	case client.OutcomeOutsideScope:
		return w.OutOfScope
	}
	return w.ClosedOther
}

// clues says how many reports led to a case, or "" when none are counted.
func (w *statusWords) clues(c client.ClueCounts) string {
	if c.Consumer == 0 && c.RightsHolder == 0 {
		return ""
	}
	return fmt.Sprintf(w.Clues, c.Consumer, c.RightsHolder)
}

// WithReportFiled has the entry call f with every report it files — the
// report as the registry answered it, with its AccessToken — before
// the shopper sees the confirmation, so that the platform can tell the
// shopper later when the report moves on: keep Report.ID (and the token,
// as a secret) with the shopper's account, follow the change feed or the
// webhooks for report.status_changed events, which the registry sends to
// the filing platform alone and which name the report by its ID, and send
// the shopper the status link (the entry's {prefix}report/{id}?t={token}).
// A resend of the same form calls f again with the same report. f runs on
// the request's goroutine and should be quick; it must not log the token.
// Nil, the default, hands reports to no one.
func WithReportFiled(f func(ctx context.Context, rep client.Report)) Option {
	return func(e *Entry) error { e.filed = f; return nil }
}
