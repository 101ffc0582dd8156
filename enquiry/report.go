package enquiry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// The report form lets a shopper report a suspected fake or sub-standard
// listing; the platform forwards it to the regulator (client.Reports).
//
// The form is offered only when the platform has said how reports name
// it (WithPlatformName): the request's Host is the sender's to choose, and
// must not reach the regulator as the platform's name.
//
// It is protected against cross-site requests twice. A POST must pass
// net/http's CrossOriginProtection (see crossOrigin for where ours
// differs) or it gets a bare 403: no form, no token, nothing it sent
// echoed back. And it must carry a token that is a MAC of a cookie scoped
// to the entry (SameSite=Strict, HttpOnly), under a key of the widget's
// (WithReportKey; share it across a fleet); a form from this site whose
// token no longer holds (the cookie expired) comes back filled in, with a
// fresh token, so that nothing typed is lost.
//
// A report's Idempotency-Key is the form's nonce, fixed per rendering, and
// a digest of what was sent: a double click or a resend after a lost
// answer files one report, and a resend the shopper edited first files the
// edited one. The API answering 409 all the same (the fleet named the
// platform differently for the same key) means the report was filed: the
// shopper is told so (409), never to try again.

const (
	csrfCookie     = "qcw_csrf"
	maxReportBody  = 64 << 10 // 4,000 characters of 4 bytes, percent-encoded, and the rest
	reportTimeout  = 10 * time.Second
	maxDescription = 4000
	maxContact     = 200
)

type reportForm struct {
	Nonce, Token                        string
	GTIN, Listing, Description, Contact string
	Kinds                               []kindOption
	Errors                              map[string]string
}

// reportWords are the report form's own texts in one locale; the rest are
// in pageWords.
type reportWords struct {
	GTINEmpty, GTINCharacter, GTINLength, GTINCheckDigit, GTINInvalid string
	Refused, AlreadySent                                              string
}

var reportVocab = [...]reportWords{
	widget.LocaleZH: {
		GTINEmpty:      "请填写商品条码。",
		GTINCharacter:  "商品条码只能由半角数字 0–9 组成，请检查是否混入了字母、符号或全角数字。",
		GTINLength:     "商品条码应为 8、12、13 或 14 位数字，请核对位数。",
		GTINCheckDigit: "商品条码的校验位（最后一位）与前面的数字不符，请对照包装上的条码核对。",
		GTINInvalid:    "请填写有效的商品条码。",
		Refused:        "监管部门的系统未接受这份举报，请检查填写的内容后再提交。",
		AlreadySent:    "这份举报已经提交过了，无需再次提交。如需举报其他情况，请重新打开举报页面。",
	},
	widget.LocaleEN: {
		GTINEmpty:      "Please give the barcode.",
		GTINCharacter:  "A barcode has only the digits 0 to 9: please check for letters, signs or full-width digits.",
		GTINLength:     "A barcode has 8, 12, 13 or 14 digits: please count them again.",
		GTINCheckDigit: "The barcode's last digit, its check digit, does not match the others: please check it against the package.",
		GTINInvalid:    "Please give a valid barcode.",
		Refused:        "The regulator's service did not accept this report. Please check what you wrote and send it again.",
		AlreadySent:    "This report was already sent; there is no need to send it again. To report something else, please open the report page again.",
	},
}

// gtinProblem says what is wrong with a GTIN in the shopper's words:
// ParseGTIN's own text is English and quotes the input.
func (t *reportWords) gtinProblem(err error) string {
	var idErr *client.IDError
	if errors.As(err, &idErr) {
		switch idErr.Reason {
		case client.ReasonEmpty:
			return t.GTINEmpty
		case client.ReasonCharacter:
			return t.GTINCharacter
		case client.ReasonLength:
			return t.GTINLength
		case client.ReasonCheckDigit:
			return t.GTINCheckDigit
		}
	}
	return t.GTINInvalid
}

type kindOption struct {
	Code, Name string
	Checked    bool
}

var reportRef = regexp.MustCompile(`^rpt_[A-Za-z0-9]{1,60}$`)

