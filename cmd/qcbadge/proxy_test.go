package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// Behind trusted proxies the client is the rightmost address the proxy
// header names that is not itself a trusted proxy; what the client wrote
// left of it, and any header from a peer that is not a trusted proxy,
// is never read.
func TestClientAddressBehindTrustedProxies(t *testing.T) {
	const trusted = "10.0.0.0/8, fd00::/8,192.0.2.1"
	for _, c := range []struct {
		name, peer, header string
		values             []string
		other              string // the header not configured, set to a forgery
		want               string
	}{
		{"untrusted peer", "203.0.113.7:1234", "xff", []string{"198.51.100.1"}, "", "203.0.113.7:1234"},
		{"untrusted peer, Forwarded", "203.0.113.7:1234", "forwarded", []string{"for=198.51.100.1"}, "", "203.0.113.7:1234"},
		{"one proxy", "10.0.0.1:5555", "xff", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"a bare trusted address", "192.0.2.1:5555", "xff", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"forged leftmost", "10.0.0.1:5555", "xff", []string{"6.6.6.6, 198.51.100.1"}, "", "198.51.100.1"},
		{"two proxies", "10.0.0.1:5555", "xff", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3"}, "", "198.51.100.1"},
		{"header lines", "10.0.0.1:5555", "xff", []string{"6.6.6.6", "198.51.100.1,10.1.2.3"}, "", "198.51.100.1"},
		{"only proxies", "10.0.0.1:5555", "xff", []string{"10.1.1.1, 10.2.2.2"}, "", "10.1.1.1"},
		{"no header", "10.0.0.1:5555", "xff", nil, "", "10.0.0.1"},
		{"empty header", "10.0.0.1:5555", "xff", []string{""}, "", "10.0.0.1"},
		{"malformed rightmost", "10.0.0.1:5555", "xff", []string{"198.51.100.1, not-an-ip"}, "", "10.0.0.1"},
		{"malformed behind a proxy", "10.0.0.1:5555", "xff", []string{"198.51.100.1, 999.1.1.1, 10.1.2.3"}, "", "10.1.2.3"},
		{"html in the header", "10.0.0.1:5555", "xff", []string{"<script>alert(1)</script>"}, "", "10.0.0.1"},
		{"IPv6 with brackets and port", "10.0.0.1:5555", "xff", []string{"[2001:db8::7]:4711"}, "", "2001:db8::7"},
		{"IPv6 with brackets", "10.0.0.1:5555", "xff", []string{"[2001:db8::7]"}, "", "2001:db8::7"},
		{"bare IPv6", "10.0.0.1:5555", "xff", []string{"2001:db8::7"}, "", "2001:db8::7"},
		{"IPv4 with port", "10.0.0.1:5555", "xff", []string{"198.51.100.1:80"}, "", "198.51.100.1"},
		{"IPv6 proxy", "[fd00::1]:443", "xff", []string{"2001:db8::9, fd00::2"}, "", "2001:db8::9"},
		{"mapped IPv4", "10.0.0.1:5555", "xff", []string{"::ffff:198.51.100.1"}, "", "198.51.100.1"},
		{"mapped IPv4 peer", "[::ffff:10.0.0.1]:5555", "xff", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"a zone", "10.0.0.1:5555", "xff", []string{"fe80::1%eth0"}, "", "fe80::1"},
		{"Forwarded ignored", "10.0.0.1:5555", "xff", []string{"198.51.100.1"}, "for=6.6.6.6", "198.51.100.1"},

		{"Forwarded", "10.0.0.1:5555", "forwarded", []string{"for=198.51.100.1;proto=https;by=10.0.0.1"}, "", "198.51.100.1"},
		{"Forwarded, forged leftmost", "10.0.0.1:5555", "forwarded", []string{"for=6.6.6.6, for=198.51.100.1"}, "", "198.51.100.1"},
		{"Forwarded, case", "10.0.0.1:5555", "forwarded", []string{"For=198.51.100.1"}, "", "198.51.100.1"},
		{"Forwarded, IPv6", "10.0.0.1:5555", "forwarded", []string{`for="[2001:db8:cafe::17]:4711"`}, "", "2001:db8:cafe::17"},
		{"Forwarded, lines and proxies", "10.0.0.1:5555", "forwarded", []string{"for=6.6.6.6", `for=198.51.100.1;by=x, for="[fd00::5]"`}, "", "198.51.100.1"},
		{"Forwarded, unknown", "10.0.0.1:5555", "forwarded", []string{"for=198.51.100.1, for=unknown"}, "", "10.0.0.1"},
		{"Forwarded, obfuscated", "10.0.0.1:5555", "forwarded", []string{`for=198.51.100.1, for="_gazonk"`}, "", "10.0.0.1"},
		{"Forwarded, obfuscated leftmost", "10.0.0.1:5555", "forwarded", []string{`for=_hidden, for=198.51.100.1`}, "", "198.51.100.1"},
		{"Forwarded, quoted comma", "10.0.0.1:5555", "forwarded", []string{`for="6.6.6.6, for=7.7.7.7", for=198.51.100.1`}, "", "198.51.100.1"},
		{"Forwarded, comma forged in a quote", "10.0.0.1:5555", "forwarded", []string{`for=198.51.100.1;by="x, for=6.6.6.6"`}, "", "198.51.100.1"},
		{"Forwarded, two for=", "10.0.0.1:5555", "forwarded", []string{"for=198.51.100.1;for=6.6.6.6"}, "", "10.0.0.1"},
		{"Forwarded, no for=", "10.0.0.1:5555", "forwarded", []string{"proto=https"}, "", "10.0.0.1"},
		{"Forwarded, no value", "10.0.0.1:5555", "forwarded", []string{"for"}, "", "10.0.0.1"},
		{"Forwarded, unterminated quote", "10.0.0.1:5555", "forwarded", []string{`for="198.51.100.1`}, "", "10.0.0.1"},
		{"X-Forwarded-For ignored", "10.0.0.1:5555", "forwarded", []string{"for=198.51.100.1"}, "6.6.6.6", "198.51.100.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			name, other, header := "X-Forwarded-For", "Forwarded", headerXFF
			if c.header == "forwarded" {
				name, other, header = "Forwarded", "X-Forwarded-For", headerForwarded
			}
			p, err := parseProxies(trusted, header)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/quality/badges", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.values {
				r.Header.Add(name, v)
			}
			if c.other != "" {
				r.Header.Set(other, c.other)
			}
			if got := p.clientAddress(r); got != c.want {
				t.Errorf("%s %s: %q; want %q", name, c.values, got, c.want)
			}
		})
	}
}

