package widget

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	etags "github.com/qualitycommit/qcsdk/internal/etag"
)

// Handler serves the badges and their stylesheet under prefix (which ends
// with "/"), for pages not rendered in Go and for <img> tags:
//
//	GET {prefix}badge/{gtin}.svg    the badge as an image
//	GET {prefix}badge/{gtin}.html   the badge as an HTML fragment
//	GET {prefix}badge/{gtin}.json   the verdict and its words, for a page's own script, and its proof
//	GET {prefix}badge.css           the stylesheet the fragments need
//
// A .json badge whose verdict rests on the registry's records carries
// the proof that lets anyone check it against the registry's log (see
// cmd/qcverify), when the status it was rendered from carried one.
//
// The badge's look comes from the query — locale (zh-CN, en), theme
// (light, dark), size (full, compact) — with the locale otherwise from
// Accept-Language. Responses carry an ETag and Cache-Control, and answer
// a matching If-None-Match with 304. A malformed GTIN or look is a 400
// that says what is wrong, in the request's locale (a shopper may reach
// it: a broken image opened in a tab), as every error the handler answers
// is.
//
// The badge endpoint is public: a badge the cache cannot answer at once is
// looked up only within the endpoint's lookup limits, per client address
// and overall (WithBadgeLookupLimitPerAddress, WithBadgeLookupLimit), at
// low priority (client.PriorityLow); past them it is the unknown badge,
// not stored by any cache. WithCatalogue keeps it to the platform's
// products.
func (w *Widget) Handler(prefix string) http.Handler {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"badge.css", w.serveStylesheet)
	mux.HandleFunc("GET "+prefix+"badge/{file}", w.serveBadge)
	mux.HandleFunc(prefix, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			w.plainError(rw, r, http.StatusMethodNotAllowed, msgMethod)
			return
		}
		w.plainError(rw, r, http.StatusNotFound, msgNotFound)
	})
	return mux
}

// stylesheetETag validates the stylesheet, which changes only with a
// release.
var stylesheetETag = func() string {
	h := fnv.New64a()
	h.Write([]byte(stylesheet))
	return `"css-` + strconv.FormatUint(h.Sum64(), 36) + `"`
}()

func (w *Widget) serveStylesheet(rw http.ResponseWriter, r *http.Request) {
	serveCSS(rw, r, stylesheet, stylesheetETag)
}

func serveCSS(rw http.ResponseWriter, r *http.Request, css, etag string) {
	h := rw.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", etag)
	if notModified(r, etag) {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = rw.Write([]byte(css))
	}
}

// formats the badge endpoint serves, by file extension.
var badgeFormats = map[string]struct {
	kind        int
	contentType string
}{
	".svg":  {kindSVG, "image/svg+xml"},
	".html": {kindHTML, "text/html; charset=utf-8"},
	".json": {kindJSON, "application/json"},
}

// renderedAs is rendered with the renderer of a kind the endpoint serves.
// Each method value is passed straight on, so that none is allocated.
func (w *Widget) renderedAs(kind int, v *verdict, look Look) *rendering {
	switch kind {
	case kindSVG:
		return w.rendered(kind, v, look, w.renderSVG)
	case kindHTML:
		return w.rendered(kind, v, look, w.renderHTML)
	}
	return w.rendered(kind, v, look, w.renderJSON)
}

// BadgeMaxAge is how long a browser or a CDN may show a badge without
// asking again. A revocation reaches a shopper's screen at most this long
// after it reached the SDK when every cache on the way honours Age (as
// shared caches do), and at most twice as long through a CDN that strips
// it. There is no stale-while-revalidate: a stale badge is the one thing
// a shopper must not be shown. Asking again is cheap: the ETag usually
// answers 304.
const BadgeMaxAge = 30 * time.Second

var badgeCacheControl = "public, max-age=" + strconv.Itoa(int(BadgeMaxAge/time.Second))

