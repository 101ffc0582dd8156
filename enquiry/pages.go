package enquiry

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Templates are parsed once, when the package loads; a broken template is
// a bug in this package, caught by any test.
var (
	templates  = template.Must(template.ParseFS(templateFiles, "templates/*.tmpl"))
	standalone = templates.Lookup("standalone")
)

// Dates are the registry's calendar days, in China's time zone.
var chinaTime = time.FixedZone("CST", 8*60*60)

// pageWords are the enquiry pages' texts in one locale.
type pageWords struct {
	Entry, Search, Cases, Source                     string
	NameOrUSCC, Category, AnyCategory                string
	NoResults, NextPage, NoneYet, BackToSearch       string
	USCC, Region, ListedOn, Verify, Maker            string
	Commitments, InForce, Scope, Inspections         string
	Published, Product, Result, Batch, Authority     string
	Sampled, ReportNo, Rectification                 string
	Item, Requirement, Measured, CasesAbout          string
	Down, TryAgain, NotFound, BadQuery               string
	Pass, Fail, Pending                              string
	Active, Suspended, Revoked, Expired, Deadline    string
	CasesTitle, SearchTitle, InspectionTitle         string
	Report, ReportAbout, GTIN, Listing, Kind         string
	Description, Contact, Send, Sent, Forbidden      string
	KindCounterfeit, KindSubstandard, KindFalse      string
	KindOther, NeedGTIN, NeedListing, NeedKind       string
	NeedDescription, TooLong, NotSent                string
	BadID, BadSearch, OtherValue                     string
	RectOrdered, RectInProgress, RectCompleted       string
	dateLayout                                       string
	brandsIn, modelsIn, prefixesIn, listSep, itemSep string
}

