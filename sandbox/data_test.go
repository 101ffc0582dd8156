package sandbox_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// snapshot fetches bodies that between them show most of a data set.
func snapshot(t *testing.T, opts ...sandbox.Option) map[string]string {
	t.Helper()
	srv, c := start(t, opts...)
	out := map[string]string{}
	for _, p := range []string{
		productPath(srv.Demo()[0].GTIN),
		productPath(srv.Demo()[2].GTIN),
		"/v1/enterprises",
		"/v1/inspections?limit=100",
		"/v1/cases",
		"/v1/categories",
		"/_sandbox/demo",
	} {
		resp, body := c.get(p)
		wantStatus(t, resp, body, http.StatusOK)
		out[p] = string(body)
		if p[1] == 'v' {
			out[p+" ETag"] = resp.Header.Get("ETag")
		}
	}
	return out
}

func TestDeterministicDataSet(t *testing.T) {
	t.Parallel()
	// The statuses' proofs carry a signed checkpoint: one key signs both
	// sets, as a generated one would differ.
	skey, _, err := note.GenerateKey(rand.Reader, "registry.test")
	if err != nil {
		t.Fatal(err)
	}
	a := snapshot(t, sandbox.WithSeed(42), sandbox.WithSize(80, 2000), sandbox.WithLogKey(skey))
	b := snapshot(t, sandbox.WithSeed(42), sandbox.WithSize(80, 2000), sandbox.WithLogKey(skey))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two sandboxes with the same seed, size and day differ (-first +second):\n%s", diff)
	}
	other := snapshot(t, sandbox.WithSeed(43), sandbox.WithSize(80, 2000))
	for p, body := range a {
		switch p {
		case "/v1/categories", "/v1/categories ETag":
			continue // the categories are the registry's, whatever the seed
		}
		if other[p] == body {
			t.Errorf("seeds 42 and 43 give the same %s", p)
		}
	}
	// The reference day decides the dates.
	later := snapshot(t, sandbox.WithSeed(42), sandbox.WithSize(80, 2000), sandbox.WithReferenceTime(refTime.Add(day)))
	if later["/v1/enterprises"] == a["/v1/enterprises"] {
		t.Error("a data set dated a day later has the same enterprises, dates and all")
	}
}

func TestDemoSetIdentifiers(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	nEnt, nProd := srv.Size()
	if nEnt != sandbox.DefaultEnterprises || nProd != sandbox.DefaultProducts {
		t.Errorf("Size() = %d, %d; want the defaults %d, %d", nEnt, nProd, sandbox.DefaultEnterprises, sandbox.DefaultProducts)
	}
	ents, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"limit": {"100"}})
	if len(ents) != nEnt {
		t.Fatalf("%d enterprises listed, Size says %d", len(ents), nEnt)
	}
	usccs := map[client.USCC]bool{}
	for _, e := range ents {
		u, err := client.ParseUSCC(string(e.USCC))
		if err != nil || u != e.USCC {
			t.Errorf("enterprise %s: USCC %q does not parse as itself: %q, %v", e.ID, e.USCC, u, err)
		}
		if usccs[e.USCC] {
			t.Errorf("USCC %s given to two enterprises", e.USCC)
		}
		usccs[e.USCC] = true
	}

	gtins := map[client.GTIN]bool{}
	total := 0
	for e := range nEnt {
		for j := 0; ; j++ {
			p, ok := srv.Product(e, j)
			if !ok {
				break
			}
			total++
			g, err := client.ParseGTIN(string(p.GTIN))
			if err != nil || g != p.GTIN {
				t.Errorf("product %d of enterprise %d: GTIN %q does not parse as itself: %q, %v", j, e, p.GTIN, g, err)
			}
			if gtins[p.GTIN] {
				t.Errorf("GTIN %s given to two products", p.GTIN)
			}
			gtins[p.GTIN] = true
			if p.Brand == "" || p.Category == "" || p.Name.ZH == "" {
				t.Errorf("product %s lacks a brand, a category or a name: %+v", p.GTIN, p)
			}
		}
	}
	if total != nProd {
		t.Errorf("Product enumerates %d products, Size says %d", total, nProd)
	}
	if _, ok := srv.Product(-1, 0); ok {
		t.Error("Product(-1, 0) exists")
	}
	if _, ok := srv.Product(nEnt, 0); ok {
		t.Errorf("Product(%d, 0) exists past the last enterprise", nEnt)
	}
	for _, d := range srv.Demo() {
		if !gtins[d.GTIN] || !usccs[d.USCC] {
			t.Errorf("demo product %s of %s is not in the data set", d.GTIN, d.USCC)
		}
	}
	if gtins[srv.NotListedGTIN()] {
		t.Errorf("NotListedGTIN %s belongs to a listed product", srv.NotListedGTIN())
	}
}

