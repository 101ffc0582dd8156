package sandbox_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

func TestDemoProductsByGTIN(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	demo := srv.Demo()
	if len(demo) == 0 {
		t.Fatal("Demo() lists no products")
	}
	seen := map[client.Verdict]bool{}
	for _, d := range demo {
		st := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
		if st.Key.GTIN != d.GTIN {
			t.Errorf("%s: key.gtin %q", d.GTIN, st.Key.GTIN)
		}
		if !st.Listed || st.Enterprise == nil || st.Product == nil {
			t.Errorf("%s (%s): listed=%v enterprise=%v product=%v, want a listed product of a known maker", d.GTIN, d.About, st.Listed, st.Enterprise != nil, st.Product != nil)
			continue
		}
		if st.Enterprise.USCC != d.USCC || st.Product.Brand != d.Brand || st.Product.Model != d.Model || st.Product.GTIN != d.GTIN {
			t.Errorf("%s: maker %s brand %q model %q gtin %s, demo says %s %q %q", d.GTIN,
				st.Enterprise.USCC, st.Product.Brand, st.Product.Model, st.Product.GTIN, d.USCC, d.Brand, d.Model)
		}
		if got := verdictAt(srv.ReferenceTime(), &st); got != d.Verdict {
			t.Errorf("%s (%s): verdict %s, demo says %s", d.GTIN, d.About, got, d.Verdict)
		}
		seen[d.Verdict] = true
	}
	for _, v := range []client.Verdict{client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn, client.VerdictNotListed} {
		if !seen[v] {
			t.Errorf("no demo product shows %s", v)
		}
	}
}

func TestDemoProductsByLookup(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	for _, d := range srv.Demo() {
		q := url.Values{"uscc": {string(d.USCC)}, "brand": {d.Brand}, "model": {d.Model}}
		st := getJSON[client.ProductStatus](t, c, "/v1/products/lookup?"+q.Encode())
		want := client.ProductKey{USCC: d.USCC, Brand: d.Brand, Model: d.Model}
		if diff := cmp.Diff(want, st.Key); diff != "" {
			t.Errorf("%s: key (-want +got):\n%s", d.GTIN, diff)
		}
		if got := verdictAt(srv.ReferenceTime(), &st); got != d.Verdict {
			t.Errorf("%s (%s) by uscc+brand+model: verdict %s, demo says %s", d.GTIN, d.About, got, d.Verdict)
		}
		if st.Product == nil || st.Product.GTIN != d.GTIN {
			t.Errorf("%s by uscc+brand+model: product %+v, want the demo product", d.GTIN, st.Product)
		}
	}
}

func TestDemoProductsByBatch(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	demo := srv.Demo()
	bad := client.ProductKey{GTIN: "6901234"} // seven digits: no GTIN has that length
	var keys []client.ProductKey
	for i, d := range demo {
		if i == len(demo)/2 {
			keys = append(keys, bad)
		}
		keys = append(keys, client.ProductKey{GTIN: d.GTIN})
	}
	// The same product by its maker, in a batch of GTINs.
	keys = append(keys, client.ProductKey{USCC: demo[0].USCC, Brand: demo[0].Brand, Model: demo[0].Model})

	resp, body := c.postJSON("/v1/products/batch", client.BatchRequest{Keys: keys})
	wantStatus(t, resp, body, http.StatusOK)
	got := decode[client.List[client.BatchResult]](t, body)
	if len(got.Data) != len(keys) {
		t.Fatalf("%d results for %d keys", len(got.Data), len(keys))
	}
	want := map[client.GTIN]client.Verdict{}
	for _, d := range demo {
		want[d.GTIN] = d.Verdict
	}
	for i, res := range got.Data {
		k := keys[i]
		switch {
		case k == bad:
			if res.Error == nil || res.Error.Code != client.CodeInvalidGTIN || res.Error.Status != http.StatusBadRequest || res.Status != nil {
				t.Errorf("result %d for %q: %+v, want only a 400 invalid_gtin problem", i, k.GTIN, res)
			}
			continue
		case res.Error != nil || res.Status == nil:
			t.Errorf("result %d for %+v: error %+v, want a status", i, k, res.Error)
			continue
		}
		if diff := cmp.Diff(k, res.Key); diff != "" {
			t.Errorf("result %d is not for key %d, in order (-want +got):\n%s", i, i, diff)
		}
		g := k.GTIN
		if g == "" {
			g = demo[0].GTIN
		}
		if v := verdictAt(srv.ReferenceTime(), res.Status); v != want[g] {
			t.Errorf("result %d (%s): verdict %s, demo says %s", i, g, v, want[g])
		}
	}
}

