package widget

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/client"
)

// The report form lets a shopper report a suspected fake or sub-standard
// listing; the platform forwards it to the regulator (client.Reports).
//
// It is protected against cross-site requests twice: a cookie scoped to
// the entry (SameSite=Strict, HttpOnly) whose value the form's token is a
// MAC of, under a key of the widget's (WithReportKey; share it across a
// fleet), and the Origin header when the browser sends one. Each rendering
// of the form carries a nonce that is the report's Idempotency-Key, so a
// double click or a resubmission files one report.

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
func (w *Widget) token(cookie, nonce string) string {
	m := hmac.New(sha256.New, w.reportKey)
	m.Write([]byte(cookie))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfCookieOf returns the browser's cookie value, setting a new one when
// it has none.
func (q *enquiry) csrfCookieOf(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(rw, &http.Cookie{
		Name: csrfCookie, Value: v, Path: q.prefix, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return v
}

func (q *enquiry) kinds(loc Locale, chosen string) []kindOption {
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
func (q *enquiry) reportPage(rw http.ResponseWriter, r *http.Request) {
	p, loc := q.newPage(r, func(t *pageWords) string { return t.Report })
	cookie := q.csrfCookieOf(rw, r)
	nonce := randomToken()
	qs := r.URL.Query()
	f := &reportForm{Nonce: nonce, Token: q.w.token(cookie, nonce),
		GTIN: clip(qs.Get("gtin"), 20), Listing: clip(qs.Get("listing"), 2048), Kinds: q.kinds(loc, "")}
	p.Report = f
	q.render(rw, http.StatusOK, "report", p)
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

// sendReport checks a submitted form and forwards it. Whatever goes
// wrong, the shopper's words come back in the form: nothing typed is lost.
func (q *enquiry) sendReport(rw http.ResponseWriter, r *http.Request) {
	p, loc := q.newPage(r, func(t *pageWords) string { return t.Report })
	t := &pageVocab[loc]
	r.Body = http.MaxBytesReader(rw, r.Body, maxReportBody)
	if err := r.ParseForm(); err != nil {
		p.Message = t.TooLong
		q.render(rw, http.StatusRequestEntityTooLarge, "problem", p)
		return
	}
	f := &reportForm{
		Nonce: r.PostForm.Get("nonce"), GTIN: strings.TrimSpace(r.PostForm.Get("gtin")),
		Listing: strings.TrimSpace(r.PostForm.Get("listing_url")), Description: strings.TrimSpace(r.PostForm.Get("description")),
		Contact: strings.TrimSpace(r.PostForm.Get("contact")), Errors: map[string]string{},
	}
	kind := r.PostForm.Get("kind")
	f.Kinds = q.kinds(loc, kind)
	p.Report = f

	cookie, err := r.Cookie(csrfCookie)
	if !q.sameOrigin(r) || err != nil || f.Nonce == "" || len(f.Nonce) > 64 ||
		!hmac.Equal([]byte(r.PostForm.Get("token")), []byte(q.w.token(cookie.Value, f.Nonce))) {
		// A fresh form, with what was typed, so that the shopper can send
		// it from this site.
		f.Nonce = randomToken()
		f.Token = q.w.token(q.csrfCookieOf(rw, r), f.Nonce)
		p.Message = t.Forbidden
		q.render(rw, http.StatusForbidden, "report", p)
		return
	}
	f.Token = r.PostForm.Get("token")

	gtin, err := client.ParseGTIN(f.GTIN)
	if err != nil {
		f.Errors["gtin"] = t.NeedGTIN + err.Error()
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
		q.render(rw, http.StatusBadRequest, "report", p)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	rep, _, err := q.w.qc.API().Reports.Create(ctx, client.ReportParams{
		Product: client.ProductKey{GTIN: gtin}, Kind: client.ReportKind(kind), ListingURL: f.Listing,
		Platform: q.w.platformName(r), Description: f.Description, Contact: f.Contact,
	}, &client.ReportOptions{IdempotencyKey: "qcw-" + f.Nonce})
	if err != nil {
		code := http.StatusServiceUnavailable
		p.Message = t.NotSent
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest {
			code, p.Message = http.StatusBadRequest, t.BadQuery+apiErr.Error()
		}
		q.render(rw, code, "report", p)
		return
	}
	http.Redirect(rw, r, q.prefix+"report/sent?ref="+url.QueryEscape(rep.ID)+strings.Replace(p.Q, "?", "&", 1), http.StatusSeeOther)
}

// sameOrigin refuses a request whose Origin (when the browser sends one)
// is another site.
func (q *enquiry) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// reportSent confirms a report with its reference.
func (q *enquiry) reportSent(rw http.ResponseWriter, r *http.Request) {
	p, _ := q.newPage(r, func(t *pageWords) string { return t.Report })
	ref := r.URL.Query().Get("ref")
	if !reportRef.MatchString(ref) {
		q.fail(rw, p, client.ErrInvalidInput)
		return
	}
	p.Message = ref
	q.render(rw, http.StatusOK, "report-sent", p)
}

// platformName is how reports name the platform: WithPlatformName, or the
// site's host.
func (w *Widget) platformName(r *http.Request) string {
	if w.platform != "" {
		return w.platform
	}
	return clip(r.Host, 100)
}