func randomToken() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// token is the form's proof that it was rendered for this browser.
func (e *Entry) token(cookie, nonce string) string {
	m := hmac.New(sha256.New, e.reportKey)
	m.Write([]byte(cookie))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfCookieOf returns the browser's cookie value, setting a new one when
// it has none.
func (s *site) csrfCookieOf(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(rw, &http.Cookie{
		Name: csrfCookie, Value: v, Path: s.prefix, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return v
}

func (s *site) kinds(loc widget.Locale, chosen string) []kindOption {
	t := &pageVocab[loc]
	out := []kindOption{
		{string(client.ReportCounterfeit), t.KindCounterfeit, false},
		{string(client.ReportSubstandard), t.KindSubstandard, false},
		{string(client.ReportFalseClaim), t.KindFalse, false},
		{string(client.ReportOther), t.KindOther, false},
	}
	for i := range out {
		out[i].Checked = out[i].Code == chosen
	}
	return out
}

// reportPage shows the form, pre-filled from the query (?gtin=…&listing=…)
// so that a product page can link to it.
func (s *site) reportPage(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.Report })
	cookie := s.csrfCookieOf(rw, r)
	nonce := randomToken()
	qs := r.URL.Query()
	f := &reportForm{Nonce: nonce, Token: s.e.token(cookie, nonce),
		GTIN: clip(qs.Get("gtin"), 20), Listing: clip(qs.Get("listing"), 2048), Kinds: s.kinds(loc, "")}
	p.Report = f
	s.render(rw, http.StatusOK, "report", p)
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sendReport checks a submitted form and forwards it. It runs behind the
// cross-origin check (crossOrigin), so the request comes from this site:
// whatever goes wrong, the shopper's words come back in the form, and
// nothing typed is lost.
func (s *site) sendReport(rw http.ResponseWriter, r *http.Request) {
	p, loc := s.newPage(r, func(t *pageWords) string { return t.Report })
	t, rt := &pageVocab[loc], &reportVocab[loc]
	r.Body = http.MaxBytesReader(rw, r.Body, maxReportBody)
	if err := r.ParseForm(); err != nil {
		p.Message = t.TooLong
		s.render(rw, http.StatusRequestEntityTooLarge, "problem", p)
		return
	}
	f := &reportForm{
		Nonce: r.PostForm.Get("nonce"), GTIN: strings.TrimSpace(r.PostForm.Get("gtin")),
		Listing: strings.TrimSpace(r.PostForm.Get("listing_url")), Description: strings.TrimSpace(r.PostForm.Get("description")),
		Contact: strings.TrimSpace(r.PostForm.Get("contact")), Errors: map[string]string{},
	}
	kind := r.PostForm.Get("kind")
	f.Kinds = s.kinds(loc, kind)
	p.Report = f

	cookie, err := r.Cookie(csrfCookie)
	if err != nil || f.Nonce == "" || len(f.Nonce) > 64 ||
		!hmac.Equal([]byte(r.PostForm.Get("token")), []byte(s.e.token(cookie.Value, f.Nonce))) {
		// From this site, but the token no longer holds (the cookie
		// expired, or was cleared): a fresh form, with what was typed.
		f.Nonce = randomToken()
		f.Token = s.e.token(s.csrfCookieOf(rw, r), f.Nonce)
		p.Message = t.Forbidden
		s.render(rw, http.StatusForbidden, "report", p)
		return
	}
	f.Token = r.PostForm.Get("token")

	gtin, err := client.ParseGTIN(f.GTIN)
	if err != nil {
		f.Errors["gtin"] = rt.gtinProblem(err)
	}
	if u, err := url.Parse(f.Listing); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(f.Listing) > 2048 {
		f.Errors["listing_url"] = t.NeedListing
	}
	switch client.ReportKind(kind) {
	case client.ReportCounterfeit, client.ReportSubstandard, client.ReportFalseClaim, client.ReportOther:
	default:
		f.Errors["kind"] = t.NeedKind
	}
	switch n := utf8.RuneCountInString(f.Description); {
	case n == 0:
		f.Errors["description"] = t.NeedDescription
	case n > maxDescription || !utf8.ValidString(f.Description):
		f.Errors["description"] = t.TooLong
	}
	if utf8.RuneCountInString(f.Contact) > maxContact {
		f.Errors["contact"] = t.TooLong
	}
	if len(f.Errors) > 0 {
		s.render(rw, http.StatusBadRequest, "report", p)
		return
	}

	params := client.ReportParams{
		Product: client.ProductKey{GTIN: gtin}, Kind: client.ReportKind(kind), ListingURL: f.Listing,
		Platform: s.e.platform, Description: f.Description, Contact: f.Contact,
	}
	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	rep, _, err := s.e.qc.API().Reports.Create(ctx, params, &client.ReportOptions{IdempotencyKey: idempotencyKey(f.Nonce, params)})
	if err != nil {
		var apiErr *client.APIError
		errors.As(err, &apiErr)
		switch {
		case apiErr != nil && apiErr.StatusCode == http.StatusConflict:
			// The key is this content's, so the report it names was
			// filed; sending it again cannot change the answer.
			p.Report, p.Message = nil, rt.AlreadySent
			s.render(rw, http.StatusConflict, "report", p)
		case apiErr != nil && apiErr.StatusCode == http.StatusBadRequest:
			p.Message = rt.Refused
			s.render(rw, http.StatusBadRequest, "report", p)
		default:
			p.Message = t.NotSent
			s.render(rw, http.StatusServiceUnavailable, "report", p)
		}
		return
	}
	if s.e.filed != nil {
		s.e.filed(ctx, *rep)
	}
	// The confirmation carries the token to show the status link; it is a
	// private page (see reportSent).
	http.Redirect(rw, r, s.prefix+"report/sent?ref="+url.QueryEscape(rep.ID)+"&t="+url.QueryEscape(string(rep.AccessToken))+strings.Replace(p.Q, "?", "&", 1), http.StatusSeeOther)
}

// idempotencyKey names a report by its form's rendering and its content:
// the same form sent again with the same words is the same report, and
// with other words another one. Fields are length-prefixed, so that no
// two contents hash alike by moving text from one field to the next.
func idempotencyKey(nonce string, p client.ReportParams) string {
	h := sha256.New()
	for _, f := range []string{string(p.Product.GTIN), p.ListingURL, string(p.Kind), p.Description, p.Contact} {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	// 128 bits: no two contents of one form collide by chance.
	return "qcw-" + nonce + "-" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// crossOrigin is the report form's first guard: net/http's, which
// already refuses same-site requests (a sibling subdomain is another
// party). Two differences are ours:
//
//   - Behind a proxy that rewrites Host, an Origin cannot match Host, so a
//     browser that sends no Sec-Fetch-Site (older than 2023) would be
//     refused from the site's own pages: the origin WithSiteOrigin names
//     is trusted. A browser that sends Sec-Fetch-Site judged it against
//     the page's real origin, and needs nothing configured.
//   - The refusal is the entry's own plain 403, with Cache-Control:
//     no-store as all its plain answers have (the library's has none): a
//     forger gets no form, no token, no echo of its text and no cookie,
//     where a stale form from this site comes back filled in.
func crossOrigin(site string) (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	if site != "" {
		if err := c.AddTrustedOrigin(site); err != nil {
			return nil, err
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		plainError(rw, http.StatusForbidden, "forbidden: a report is sent from this site's own form")
	}))
	return c, nil
}

// parseOrigin reads a configured origin, scheme://host[:port] over http
// or https, perhaps ending in "/", into its normal form, which is how a
// browser sends it: AddTrustedOrigin matches the Origin field byte for
// byte. "null", and anything with a path, a query, a fragment or user
// info, is not an origin.
func parseOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") || (u.Path != "" && u.Path != "/") {
		return "", false
	}
	return joinOrigin(u.Scheme, u.Host)
}

// joinOrigin is an origin's normal form: the host in lower case, and the
// port only when it is not the scheme's default, so that equal origins
// are equal strings.
func joinOrigin(scheme, hostport string) (string, bool) {
	u := url.URL{Host: hostport}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// WithSiteOrigin sets the site's origin, such as
// "https://shop.example.com": scheme (http or https), host and port, no
// path. A report form sent from a page of that origin is accepted even
// when the request's Host is not the site's. Set it when a proxy in front
// of the entry rewrites Host: browsers that send Sec-Fetch-Site (all
// current ones) need nothing, but an older one is judged by its Origin,
// which without it must name the request's Host.
func WithSiteOrigin(origin string) Option {
	return func(e *Entry) error {
		o, ok := parseOrigin(origin)
		if !ok {
			return fmt.Errorf("site origin %q is not an http or https scheme://host[:port]", origin)
		}
		e.origin = o
		return nil
	}
}

// offered serves a report route only when the platform has named itself
// for reports (WithPlatformName); otherwise the route does not exist.
func (s *site) offered(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if s.e.platform == "" {
			p, _ := s.newPage(r, func(t *pageWords) string { return t.Entry })
			s.fail(rw, p, client.ErrNotFound)
			return
		}
		h(rw, r)
	}
}
