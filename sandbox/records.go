package sandbox

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// A record's verify_url points at the regulator's public enquiry platform,
// where a shopper checks a badge was not faked. The sandbox plays that
// platform too: GET /enterprises/{id}, /commitments/{id}, /inspections/{id}
// and /cases/{id} answer the record as an HTML page. Serve the sandbox
// over TLS under the verify host (or map that host to it, as the browser
// tests do) and a badge's link can be followed.

var recordPage = template.Must(template.New("record").Parse(`<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · 产品质量承诺名录 (sandbox)</title></head>
<body>
<header><p>产品质量承诺名录 · Product quality commitment registry <small>(sandbox)</small></p></header>
<main>
<h1 id="record">{{.Title}}</h1>
<p>{{.Kind}} <code>{{.ID}}</code></p>
<dl>{{range .Facts}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
</main>
</body>
</html>
`))

type recordFact struct{ Label, Value string }

type recordView struct {
	Title, Kind, ID string
	Facts           []recordFact
}

func dateOf(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.DateOnly)
}

func bilingual(t client.Text) string {
	if t.EN == "" || t.EN == t.ZH {
		return t.ZH
	}
	return t.ZH + " / " + t.EN
}

// recordPages serves the record pages.
func (s *Sandbox) recordPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /enterprises/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, _, ok := s.reg.enterprise(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		e := d.ent
		writeRecord(w, recordView{Title: bilingual(e.Name), Kind: "企业 / Enterprise", ID: e.ID, Facts: []recordFact{
			{"统一社会信用代码 / USCC", string(e.USCC)},
			{"所在地区 / Region", bilingual(e.Region)},
			{"列入名录 / Listed", dateOf(e.ListedAt)},
		}})
	})
	mux.HandleFunc("GET /commitments/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.reg.commitment(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		var items []string
		for _, it := range c.Items {
			items = append(items, strings.TrimSpace(it.Standard+" "+bilingual(it.Text)))
		}
		writeRecord(w, recordView{Title: "质量承诺 / Quality commitment", Kind: "承诺 / Commitment", ID: c.ID, Facts: []recordFact{
			{"企业 / Enterprise", c.EnterpriseID},
			{"类别 / Category", c.Category},
			{"状态 / Status", string(c.Status)},
			{"有效期 / In force", dateOf(c.EffectiveAt) + " – " + dateOf(c.ExpiresAt)},
			{"承诺事项 / Items", strings.Join(items, "；")},
		}})
	})
	mux.HandleFunc("GET /inspections/{id}", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.reg.inspection(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		var failed []string
		for _, f := range in.FailedItems {
			failed = append(failed, bilingual(f.Item)+": "+f.Measured+" ("+f.Requirement+")")
		}
		writeRecord(w, recordView{Title: "监督抽查结果 / Inspection result", Kind: "抽检 / Inspection", ID: in.ID, Facts: []recordFact{
			{"产品 / Product", bilingual(in.Product.Name) + " " + in.Product.Brand + " " + in.Product.Model},
			{"企业 / Enterprise", in.EnterpriseID},
			{"结果 / Result", string(in.Result)},
			{"公布日期 / Published", dateOf(in.PublishedAt)},
			{"不合格项目 / Failed items", strings.Join(failed, "；")},
			{"报告编号 / Report", in.ReportNo},
		}})
	})
	mux.HandleFunc("GET /cases/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.reg.caseRecord(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeRecord(w, recordView{Title: bilingual(c.Title), Kind: "典型案例 / Typical case", ID: c.ID, Facts: []recordFact{
			{"品牌 / Brand", c.Brand},
			{"公布日期 / Published", dateOf(c.PublishedAt)},
			{"摘要 / Summary", bilingual(c.Summary)},
		}})
	})
}

func writeRecord(w http.ResponseWriter, v recordView) {
	var buf bytes.Buffer
	if err := recordPage.Execute(&buf, v); err != nil {
		http.Error(w, "record page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Write(buf.Bytes())
}