var pageVocab = [...]pageWords{
	widget.LocaleZH: {
		Entry: "产品质量承诺查询", Search: "查询", Cases: "典型案例",
		Source:     "数据来自市场监管部门产品质量承诺名录。",
		NameOrUSCC: "企业名称或统一社会信用代码", Category: "产品类别", AnyCategory: "全部类别",
		NoResults: "没有找到符合条件的企业。", NextPage: "下一页", NoneYet: "暂无。", BackToSearch: "返回查询",
		USCC: "统一社会信用代码", Region: "所在地区", ListedOn: "列入名录日期", Verify: "到官方平台核验", Maker: "查看企业",
		Commitments: "质量承诺", InForce: "有效期", Scope: "适用范围：", Inspections: "执法抽检结果",
		Published: "公布日期", Product: "产品", Result: "结果", Batch: "批次", Authority: "抽检机关",
		Sampled: "抽样日期", ReportNo: "报告编号", Rectification: "整改情况",
		Item: "不合格项目", Requirement: "标准要求", Measured: "实测值",
		CasesAbout: "市场监管部门公布的典型执法案例。",
		Down:       "暂时无法连接产品质量承诺名录，请稍后再试。", TryAgain: "重试", NotFound: "没有找到这条记录。",
		BadQuery: "查询条件有误：", Pass: "合格", Fail: "不合格", Pending: "检验中",
		Active: "有效", Suspended: "已暂停", Revoked: "已撤销", Expired: "已过期", Deadline: "整改期限",
		CasesTitle: "典型案例", SearchTitle: "产品质量承诺查询", InspectionTitle: "抽检结果",
		Report: "举报假冒或不合格商品", ReportAbout: "您的举报将作为线索转交市场监管部门。请尽量写清您看到的情况。",
		GTIN: "商品条码", Listing: "商品页面链接", Kind: "问题类型", Description: "您看到的情况", Contact: "联系方式（选填）",
		Send: "提交举报", Sent: "已收到您的举报，编号：", Forbidden: "表单已过期或来源不明，请重新打开举报页面再提交。",
		KindCounterfeit: "疑似假冒", KindSubstandard: "疑似质量不合格", KindFalse: "虚假宣传承诺", KindOther: "其他",
		NeedGTIN: "请填写有效的商品条码：", NeedListing: "请填写以 http:// 或 https:// 开头的商品页面链接。",
		NeedKind: "请选择问题类型。", NeedDescription: "请描述您看到的情况。", TooLong: "内容过长。",
		NotSent: "暂时无法提交，您填写的内容保留在下方，请稍后再试。",
		BadID:   "这条记录的编号格式不正确。", BadSearch: "查询条件过长或格式不正确。", OtherValue: "其他",
		RectOrdered: "已责令整改", RectInProgress: "整改中", RectCompleted: "已完成整改",
		dateLayout: "2006-01-02", brandsIn: "品牌 ", modelsIn: "型号 ", prefixesIn: "商品条码前缀 ", listSep: "、", itemSep: "；",
	},
	widget.LocaleEN: {
		Entry: "Quality commitment registry", Search: "Search", Cases: "Typical cases",
		Source:     "From the market regulator's product quality commitment registry.",
		NameOrUSCC: "Company name or unified social credit code", Category: "Category", AnyCategory: "All categories",
		NoResults: "No company on the list matches.", NextPage: "Next page", NoneYet: "None yet.", BackToSearch: "Back to search",
		USCC: "Unified social credit code", Region: "Region", ListedOn: "Listed on", Verify: "Verify on the official platform", Maker: "See the company",
		Commitments: "Quality commitments", InForce: "In force", Scope: "Covers:", Inspections: "Law-enforcement inspections",
		Published: "Published", Product: "Product", Result: "Result", Batch: "Batch", Authority: "Authority",
		Sampled: "Sampled", ReportNo: "Report number", Rectification: "Rectification",
		Item: "Failed item", Requirement: "Requirement", Measured: "Measured",
		CasesAbout: "Typical enforcement cases published by the market regulator.",
		Down:       "The quality commitment registry cannot be reached just now. Please try again shortly.", TryAgain: "Try again", NotFound: "No such record.",
		BadQuery: "The search is not valid: ", Pass: "Pass", Fail: "Fail", Pending: "Pending",
		Active: "Active", Suspended: "Suspended", Revoked: "Revoked", Expired: "Expired", Deadline: "deadline",
		CasesTitle: "Typical cases", SearchTitle: "Quality commitment registry", InspectionTitle: "Inspection result",
		Report: "Report a fake or sub-standard product", ReportAbout: "Your report goes to the market regulator as a lead. Please say what you saw as clearly as you can.",
		GTIN: "Barcode (GTIN)", Listing: "Link to the product page", Kind: "What is wrong", Description: "What you saw", Contact: "How to reach you (optional)",
		Send: "Send the report", Sent: "Your report was received. Reference:", Forbidden: "This form has expired or did not come from this site. Please open the report page again and resend.",
		KindCounterfeit: "Suspected counterfeit", KindSubstandard: "Suspected sub-standard quality", KindFalse: "False commitment claim", KindOther: "Something else",
		NeedGTIN: "Please give a valid barcode: ", NeedListing: "Please give the product page's link, starting with http:// or https://.",
		NeedKind: "Please choose what is wrong.", NeedDescription: "Please say what you saw.", TooLong: "This is too long.",
		NotSent: "The report could not be sent just now. What you wrote is kept below; please try again shortly.",
		BadID:   "That record's reference is not valid.", BadSearch: "The search is too long or not valid.", OtherValue: "Other",
		RectOrdered: "Ordered to rectify", RectInProgress: "Rectifying", RectCompleted: "Rectified",
		dateLayout: "2006-01-02", brandsIn: "brands ", modelsIn: "models ", prefixesIn: "GTIN prefixes ", listSep: ", ", itemSep: "; ",
	},
}

// page is what every enquiry template reads.
type page struct {
	Lang, Title, Prefix string
	T                   *pageWords
	Q                   string // the locale query to carry in links ("" or "?locale=en")
	Explicit            bool   // the locale was chosen in the query
	Message             string
	Self                string        // this page's path and query
	Retry               string        // on a page saying the registry is down: a link to try again
	Reports             bool          // the report form is offered (WithPlatformName)
	Private             bool          // the page holds a report's status link (see status.go)
	Keep                template.URL  // the query the language links keep, encoded: a private page's token
	req                 *http.Request // the shopper's, for the layout's data and nonce

	Query, Category string
	Categories      []option
	Searched        bool
	Enterprises     []enterpriseRow
	Next            string

	Enterprise  *enterpriseView
	Commitments []commitmentView
	Inspections []inspectionView
	Inspection  *inspectionView
	Cases       []caseView
	Report      *reportForm
	S           *statusWords
	Status      *statusView
	StatusLink  string
}

