package widget_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/widget"
)

var (
	get  = testio.Get
	body = testio.Body
)

func TestHandlerServesBadgesWithValidators(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	g := string(e.srv.Demo()[0].GTIN)
	for _, c := range []struct{ ext, ctype, has string }{
		{".svg", "image/svg+xml", "<svg "},
		{".html", "text/html; charset=utf-8", `class="qcb `},
		{".json", "application/json", `"verdict":"committed"`},
	} {
		t.Run(c.ext, func(t *testing.T) {
			resp := get(t, h, "/quality/badge/"+g+c.ext)
			b := body(t, resp)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(b, c.has) {
				t.Fatalf("GET %s: %d %q\n%s", c.ext, resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("headers %v", resp.Header)
			}
			again := get(t, h, "/quality/badge/"+g+c.ext, "If-None-Match", etag)
			if again.StatusCode != http.StatusNotModified || body(t, again) != "" {
				t.Errorf("If-None-Match %s: %d; want 304 with no body", etag, again.StatusCode)
			}
			other := get(t, h, "/quality/badge/"+g+c.ext+"?theme=dark&locale=en", "If-None-Match", etag)
			if other.StatusCode != 200 || other.Header.Get("ETag") == etag {
				t.Errorf("the dark English badge answered %d with the light Chinese one's ETag", other.StatusCode)
			}
		})
	}

	var j struct {
		GTIN      client.GTIN    `json:"gtin"`
		Verdict   client.Verdict `json:"verdict"`
		Since     string         `json:"since"`
		Title     string         `json:"title"`
		VerifyURL string         `json:"verify_url"`
		Locale    string         `json:"locale"`
	}
	resp := get(t, h, "/quality/badge/"+g+".json", "Accept-Language", "en-GB,en;q=0.9")
	if err := json.Unmarshal([]byte(body(t, resp)), &j); err != nil {
		t.Fatal(err)
	}
	if j.GTIN != client.GTIN(g) || j.Verdict != client.VerdictCommitted || j.Locale != "en" || j.Title != "Quality commitment" ||
		j.Since == "" || !strings.HasPrefix(j.VerifyURL, "https://"+widget.DefaultVerifyHost+"/") {
		t.Errorf("the .json badge for an English reader: %+v", j)
	}
	if resp.Header.Get("Vary") != "Accept-Language" {
		t.Errorf("Vary = %q; want Accept-Language", resp.Header.Get("Vary"))
	}
	if r := get(t, h, "/quality/badge/"+g+".json?locale=en"); r.Header.Get("Vary") != "" {
		t.Errorf("a locale from the query varies on %q", r.Header.Get("Vary"))
	}
}

func TestHandlerStylesheet(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality")
	resp := get(t, h, "/quality/badge.css")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || body(t, resp) != widget.Stylesheet() {
		t.Fatalf("GET badge.css: %d %v", resp.StatusCode, resp.Header)
	}
	again := get(t, h, "/quality/badge.css", "If-None-Match", resp.Header.Get("ETag"))
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d; want 304", again.StatusCode)
	}
}

// Bad input is refused with a plain-text error that says what is wrong,
// in the request's locale — a shopper may reach one (a broken image opened
// in its own tab) — and that no cache keeps.
func TestHandlerRefusesBadInputClearly(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	g := string(e.srv.Demo()[0].GTIN)
	for _, c := range []struct {
		target     string
		code       int
		en, zh     string
		zhByHeader bool // the Chinese answer is asked for by Accept-Language, not the query
	}{
		{"/quality/badge/6901234567893.svg", 400, "check digit", "商品条码 \"6901234567893\" 校验位不对", true},
		{"/quality/badge/69012345.svg", 400, "gtin", "商品条码 \"69012345\"", true},
		{"/quality/badge/6901234.svg", 400, "length", "位数不对", true},
		{"/quality/badge/69O1234567892.html", 400, "character", "含有数字以外的字符", true},
		{"/quality/badge/" + g + ".svg?theme=neon", 400, "theme must be", "主题（theme）只能是 light 或 dark", false},
		{"/quality/badge/" + g + ".svg?size=huge", 400, "size must be", "尺寸（size）只能是 full 或 compact", false},
		{"/quality/badge/" + g + ".svg?locale=en_AU!", 400, "locale must be", "语言（locale）须是 BCP 47 语言标签", true},
		{"/quality/badge/" + g + ".svg?locale=darkk", 400, "locale must be", "语言（locale）须是", true},
		{"/quality/badge/" + g + ".png", 404, "not found", "未找到：徽标的地址是", true},
		{"/quality/badge/" + g, 404, "not found", "未找到", true},
		{"/quality/elsewhere", 404, "not found", "未找到该页面", true},
	} {
		for _, lang := range []string{"en", "zh-CN"} {
			target, hdr, says := c.target, []string{"Accept-Language", "en-GB,en;q=0.9"}, c.en
			if lang == "zh-CN" {
				says, hdr = c.zh, []string{"Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5"}
				if !c.zhByHeader {
					target += "&locale=zh-CN"
					hdr = []string{"Accept-Language", "en"}
				}
			}
			resp := get(t, h, target, hdr...)
			b := body(t, resp)
			if resp.StatusCode != c.code || !strings.Contains(strings.ToLower(b), strings.ToLower(says)) {
				t.Errorf("GET %s in %s: %d %q; want %d saying %q", target, lang, resp.StatusCode, b, c.code, says)
			}
			if strings.Contains(b, "qcsdk:") && lang == "zh-CN" {
				t.Errorf("GET %s in zh-CN: the SDK's English error %q", target, b)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("GET %s: an error is cacheable: %q", target, resp.Header.Get("Cache-Control"))
			}
		}
	}
	// With neither a query nor a header, an error speaks the widget's
	// locale: zh-CN by default.
	if b := body(t, get(t, h, "/quality/badge/123.svg")); !strings.Contains(b, "商品条码") {
		t.Errorf("an error with no language asked for: %q; want the widget's zh-CN", b)
	}
	req := httptest.NewRequest(http.MethodPost, "/quality/badge/"+g+".svg", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), "不支持") {
		t.Errorf("POST a badge: %d %q; want 405, in Chinese", rec.Code, rec.Body.String())
	}
}