// nextGTIN is the GTIN whose digits before the check digit are g's plus
// one: the product number right after g's.
func nextGTIN(t *testing.T, g client.GTIN) client.GTIN {
	t.Helper()
	n, err := strconv.ParseUint(string(g[:13]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s := strconv.FormatUint(n+1, 10)
	for len(s) < 13 {
		s = "0" + s
	}
	next, err := client.CompleteGTIN(s)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func TestLargeDataSet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1,000,000-product set")
	}
	t.Parallel()
	began := time.Now()
	srv, c := start(t, sandbox.WithSize(50000, 1_000_000))
	t.Logf("50,000 enterprises with 1,000,000 products built in %v", time.Since(began).Round(time.Millisecond))

	nEnt, nProd := srv.Size()
	if nEnt != 50000 || nProd != 1_000_000 {
		t.Fatalf("Size() = %d, %d", nEnt, nProd)
	}
	last, j := nEnt-1, nProd/nEnt-1
	p, ok := srv.Product(last, j)
	if !ok {
		t.Fatalf("Product(%d, %d), the last product of the last enterprise, does not exist", last, j)
	}
	if _, ok := srv.Product(last, j+1); ok {
		t.Errorf("Product(%d, %d) exists: the last enterprise has more than %d products", last, j+1, j+1)
	}
	st := getJSON[client.ProductStatus](t, c, productPath(p.GTIN))
	if !st.Listed || st.Product == nil || st.Enterprise == nil {
		t.Fatalf("the last product %s: %+v, want it listed with its maker", p.GTIN, st)
	}
	if diff := cmp.Diff(p, *st.Product); diff != "" {
		t.Errorf("the last product over HTTP differs from Product (-Product +HTTP):\n%s", diff)
	}
	ent := getJSON[client.Enterprise](t, c, "/v1/enterprises/"+st.Enterprise.ID)
	if ent.USCC != st.Enterprise.USCC {
		t.Errorf("the last maker: %s by id, %s in the status", ent.USCC, st.Enterprise.USCC)
	}

	// The product number one past the last is no product the registry knows.
	past := nextGTIN(t, p.GTIN)
	st = getJSON[client.ProductStatus](t, c, productPath(past))
	if st.Key.GTIN != past || st.Product != nil {
		t.Errorf("GTIN %s, one past the last product: %+v, want no product", past, st.Product)
	}

	// The curated makers come first in every set.
	for _, d := range srv.Demo() {
		st := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
		if v := verdictAt(srv.ReferenceTime(), &st); v != d.Verdict {
			t.Errorf("large set, %s (%s): verdict %s, demo says %s", d.GTIN, d.About, v, d.Verdict)
		}
	}
}

func TestWithSizeRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ents, prods int }{{0, 10}, {-1, 10}, {90000, 10}, {10, -1}, {1, 90000}} {
		if sb, err := sandbox.New(sandbox.WithSize(tc.ents, tc.prods)); err == nil {
			sb.Close()
			t.Errorf("WithSize(%d, %d) accepted", tc.ents, tc.prods)
		}
	}
	sb, err := sandbox.New(sandbox.WithSize(3, 0))
	if err != nil {
		t.Fatalf("WithSize(3, 0): %v", err)
	}
	defer sb.Close()
	if len(sb.Demo()) != 0 {
		t.Errorf("a set without products has %d demo products", len(sb.Demo()))
	}
}

func BenchmarkNew1M(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sb, err := sandbox.New(sandbox.WithSize(50000, 1_000_000), sandbox.WithReferenceTime(refTime))
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}

func BenchmarkProductStatus(b *testing.B) {
	sb, err := sandbox.New(sandbox.WithReferenceTime(refTime), sandbox.WithRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	req := httptest.NewRequest(http.MethodGet, productPath(sb.Demo()[0].GTIN), nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