type option struct{ Code, Name string }

type enterpriseRow struct{ ID, Name, USCC, Region string }

type enterpriseView struct{ Name, USCC, Region, Listed, Verify string }

type commitmentView struct {
	Category, Status, StatusClass, From, To, Reason, Scope, Verify string
	Items                                                          []itemView
}

type itemView struct{ Standard, Text string }

type inspectionView struct {
	ID, EnterpriseID, Product, Batch, Authority, Sampled, Published string
	Result, ResultClass, Failed, ReportNo, Rectification, Verify    string
	FailedItems                                                     []failedView
}

type failedView struct{ Item, Requirement, Measured string }

type caseView struct{ Title, Summary, Brand, Platform, Authority, Published, Verify, Clues string }

// site serves the pages under one prefix.
type site struct {
	e      *Entry
	prefix string
}

// newPage starts a page in the locale the request asks for, read as the
// widget's badge endpoint reads it: the query's (?locale=, any BCP 47
// tag), else the browser's Accept-Language, else the widget's.
func (s *site) newPage(r *http.Request, title func(*pageWords) string) (*page, widget.Locale) {
	// A malformed theme or size in the query is the badge's business, not
	// the page's: the locale is read before either.
	look, _ := s.e.badges.RequestLook(r)
	loc := look.Locale
	explicit := false
	if v := r.URL.Query().Get("locale"); v != "" {
		_, err := widget.ParseLocale(v)
		explicit = err == nil
	}
	p := &page{Lang: loc.String(), Prefix: s.prefix, T: &pageVocab[loc], Self: r.URL.RequestURI(), Reports: s.e.platform != "", req: r}
	if explicit {
		p.Explicit = true
		p.Q = "?locale=" + loc.String()
	}
	p.Title = title(p.T)
	return p, loc
}

// fail renders the page for a read that failed: not found, bad input, or
// the registry out of reach.
func (s *site) fail(rw http.ResponseWriter, p *page, err error) {
	code := http.StatusServiceUnavailable
	p.Message, p.Retry = p.T.Down, p.Self
	switch {
	case errors.Is(err, client.ErrNotFound):
		code, p.Message, p.Retry = http.StatusNotFound, p.T.NotFound, ""
	case errors.Is(err, client.ErrInvalidID):
		code, p.Message, p.Retry = http.StatusBadRequest, p.T.BadID, ""
	case errors.Is(err, client.ErrInvalidInput):
		// The SDK's own words are English and name its internals; the
		// shopper reads the page's language.
		code, p.Message, p.Retry = http.StatusBadRequest, p.T.BadSearch, ""
	}
	s.render(rw, code, "problem", p)
}

func (s *site) date(t time.Time, loc widget.Locale) string {
	if t.IsZero() {
		return ""
	}
	return widget.LTR(t.In(chinaTime).Format(pageVocab[loc].dateLayout))
}

// textIn is registry text in the page's locale, isolated (see Isolate).
func textIn(t client.Text, loc widget.Locale) string {
	if loc == widget.LocaleEN {
		return widget.Isolate(t.In("en"))
	}
	return widget.Isolate(t.ZH)
}

// joinWith joins registry strings, each made safe by f.
func joinWith(items []string, sep string, f func(string) string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = f(s)
	}
	return strings.Join(out, sep)
}