func (w *Widget) serveBadge(rw http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		w.plainError(rw, r, http.StatusNotFound, msgNoSuchFormat)
		return
	}
	f, ok := badgeFormats[file[dot:]]
	if !ok {
		w.plainError(rw, r, http.StatusNotFound, msgNoSuchFormat)
		return
	}
	gtin, err := client.ParseGTIN(file[:dot])
	if err != nil {
		// The error names the fault (length, character, check digit) and
		// echoes at most the GTIN, which ParseGTIN quotes.
		w.plainError(rw, r, http.StatusBadRequest, gtinMessage(err))
		return
	}
	if w.catalogue != nil && !w.catalogue(gtin) {
		w.badgesRefused.Add(1)
		w.plainError(rw, r, http.StatusNotFound, msgNotInShop)
		return
	}
	look, vary, err := w.lookFromRequest(r)
	if err != nil {
		w.plainError(rw, r, http.StatusBadRequest, err.(lookError).msg)
		return
	}
	var v verdict
	lookupErr := w.statusFor(r.Context(), string(gtin), r, &v)
	rd := w.renderedAs(f.kind, &v, look)

	h := rw.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	// Nothing in a badge runs or loads anything; say so to the browser
	// too, for the image and the fragment opened on their own.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if vary {
		h.Set("Vary", "Accept-Language")
	}
	h.Set("ETag", rd.etag)
	switch {
	case errors.Is(lookupErr, errThrottled):
		// The refusal is this address's, or this moment's: no cache may
		// show it to anyone else, and the shopper's next view asks again.
		h.Set("Cache-Control", "no-store")
	case lookupErr != nil || v.d.Verdict == client.VerdictUnknown || !v.asOf.IsZero():
		// Try again soon: the registry may answer next time, or confirm
		// an answer it last confirmed a while ago.
		h.Set("Cache-Control", "public, max-age=10")
	default:
		h.Set("Cache-Control", badgeCacheControl)
	}
	if notModified(r, rd.etag) {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(rw, rd.text) // without copying it, to a ResponseWriter of net/http
	}
}

// RequestLook is the look a request asks for, as the badge endpoint reads
// it: locale (any BCP 47 tag), theme and size from the query, over the
// widget's look, and the locale from Accept-Language when the query names
// none. The error says which is malformed.
func (w *Widget) RequestLook(r *http.Request) (Look, error) {
	look, _, err := w.lookFromRequest(r)
	return look, err
}

// lookFromRequest reads the look from the query, and the locale from
// Accept-Language when the query names none (vary says so).
func (w *Widget) lookFromRequest(r *http.Request) (look Look, vary bool, err error) {
	look = w.look
	q := query(r.URL.RawQuery)
	if v := q.Get("locale"); v != "" {
		l, err := ParseLocale(v)
		if err != nil {
			return look, vary, lookError{msgBadLocale}
		}
		look.Locale = l
	} else {
		if al := r.Header.Get("Accept-Language"); al != "" {
			look.Locale = LocaleFromAcceptLanguage(al)
		}
		vary = true
	}
	switch q.Get("theme") {
	case "":
	case "light":
		look.Theme = ThemeLight
	case "dark":
		look.Theme = ThemeDark
	default:
		return look, vary, lookError{msgBadTheme}
	}
	switch q.Get("size") {
	case "":
	case "full":
		look.Size = SizeFull
	case "compact":
		look.Size = SizeCompact
	default:
		return look, vary, lookError{msgBadSize}
	}
	return look, vary, nil
}

// A query is a URL's raw query, read as url.ParseQuery reads it, one
// parameter at a time: a badge's look is read on every request, and
// url.Values costs a map and a slice per parameter.
type query string

// Get is url.Values.Get of the parsed query: the first value of key,
// unescaped, or "". As ParseQuery, it skips a parameter with a semicolon
// or one that does not unescape.
func (q query) Get(key string) string {
	rest := string(q)
	for rest != "" {
		var param string
		param, rest, _ = strings.Cut(rest, "&")
		if param == "" || strings.Contains(param, ";") {
			continue
		}
		k, v, _ := strings.Cut(param, "=")
		k, ok := unescapeQuery(k)
		if !ok || k != key {
			continue
		}
		if v, ok := unescapeQuery(v); ok {
			return v
		}
	}
	return ""
}

