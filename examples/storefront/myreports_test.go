package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A browser on the shop: it keeps its cookies, as a shopper's does.
type browserClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserClient(t *testing.T, base string) *browserClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserClient{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browserClient) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

var (
	formField = regexp.MustCompile(`name="(nonce|token)" value="([^"]*)"`)
	reportNo  = regexp.MustCompile(`qce-report-id">(rpt_[A-Za-z0-9]+)<`)
	tokenIn   = regexp.MustCompile(`\?t=([A-Za-z0-9_-]+)`)
)

// fileReport sends the shop's report form, as a shopper does from a
// product page, and answers the report's number and token from the
// confirmation.
func (b *browserClient) fileReport(gtin string) (id, token string) {
	b.t.Helper()
	code, page := b.get("/quality/report?" + url.Values{"gtin": {gtin}, "locale": {"en"}}.Encode())
	if code != 200 {
		b.t.Fatalf("the report form: %d", code)
	}
	v := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	v.Set("gtin", gtin)
	v.Set("listing_url", b.base+"/p/"+gtin)
	v.Set("kind", "counterfeit")
	v.Set("description", "The logo is misspelt and the box has no serial number.")
	req, _ := http.NewRequest(http.MethodPost, b.base+"/quality/report?locale=en", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	sent, _ := io.ReadAll(resp.Body)
	m, tok := reportNo.FindStringSubmatch(string(sent)), tokenIn.FindStringSubmatch(string(sent))
	if resp.StatusCode != 200 || m == nil || tok == nil {
		b.t.Fatalf("the confirmation: %d\n%s", resp.StatusCode, sent)
	}
	return m[1], tok[1]
}

// A shopper's reports, and their private status links, are shown to that
// shopper's browser and to no one else's: whoever holds a link reads the
// report.
func TestMyReportsAreEachShoppersOwn(t *testing.T) {
	s, srv := newTestShop(t, "")
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	g := string(srv.Demo()[0].GTIN)
	alice, bob, stranger := newBrowserClient(t, hs.URL), newBrowserClient(t, hs.URL), newBrowserClient(t, hs.URL)

	aID, aTok := alice.fileReport(g)
	bID, bTok := bob.fileReport(g)
	aID2, _ := alice.fileReport(g) // the same browser, named once

	for _, tc := range []struct {
		who          string
		b            *browserClient
		mine         []string
		others       []string
		othersTokens []string
	}{
		{"alice", alice, []string{aID, aID2}, []string{bID}, []string{bTok}},
		{"bob", bob, []string{bID}, []string{aID}, []string{aTok}},
		{"a browser that sent none", stranger, nil, []string{aID, bID}, []string{aTok, bTok}},
	} {
		code, page := tc.b.get("/my/reports?lang=en")
		if code != 200 {
			t.Fatalf("%s: /my/reports %d", tc.who, code)
		}
		for _, id := range tc.mine {
			if !strings.Contains(page, id) {
				t.Errorf("%s's /my/reports does not list %s:\n%s", tc.who, id, page)
			}
		}
		for i, id := range tc.others {
			if strings.Contains(page, id) || strings.Contains(page, tc.othersTokens[i]) {
				t.Errorf("%s's /my/reports shows another shopper's report %s or its link:\n%s", tc.who, id, page)
			}
		}
	}
}