// search is the entry's home: the search form and its results.
func (s *site) search(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.SearchTitle })
	ctx := r.Context()
	qs := r.URL.Query()
	p.Query = strings.TrimSpace(qs.Get("q"))
	p.Category = strings.TrimSpace(qs.Get("category"))
	if len(p.Query) > 100 || len(p.Category) > 64 || len(qs.Get("cursor")) > 512 {
		s.fail(rw, p, client.ErrInvalidInput)
		return
	}
	if cats, err := s.e.qc.Categories(ctx); err == nil {
		for _, c := range cats.Data {
			p.Categories = append(p.Categories, option{c.Code, textIn(c.Name, loc)})
		}
	}
	if p.Query == "" && p.Category == "" {
		s.render(rw, http.StatusOK, "search", p)
		return
	}
	// A USCC names one maker: go straight to its page.
	if u, err := client.ParseUSCC(p.Query); err == nil {
		ent, err := s.e.qc.Enterprise(ctx, string(u))
		if err == nil {
			http.Redirect(rw, r, s.prefix+"enterprises/"+url.PathEscape(ent.ID)+p.Q, http.StatusSeeOther)
			return
		}
		if !errors.Is(err, client.ErrNotFound) {
			s.fail(rw, p, err)
			return
		}
	}
	p.Searched = true
	opts := &client.EnterpriseListOptions{Query: p.Query, Category: p.Category}
	opts.Limit = 20
	opts.Cursor = qs.Get("cursor")
	res, err := s.e.qc.Enterprises(ctx, opts)
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	for _, e := range res.Data {
		p.Enterprises = append(p.Enterprises, enterpriseRow{e.ID, textIn(e.Name, loc), widget.LTR(string(e.USCC)), textIn(e.Region, loc)})
	}
	if res.NextCursor != "" {
		v := url.Values{"q": {p.Query}, "category": {p.Category}, "cursor": {res.NextCursor}}
		if p.Explicit {
			v.Set("locale", p.Lang)
		}
		p.Next = s.prefix + "?" + v.Encode()
	}
	s.render(rw, http.StatusOK, "search", p)
}

// enterprise is a maker's page: its commitments and its inspections.
func (s *site) enterprise(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.Entry })
	ctx := r.Context()
	id := r.PathValue("id")
	ent, err := s.e.qc.Enterprise(ctx, id)
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	p.Title = textIn(ent.Name, loc)
	p.Enterprise = &enterpriseView{Name: p.Title, USCC: widget.LTR(string(ent.USCC)), Region: textIn(ent.Region, loc),
		Listed: s.date(ent.ListedAt, loc), Verify: s.e.badges.VerifyLink(ent.VerifyURL)}
	cmts, err := s.e.qc.EnterpriseCommitments(ctx, ent.ID, &client.ListOptions{Limit: 100})
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	names := s.categoryNames(ctx, loc)
	for _, c := range cmts.Data {
		p.Commitments = append(p.Commitments, s.commitmentView(c, names, loc))
	}
	ins, err := s.e.qc.Inspections(ctx, &client.InspectionListOptions{Enterprise: ent.ID, ListOptions: client.ListOptions{Limit: 50}})
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	for _, in := range ins.Data {
		p.Inspections = append(p.Inspections, s.inspectionView(in, loc))
	}
	s.render(rw, http.StatusOK, "enterprise", p)
}

func (s *site) categoryNames(ctx context.Context, loc widget.Locale) map[string]string {
	names := map[string]string{}
	if cats, err := s.e.qc.Categories(ctx); err == nil {
		for _, c := range cats.Data {
			names[c.Code] = textIn(c.Name, loc)
		}
	}
	return names
}

func (s *site) commitmentView(c client.Commitment, names map[string]string, loc widget.Locale) commitmentView {
	t := &pageVocab[loc]
	v := commitmentView{Category: names[c.Category], From: s.date(c.EffectiveAt, loc), To: s.date(c.ExpiresAt, loc),
		StatusClass: "withdrawn", Verify: s.e.badges.VerifyLink(c.VerifyURL)}
	if v.Category == "" {
		v.Category = widget.LTR(c.Category)
	}
	switch c.Status {
	case client.CommitmentActive:
		v.Status, v.StatusClass = t.Active, "active"
	case client.CommitmentSuspended:
		v.Status = t.Suspended
	case client.CommitmentRevoked:
		v.Status = t.Revoked
	case client.CommitmentExpired:
		v.Status = t.Expired
	default:
		// A status this version does not know: say so in words, not in
		// the registry's code.
		v.Status = t.OtherValue
	}
	if c.StatusReason != nil {
		v.Reason = textIn(*c.StatusReason, loc)
	}
	var scope []string
	if len(c.Scope.Brands) > 0 {
		scope = append(scope, t.brandsIn+joinWith(c.Scope.Brands, t.listSep, widget.Isolate))
	}
	if len(c.Scope.Models) > 0 {
		scope = append(scope, t.modelsIn+joinWith(c.Scope.Models, t.listSep, widget.LTR))
	}
	if len(c.Scope.GTINPrefixes) > 0 {
		scope = append(scope, t.prefixesIn+joinWith(c.Scope.GTINPrefixes, t.listSep, widget.LTR))
	}
	v.Scope = strings.Join(scope, t.itemSep)
	for _, it := range c.Items {
		v.Items = append(v.Items, itemView{widget.LTR(it.Standard), textIn(it.Text, loc)})
	}
	return v
}