// A trusted-proxy setting that cannot work exits 2 naming it.
func TestTrustedProxiesSettingIsValidated(t *testing.T) {
	for _, c := range []struct{ env []string }{
		{[]string{"QC_TRUSTED_PROXIES", "10.0.0.0/33"}},
		{[]string{"QC_TRUSTED_PROXIES", "proxy.internal"}},
		{[]string{"QC_TRUSTED_PROXIES", "10.0.0.0/8,,fd00::/8"}},
		{[]string{"QC_TRUSTED_PROXIES", "10.0.0.0/8 fd00::/8"}},
		{[]string{"QC_TRUSTED_PROXIES", "fe80::1%eth0"}},
		{[]string{"QC_TRUSTED_PROXIES", "::ffff:10.0.0.0/8"}},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), nil, envOf(c.env...), &bytes.Buffer{}, &stderr)
		if out := stderr.String(); code != 2 || !strings.Contains(out, "-trusted-proxies (QC_TRUSTED_PROXIES)") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want 2, one line naming -trusted-proxies (QC_TRUSTED_PROXIES)", c.env, code, out)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-proxy-header", "X-Real-IP"}, envOf(), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "-proxy-header (QC_PROXY_HEADER)") {
		t.Errorf("-proxy-header X-Real-IP: exit %d, %q; want 2 naming it", code, stderr.String())
	}
	for _, ok := range []string{"10.0.0.0/8", " 10.0.0.0/8 , fd00::/8 ", "127.0.0.1", "::1", "10.1.2.3/8", "::ffff:10.0.0.0/104"} {
		cfg, err := parseConfig([]string{"-trusted-proxies", ok, "-proxy-header", "forwarded"}, envOf(), &bytes.Buffer{})
		if err != nil || cfg.proxies == nil {
			t.Errorf("-trusted-proxies %q: %v; want it accepted", ok, err)
		}
	}
}

// coldBadge asks for a cold product's .json badge through a proxy that
// says the client is xff, and reports whether it was looked up (not
// refused by the lookup limits).
func coldBadge(t *testing.T, hs *httptest.Server, gtin, xff string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/quality/badge/"+gtin+".json", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j struct{ Verdict client.Verdict }
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("badge %s: %d %v", gtin, resp.StatusCode, err)
	}
	return resp.Header.Get("Cache-Control") != "no-store"
}

// Behind a trusted proxy each shopper has their own lookup budget, and a
// shopper forging the leftmost X-Forwarded-For entry a request still
// spends their own; from a peer that is not trusted the header is not
// read, and every request spends the peer's.
func TestShoppersBehindAProxyHaveTheirOwnBudgets(t *testing.T) {
	burst := widget.DefaultBadgeLookupBurstPerAddress
	const second = 30 // the second shopper's cold badges
	for _, c := range []struct {
		trusted string
		own     bool // the second shopper has a budget of their own
	}{
		{"127.0.0.0/8,::1", true}, // the test's client is the proxy
		{"10.0.0.0/8", false},
		{"", false},
	} {
		t.Run("trusting "+c.trusted, func(t *testing.T) {
			_, hs := newTestService(t, "QC_TRUSTED_PROXIES", c.trusted)
			start := time.Now()
			gtins := coldGTINs(77, burst+5+3*second)
			admitted := 0
			for i, g := range gtins[:burst+5] {
				// The shopper forges a new leftmost entry each time; the
				// proxy appends the address it was called from.
				if coldBadge(t, hs, g, fmt.Sprintf("198.18.%d.%d, 203.0.113.5", i/250, i%250)) {
					admitted++
				}
			}
			// Budgets refill by the real clock (5 a second): what one may
			// have admitted beyond its burst is bounded by the time taken.
			refill := func() int { return int(widget.DefaultBadgeLookupRatePerAddress*time.Since(start).Seconds()) + 1 }
			if admitted < burst || admitted > burst+refill() {
				t.Fatalf("the first shopper had %d of %d cold badges looked up; want the burst of %d (and its refill)", admitted, burst+5, burst)
			}
			// Unrelated addresses share a limiter 1 time in 4096: the
			// second shopper is the first of a few whose first badge is
			// looked up.
			admitted = 0
			rest := gtins[burst+5:]
			for i := range 3 {
				admitted = 0
				for _, g := range rest[i*second : (i+1)*second] {
					if coldBadge(t, hs, g, fmt.Sprintf("198.51.100.%d", 10+i)) {
						admitted++
					}
				}
				if !c.own || admitted > 0 {
					break
				}
			}
			switch {
			case c.own && admitted != second:
				t.Errorf("the second shopper had %d of %d cold badges looked up; want all, from a budget of their own", admitted, second)
			case !c.own && admitted > refill():
				t.Errorf("the second shopper had %d of %d cold badges looked up; want at most the shared budget's refill, %d", admitted, second, refill())
			}
		})
	}
}