// unescapeQuery is url.QueryUnescape, without allocating for text that
// has nothing to unescape.
func unescapeQuery(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

// notModified reports whether the request's If-None-Match names etag.
func notModified(r *http.Request, etag string) bool {
	return etags.Match(r.Header.Get("If-None-Match"), etag)
}

// A message is an error the handler answers, in each locale.
type message [2]string

var (
	msgNotFound     = message{LocaleZH: "未找到该页面", LocaleEN: "not found"}
	msgMethod       = message{LocaleZH: "不支持该请求方法，请用 GET 或 HEAD", LocaleEN: "method not allowed"}
	msgNoSuchFormat = message{LocaleZH: "未找到：徽标的地址是 {商品条码}.svg、{商品条码}.html 或 {商品条码}.json",
		LocaleEN: "not found: a badge is {gtin}.svg, {gtin}.html or {gtin}.json"}
	msgNotInShop = message{LocaleZH: "未找到：本店没有这件商品", LocaleEN: "not found: no such product in this shop"}
	msgBadLocale = message{LocaleZH: "语言（locale）须是 BCP 47 语言标签，如 zh-CN 或 en",
		LocaleEN: "locale must be a BCP 47 tag, such as zh-CN or en"}
	msgBadTheme = message{LocaleZH: "主题（theme）只能是 light 或 dark", LocaleEN: "theme must be light or dark"}
	msgBadSize  = message{LocaleZH: "尺寸（size）只能是 full 或 compact", LocaleEN: "size must be full or compact"}
)

// A lookError says which part of a requested look is malformed.
type lookError struct{ msg message }

func (e lookError) Error() string { return e.msg[LocaleEN] }

// gtinMessage says what is wrong with a GTIN, in each locale.
func gtinMessage(err error) message {
	m := message{LocaleZH: "商品条码无效", LocaleEN: err.Error()}
	var ie *client.IDError
	if !errors.As(err, &ie) {
		return m
	}
	why := map[client.IDReason]string{
		client.ReasonEmpty:      "为空",
		client.ReasonCharacter:  "含有数字以外的字符",
		client.ReasonLength:     "位数不对（应为 8、12、13 或 14 位数字）",
		client.ReasonCheckDigit: "校验位不对",
	}[ie.Reason]
	if why == "" {
		why = "无效"
	}
	m[LocaleZH] = "商品条码 " + strconv.Quote(ie.Input) + " " + why
	return m
}

// errorLocale is the locale an error answers a request in: the one its
// query names, or else its Accept-Language, or else the widget's.
func (w *Widget) errorLocale(r *http.Request) Locale {
	if v := query(r.URL.RawQuery).Get("locale"); v != "" {
		if l, err := ParseLocale(v); err == nil {
			return l
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		return LocaleFromAcceptLanguage(al)
	}
	return w.look.normal().Locale
}

// plainError answers with a short text error in the request's locale,
// which no cache keeps.
func (w *Widget) plainError(rw http.ResponseWriter, r *http.Request, code int, msg message) {
	l := w.errorLocale(r)
	h := rw.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Language", l.String())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Language")
	rw.WriteHeader(code)
	_, _ = rw.Write([]byte(msg[l] + "\n"))
}

// badgeJSON is the .json badge: the verdict and the words a page's own
// script would show, and, for a verdict on a product's records, the proof
// that lets anyone check it against the registry's log (see proof.go).
type badgeJSON struct {
	GTIN      client.GTIN             `json:"gtin,omitempty"`
	Verdict   client.Verdict          `json:"verdict"`
	Status    client.CommitmentStatus `json:"status,omitempty"`
	Since     string                  `json:"since,omitempty"`
	Title     string                  `json:"title"`
	Detail    string                  `json:"detail,omitempty"`
	Label     string                  `json:"label"`
	VerifyURL string                  `json:"verify_url,omitempty"`
	Locale    string                  `json:"locale"`
	// Confirmed is when the registry last confirmed an answer past its
	// freshness (RFC 3339); absent for a fresh one.
	Confirmed string     `json:"last_confirmed,omitempty"`
	Proof     *jsonProof `json:"proof,omitempty"`
}

func (w *Widget) renderJSON(vd *verdict, look Look) string {
	st, d := vd.st, vd.d
	b := w.data(vd, look)
	v := badgeJSON{Verdict: d.Verdict, Status: d.Status, Title: b.Title, Detail: b.Detail, Label: b.Plain, Locale: b.Lang}
	if !vd.asOf.IsZero() {
		v.Confirmed = vd.asOf.UTC().Format(time.RFC3339)
	}
	if d.Verdict != client.VerdictNotListed && d.Verdict != client.VerdictUnknown {
		// Renderings of these two are shared between products: no GTIN.
		if st != nil {
			v.GTIN = st.Key.GTIN
		}
		v.VerifyURL = b.Href
		v.Proof = w.badgeProof(vd)
	}
	if !d.Since.IsZero() {
		v.Since = d.Since.In(chinaTime).Format(time.DateOnly)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(j)
}