func (s *site) inspectionView(in client.Inspection, loc widget.Locale) inspectionView {
	t := &pageVocab[loc]
	v := inspectionView{ID: in.ID, EnterpriseID: in.EnterpriseID, Product: textIn(in.Product.Name, loc),
		Batch: widget.LTR(in.Product.Batch), Authority: textIn(in.Authority, loc), Sampled: s.date(in.SampledAt, loc),
		Published: s.date(in.PublishedAt, loc), ReportNo: widget.LTR(in.ReportNo), Verify: s.e.badges.VerifyLink(in.VerifyURL)}
	if in.Product.Brand != "" {
		v.Product = widget.Isolate(in.Product.Brand) + " " + v.Product
	}
	if in.Product.Model != "" {
		v.Product += " " + widget.LTR(in.Product.Model)
	}
	switch in.Result {
	case client.InspectionPass:
		v.Result, v.ResultClass = t.Pass, "pass"
	case client.InspectionFail:
		v.Result, v.ResultClass = t.Fail, "fail"
	default:
		v.Result, v.ResultClass = t.Pending, "pending"
	}
	var failed []string
	for _, f := range in.FailedItems {
		v.FailedItems = append(v.FailedItems, failedView{textIn(f.Item, loc), widget.Isolate(f.Requirement), widget.Isolate(f.Measured)})
		failed = append(failed, textIn(f.Item, loc))
	}
	v.Failed = strings.Join(failed, t.listSep)
	if rc := in.Rectification; rc != nil {
		switch rc.Status {
		case "ordered":
			v.Rectification = t.RectOrdered
		case "in_progress":
			v.Rectification = t.RectInProgress
		case "completed":
			v.Rectification = t.RectCompleted
		default:
			v.Rectification = t.OtherValue
		}
		if !rc.Deadline.IsZero() {
			v.Rectification += " · " + t.Deadline + " " + s.date(rc.Deadline, loc)
		}
		if rc.Note != nil {
			v.Rectification += " · " + textIn(*rc.Note, loc)
		}
	}
	return v
}

// inspection is one inspection's page.
func (s *site) inspection(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.InspectionTitle })
	in, err := s.e.qc.Inspection(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	v := s.inspectionView(*in, loc)
	p.Inspection = &v
	s.render(rw, http.StatusOK, "inspection", p)
}

// cases lists the typical enforcement cases.
func (s *site) cases(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.CasesTitle })
	opts := &client.CaseListOptions{Category: r.URL.Query().Get("category")}
	opts.Limit = 20
	opts.Cursor = r.URL.Query().Get("cursor")
	if len(opts.Category) > 64 || len(opts.Cursor) > 512 {
		s.fail(rw, p, client.ErrInvalidInput)
		return
	}
	res, err := s.e.qc.Cases(r.Context(), opts)
	if err != nil {
		s.fail(rw, p, err)
		return
	}
	for _, c := range res.Data {
		p.Cases = append(p.Cases, caseView{Title: textIn(c.Title, loc), Summary: textIn(c.Summary, loc), Brand: widget.Isolate(c.Brand),
			Platform: widget.Isolate(c.Platform), Authority: textIn(c.Authority, loc), Published: s.date(c.PublishedAt, loc), Verify: s.e.badges.VerifyLink(c.VerifyURL),
			Clues: statusVocab[loc].clues(c.Clues)})
	}
	if res.NextCursor != "" {
		v := url.Values{"cursor": {res.NextCursor}}
		if opts.Category != "" {
			v.Set("category", opts.Category)
		}
		if p.Explicit {
			v.Set("locale", p.Lang)
		}
		p.Next = s.prefix + "cases?" + v.Encode()
	}
	s.render(rw, http.StatusOK, "cases", p)
}
