package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A shopper reports a listing from its product page, keeps the status
// link the confirmation gives, and opens it as the registry moves the
// report on: each step shows, in the page's language, with its time, and
// the closed report links the case it led to.
func TestBrowserReportFollowedToItsCase(t *testing.T) {
	ctx := browser(t)
	hs, srv := shopServer(t)
	d := srv.Demo()[0]

	if err := chromedp.Do(ctx,
		chromedp.Navigate(hs.URL+"/p/"+string(d.GTIN)+"?lang=en"),
		chromedp.Click("p.report a"),
		chromedp.WaitVisible("#qce-description"),
		chromedp.Click(`input[name="kind"][value="counterfeit"]`),
		chromedp.SendKeys("#qce-description", "The logo is misspelt and the box has no serial number."),
		chromedp.Click(`.qce-report button[type="submit"]`),
		chromedp.WaitVisible("a.qce-status-link"),
	); err != nil {
		t.Fatalf("file a report from the product page: %v", err)
	}
	id, err := chromedp.Run(ctx, chromedp.Text(".qce-report-id"))
	if err != nil || !strings.HasPrefix(id, "rpt_") {
		t.Fatalf("the confirmation shows report number %q (%v)", id, err)
	}
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports filed, want 1", n)
	}
	policy, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('meta[name=referrer]').content + ' ' + document.querySelector('meta[name=robots]').content`))
	if err != nil || policy != "no-referrer noindex, nofollow" {
		t.Errorf("the confirmation's referrer and robots policies: %q (%v)", policy, err)
	}

	// The shop keeps the report for this browser: its "my reports" page
	// lists it, with the same private link.
	confirmation, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/my/reports?lang=en"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatalf("open my reports: %v", err)
	}
	mine, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('.my-reports a')).map(a => a.href).join(' ')`))
	if err != nil || !strings.Contains(mine, "/quality/report/"+id+"?t=") {
		t.Errorf("this browser's /my/reports does not link %s's status page (%v): %q", id, err, mine)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(confirmation), chromedp.WaitVisible("a.qce-status-link")); err != nil {
		t.Fatalf("back to the confirmation: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Click("a.qce-status-link"), chromedp.WaitVisible(".qce-steps")); err != nil {
		t.Fatalf("open the status link: %v", err)
	}
	link, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(link, "/quality/report/"+id+"?t=") {
		t.Fatalf("the status link is %q (%v)", link, err)
	}

	// steps reads the status page as the shopper sees it.
	type step struct {
		Name   string `json:"name"`
		When   string `json:"when"`
		Detail string `json:"detail"`
		Case   string `json:"case"`
	}
	type view struct {
		Now   string `json:"now"`
		Steps []step `json:"steps"`
	}
	read := func() view {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(".qce-steps")); err != nil {
			t.Fatalf("reload the status page: %v", err)
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[view](`({now: document.querySelector('.qce-now strong').innerText,
			steps: Array.from(document.querySelectorAll('.qce-step')).map(li => ({
				name: li.querySelector('.qce-step-name').innerText, when: li.querySelector('time').innerText,
				detail: (li.querySelector('.qce-step-detail') || {innerText: ''}).innerText,
				case: (li.querySelector('a.qce-verify') || {href: ''}).href}))})`))
		if err != nil {
			t.Fatalf("read the status page: %v", err)
		}
		return v
	}

	want := []string{"Received"}
	check := func(v view) {
		t.Helper()
		if v.Now != want[len(want)-1] || len(v.Steps) != len(want) {
			t.Fatalf("the page shows now %q and %d steps %+v; want now %q and %d steps", v.Now, len(v.Steps), v.Steps, want[len(want)-1], len(want))
		}
		for i, s := range v.Steps {
			if s.Name != want[i] || len(strings.TrimSpace(s.When)) < len("2006-01-02 15:04") {
				t.Errorf("step %d: %+v, want %q with its time", i, s, want[i])
			}
		}
	}
	check(read())

	for _, adv := range []struct {
		step   sandbox.ReportAdvance
		name   string
		detail string
	}{
		{sandbox.ReportAdvance{}, "Forwarded to an enforcement authority", "Administration for Market Regulation"},
		{sandbox.ReportAdvance{}, "Under investigation", ""},
		{sandbox.ReportAdvance{Outcome: client.OutcomeCasePublished, CaseID: "case_000001"}, "Closed", "published as a typical case"},
	} {
		if _, err := srv.AdvanceReport(id, adv.step); err != nil {
			t.Fatal(err)
		}
		want = append(want, adv.name)
		v := read()
		check(v)
		last := v.Steps[len(v.Steps)-1]
		if !strings.Contains(last.Detail, adv.detail) {
			t.Errorf("step %q says %q, want %q", last.Name, last.Detail, adv.detail)
		}
		if adv.name == "Closed" && !strings.HasSuffix(last.Case, "/cases/case_000001") {
			t.Errorf("the closed report links %q, want the case it led to", last.Case)
		}
	}

	// The same page in Chinese, by its own language link, which keeps the
	// token.
	if err := chromedp.Do(ctx, chromedp.Click(`a[lang="zh-CN"]`), chromedp.WaitVisible(".qce-steps")); err != nil {
		t.Fatalf("switch to Chinese: %v", err)
	}
	now, err := chromedp.Run(ctx, chromedp.Text(".qce-now strong"))
	if err != nil || now != "已办结" {
		t.Errorf("in Chinese the report is %q (%v), want 已办结", now, err)
	}
}