func TestNotListedProduct(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	g := srv.NotListedGTIN()
	if _, err := client.ParseGTIN(string(g)); err != nil {
		t.Fatalf("NotListedGTIN %q is not a valid GTIN: %v", g, err)
	}
	resp, body := c.get(productPath(g))
	wantStatus(t, resp, body, http.StatusOK)
	st := decode[client.ProductStatus](t, body)
	if st.Listed || st.Enterprise != nil || st.Commitment != nil || st.Key.GTIN != g {
		t.Errorf("not listed product: %+v, want listed=false, no maker, no commitment, key %s", st, g)
	}
	if v := verdictAt(srv.ReferenceTime(), &st); v != client.VerdictNotListed {
		t.Errorf("verdict %s, want not_listed", v)
	}
	if resp.Header.Get("ETag") == "" {
		t.Error("a not-listed answer is an answer and carries an ETag")
	}
}

func TestGTIN13AnsweredWithKey14(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	d := srv.Demo()[0]
	if d.GTIN[0] != '0' {
		t.Fatalf("demo GTIN %s has no GTIN-13 form", d.GTIN)
	}
	short := string(d.GTIN[1:])
	st := getJSON[client.ProductStatus](t, c, "/v1/products/"+short)
	if st.Key.GTIN != d.GTIN {
		t.Errorf("GET /v1/products/%s: key %q, want the 14-digit %q", short, st.Key.GTIN, d.GTIN)
	}
	if st.Product == nil || st.Product.GTIN != d.GTIN {
		t.Errorf("GET /v1/products/%s: product %+v, want GTIN %s", short, st.Product, d.GTIN)
	}
	long := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
	if diff := cmp.Diff(long, st); diff != "" {
		t.Errorf("13- and 14-digit forms answer differently (-14 +13):\n%s", diff)
	}
}

func TestConditionalGET(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ent := getJSON[client.List[client.Enterprise]](t, c, "/v1/enterprises?limit=1").Data[0]
	paths := []string{
		productPath(srv.Demo()[0].GTIN),
		productPath(srv.NotListedGTIN()),
		"/v1/products/lookup?" + url.Values{"uscc": {string(srv.Demo()[0].USCC)}, "brand": {srv.Demo()[0].Brand}}.Encode(),
		"/v1/enterprises",
		"/v1/enterprises/" + ent.ID,
		"/v1/enterprises/" + ent.ID + "/commitments",
		"/v1/inspections",
		"/v1/cases",
		"/v1/categories",
		"/v1/changes",
	}
	for _, p := range paths {
		resp, body := c.get(p)
		wantStatus(t, resp, body, http.StatusOK)
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: 200 without an ETag", p)
			continue
		}
		resp, body = c.get(p, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s with If-None-Match %s: %d with %d body bytes, want 304 and no body", p, etag, resp.StatusCode, len(body))
		}
		resp, body = c.get(p, "If-None-Match", `"not-the-tag"`)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s with a stale If-None-Match: %d with %d body bytes, want 200 and the body", p, resp.StatusCode, len(body))
		}
	}
}

func TestRevokeChangesETagVersionAndVerdict(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	d := demoWith(t, srv, client.VerdictCommitted)
	path := productPath(d.GTIN)

	resp, body := c.get(path)
	wantStatus(t, resp, body, http.StatusOK)
	before := decode[client.ProductStatus](t, body)
	etag := resp.Header.Get("ETag")
	if before.Commitment == nil {
		t.Fatalf("%s shows committed but has no commitment", d.GTIN)
	}

	revoked, err := srv.Revoke(before.Commitment.ID)
	if err != nil {
		t.Fatalf("Revoke(%s): %v", before.Commitment.ID, err)
	}
	if revoked.Status != client.CommitmentRevoked || revoked.Version <= before.Commitment.Version {
		t.Errorf("Revoke returned status %s version %d, want revoked with a version above %d", revoked.Status, revoked.Version, before.Commitment.Version)
	}

	resp, body = c.get(path, "If-None-Match", etag)
	wantStatus(t, resp, body, http.StatusOK) // the old tag no longer matches
	after := decode[client.ProductStatus](t, body)
	if got := resp.Header.Get("ETag"); got == "" || got == etag {
		t.Errorf("ETag after a revocation %q, before %q: want a new one", got, etag)
	}
	if after.Version <= before.Version {
		t.Errorf("version after a revocation %d, before %d: want it to grow", after.Version, before.Version)
	}
	if after.Commitment == nil || after.Commitment.Status != client.CommitmentRevoked || after.Commitment.Version != revoked.Version {
		t.Errorf("commitment after a revocation: %+v, want the revoked version %d", after.Commitment, revoked.Version)
	}
	if v := verdictAt(srv.ReferenceTime(), &after); v != client.VerdictWithdrawn {
		t.Errorf("verdict after a revocation %s, want withdrawn", v)
	}
	cmt := getJSON[client.Commitment](t, c, "/v1/commitments/"+revoked.ID)
	if diff := cmp.Diff(revoked, cmt); diff != "" {
		t.Errorf("GET /v1/commitments/%s after the revocation (-Revoke +GET):\n%s", revoked.ID, diff)
	}
}
