package enquiry_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// makerOf is the id and USCC of the maker of a demo product.
func makerOf(t *testing.T, e *env, i int) (id string, uscc client.USCC) {
	t.Helper()
	d := e.srv.Demo()[i]
	a, err := e.qc.Status(t.Context(), client.ProductKey{GTIN: d.GTIN})
	if err != nil {
		t.Fatal(err)
	}
	return a.Status.Enterprise.ID, d.USCC
}

func TestEnquiryPagesInBothLocales(t *testing.T) {
	e := setup(t, nil)
	h := e.q.Handler("/quality/")
	id, uscc := makerOf(t, e, 2) // a maker whose latest inspection failed
	for _, c := range []struct {
		name, target string
		header       []string
		has          []string
	}{
		{"home zh", "/quality/", nil, []string{`<html lang="zh-CN">`, "产品质量承诺查询", `name="q"`, "<option"}},
		{"home en by header", "/quality/", []string{"Accept-Language", "en"}, []string{`<html lang="en">`, "Quality commitment registry"}},
		{"search by category", "/quality/?category=toys", nil, []string{`href="/quality/enterprises/ent_`}},
		{"maker zh", "/quality/enterprises/" + id, nil, []string{"质量承诺", "执法抽检结果", "不合格", string(uscc), `href="/quality/inspections/ins_`}},
		{"maker en", "/quality/enterprises/" + id + "?locale=en", nil, []string{"Quality commitments", "Fail", `?locale=en"`}},
		{"cases", "/quality/cases", nil, []string{"典型案例", `class="qce-case"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := get(t, h, c.target, c.header...)
			b := body(t, resp)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("GET %s: %d\n%s", c.target, resp.StatusCode, b)
			}
			for _, want := range c.has {
				if !strings.Contains(b, want) {
					t.Errorf("GET %s lacks %q", c.target, want)
				}
			}
			checkPage(t, c.target, b)
		})
	}

	// A USCC goes straight to its maker's page.
	resp := get(t, h, "/quality/?q="+string(uscc))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/quality/enterprises/"+id {
		t.Errorf("search by USCC: %d to %q; want 303 to the maker", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An inspection page, reached from the maker's.
	page := body(t, get(t, h, "/quality/enterprises/"+id))
	i := strings.Index(page, `href="/quality/inspections/`)
	if i < 0 {
		t.Fatal("the maker's page links to no inspection")
	}
	link := page[i+len(`href="`):]
	link = link[:strings.IndexByte(link, '"')]
	ins := get(t, h, link)
	if b := body(t, ins); ins.StatusCode != 200 || !strings.Contains(b, "报告编号") {
		t.Errorf("GET %s: %d\n%s", link, ins.StatusCode, b)
	}
}

// checkPage holds the pages to what the badges are held to: well-formed
// (they are written as XHTML, so a strict XML parser checks them), no
// script, no event handler, no inline style, and links only within the
// site or to the verify host.
func checkPage(t *testing.T, what, b string) {
	t.Helper()
	b = strings.TrimPrefix(b, "<!doctype html>\n")
	testio.CheckXML(t, what, b, widget.DefaultVerifyHost, true)
}

func TestEnquiryPagesEscapeHostileText(t *testing.T) {
	e := setup(t, []sandbox.Option{sandbox.WithHostileText()})
	h := e.q.Handler("/quality/")
	for i := range e.srv.Demo()[:4] {
		id, _ := makerOf(t, e, i)
		for _, target := range []string{"/quality/enterprises/" + id, "/quality/enterprises/" + id + "?locale=en", "/quality/cases", "/quality/?category=toys"} {
			resp := get(t, h, target)
			b := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", target, resp.StatusCode)
			}
			checkPage(t, target, b)
		}
	}
}

func TestEnquiryPagesSayWhenTheRegistryIsDown(t *testing.T) {
	e := setup(t, nil)
	h := e.q.Handler("/quality/")
	e.srv.SetFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503})
	for _, target := range []string{"/quality/enterprises/ent_0000001", "/quality/cases", "/quality/?q=清源"} {
		resp := get(t, h, target)
		b := body(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "暂时无法连接") || !strings.Contains(b, `<html lang="zh-CN">`) {
			t.Errorf("GET %s with the registry down: %d\n%s", target, resp.StatusCode, b)
		}
	}
	e.srv.SetFaults()
	resp := get(t, h, "/quality/enterprises/ent_9999999?locale=en")
	if b := body(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(b, "No such record") {
		t.Errorf("an unknown maker: %d\n%s", resp.StatusCode, b)
	}
	resp = get(t, h, "/quality/?q="+strings.Repeat("x", 200))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an overlong query: %d; want 400", resp.StatusCode)
	}
}

// A registry that hangs costs an enquiry page one budget (1 s), not the
// cache's fetch timeout (5 s; 10 s for a search that reads twice): then
// the page says the registry cannot be reached, with a link to try again.
func TestEnquiryPagesKeepTheirBudgetWhenTheRegistryHangs(t *testing.T) {
	_, qc := sdktest.Over(t, sdktest.Hung(t), nil)
	w, err := widget.New(qc)
	if err != nil {
		t.Fatal(err)
	}
	q, err := enquiry.New(qc, w)
	if err != nil {
		t.Fatal(err)
	}
	h := q.Handler("/quality/")
	for _, target := range []string{"/quality/enterprises/ent_0000001", "/quality/cases", "/quality/?q=qingdao&locale=en"} {
		start := time.Now()
		resp := get(t, h, target)
		took := time.Since(start)
		b := body(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the registry hanging: %d; want 503", target, resp.StatusCode)
		}
		if want := `href="` + html.EscapeString(target); !strings.Contains(b, want) {
			t.Errorf("GET %s: no link to try again (%s) in\n%s", target, want, b)
		}
		// A functional bound around the 1 s budget, far below the 5 s
		// the cache would wait: not a performance figure.
		if took > 3*time.Second {
			t.Errorf("GET %s took %v with the registry hanging; want about the 1 s budget", target, took)
		}
		checkPage(t, target, b)
	}
}