func TestHandlerProductsWithoutACommitment(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	g := string(e.srv.NotListedGTIN())
	if b := body(t, get(t, h, "/quality/badge/"+g+".html")); b != "" {
		t.Errorf("the HTML badge of a product not listed: %q; want nothing by default", b)
	}
	svg := body(t, get(t, h, "/quality/badge/"+g+".svg?locale=en"))
	if !strings.Contains(svg, "No commitment in force") {
		t.Errorf("the SVG of a product not listed: %q; an image is always drawn", svg)
	}
}

// cacheLifetime is how long a response's Cache-Control lets any cache show
// it without asking again: its longest max-age, plus the windows in which
// a stale copy may still be shown.
func cacheLifetime(t *testing.T, cc string) time.Duration {
	t.Helper()
	var fresh, stale time.Duration
	for d := range strings.SplitSeq(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		n, _ := strconv.Atoi(val)
		switch name {
		case "max-age", "s-maxage":
			fresh = max(fresh, time.Duration(n)*time.Second)
		case "stale-while-revalidate", "stale-if-error":
			stale = max(stale, time.Duration(n)*time.Second)
		case "no-store", "no-cache":
			return 0
		}
	}
	return fresh + stale
}

// A browser or a CDN shows a badge at most BadgeMaxAge (30 s) without
// asking again, whatever its verdict, so that a revocation reaches a
// shopper's screen within 30 s of reaching the SDK (60 s through a CDN
// that strips Age). It used to allow 60 s plus 300 s stale.
func TestBadgesAreCachedBrieflyEnoughForARevocation(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	for _, d := range e.srv.Demo() {
		for _, ext := range []string{".svg", ".html", ".json"} {
			resp := get(t, h, "/quality/badge/"+string(d.GTIN)+ext)
			body(t, resp)
			cc := resp.Header.Get("Cache-Control")
			if life := cacheLifetime(t, cc); life > widget.BadgeMaxAge || widget.BadgeMaxAge > 30*time.Second {
				t.Errorf("%s%s (%s): Cache-Control %q lets a cache show it for %v; want at most 30 s", d.GTIN, ext, d.Verdict, cc, life)
			}
			if resp.Header.Get("ETag") == "" {
				t.Errorf("%s%s: no ETag to ask again cheaply with", d.GTIN, ext)
			}
		}
	}
}

// A platform can restrict its public badge endpoint to its catalogue: a
// flood of valid barcodes it does not sell costs no lookup at all, and is
// counted; its own products are served as ever.
func TestBadgeEndpointServesOnlyTheCatalogue(t *testing.T) {
	demo := setup(t, nil).srv.Demo()
	ours := map[client.GTIN]bool{demo[0].GTIN: true}
	e := setup(t, nil, widget.WithCatalogue(func(g client.GTIN) bool { return ours[g] }))
	h := e.w.Handler("/quality/")
	lookups := func() int64 {
		return e.srv.Requests("GET /v1/products/{gtin}") + e.srv.Requests("POST /v1/products/batch")
	}
	for i := range 200 {
		g := fmt.Sprintf("0690000%06d", i)
		g += strconv.Itoa(checkDigit(g))
		resp := get(t, h, "/quality/badge/"+g+".svg")
		body(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET a badge outside the catalogue (%s): %d; want 404", g, resp.StatusCode)
		}
	}
	if n := lookups(); n != 0 {
		t.Errorf("%d lookups for badges outside the catalogue; want 0", n)
	}
	if n := e.w.Stats().BadgesRefused; n != 200 {
		t.Errorf("BadgesRefused = %d; want 200", n)
	}
	resp := get(t, h, "/quality/badge/"+string(demo[0].GTIN)+".svg")
	if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, "<svg ") {
		t.Errorf("GET the catalogue's own badge: %d", resp.StatusCode)
	}
}

// checkDigit is the GS1 mod-10 check digit of the digits in g.
func checkDigit(g string) int {
	sum := 0
	for i := range len(g) {
		d := int(g[len(g)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10 - sum%10) % 10
}
