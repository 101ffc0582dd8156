package sandbox_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

func reportParams(g client.GTIN, description string) client.ReportParams {
	return client.ReportParams{
		Product:     client.ProductKey{GTIN: g},
		Kind:        client.ReportCounterfeit,
		ListingURL:  "https://shop.example/item/42",
		Platform:    "ExampleMall",
		Description: description,
		Contact:     "buyer@example.com",
	}
}

func TestReportsIdempotency(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	g := srv.Demo()[0].GTIN
	p := reportParams(g, "印有质量承诺标识，但做工与正品不符")

	resp, body := c.postJSON("/v1/reports", p, "Idempotency-Key", "order-7-report")
	wantStatus(t, resp, body, http.StatusCreated)
	first := decode[client.Report](t, body)
	if first.ID == "" || first.Status == "" || first.CreatedAt.IsZero() {
		t.Errorf("created report %+v lacks an id, a status or a date", first)
	}
	want := client.Report{ID: first.ID, ReporterKind: client.ReporterConsumer, Product: p.Product, Kind: p.Kind, ListingURL: p.ListingURL, Platform: p.Platform,
		Description: p.Description, Status: client.ReportReceived, CreatedAt: first.CreatedAt, UpdatedAt: first.CreatedAt,
		Steps:       []client.ReportStep{{Status: client.ReportReceived, At: first.CreatedAt}},
		AccessToken: first.AccessToken}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("report does not say what was sent (-sent +got):\n%s", diff)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasSuffix(loc, "/v1/reports/"+first.ID) {
		t.Errorf("Location %q, want it to name /v1/reports/%s", loc, first.ID)
	}
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		t.Error("a first POST is not a replay")
	}

	// A retry: the same key and body answer the same report.
	resp, body = c.postJSON("/v1/reports", p, "Idempotency-Key", "order-7-report")
	wantStatus(t, resp, body, http.StatusOK)
	if resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: Idempotent-Replayed %q, want true", resp.Header.Get("Idempotent-Replayed"))
	}
	if again := decode[client.Report](t, body); again.ID != first.ID || again.AccessToken != first.AccessToken {
		t.Errorf("replay answered report %s (the same token: %v), want %s with its token", again.ID, again.AccessToken == first.AccessToken, first.ID)
	}

	// The same key with another body is a conflict.
	other := p
	other.Description = "另一件商品"
	resp, body = c.postJSON("/v1/reports", other, "Idempotency-Key", "order-7-report")
	wantProblem(t, resp, body, http.StatusConflict, client.CodeIdempotencyConflict)

	// The key is the caller's: another API key may use the same one.
	resp, body = c.postJSON("/v1/reports", other, "Idempotency-Key", "order-7-report", "Authorization", "Bearer another-platform")
	wantStatus(t, resp, body, http.StatusCreated)

	// Without a key every POST files a report.
	var noKey []string
	for range 2 {
		resp, body := c.postJSON("/v1/reports", p)
		wantStatus(t, resp, body, http.StatusCreated)
		noKey = append(noKey, decode[client.Report](t, body).ID)
	}
	if noKey[0] == noKey[1] || slices.Contains(noKey, first.ID) {
		t.Errorf("reports without a key %v (first %s): want two new reports", noKey, first.ID)
	}
	if n := srv.Reports(); n != 4 {
		t.Errorf("Reports() = %d, want 4 (first, other platform, two without a key)", n)
	}

	// GET with the token answers the report, without the token, also
	// through its Location.
	tok := string(first.AccessToken)
	resp, body = c.get("/v1/reports/"+first.ID, client.ReportTokenHeader, tok)
	wantStatus(t, resp, body, http.StatusOK)
	got := decode[client.Report](t, body)
	want.AccessToken = ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /v1/reports/%s (-POST +GET):\n%s", first.ID, diff)
	}
	if strings.Contains(string(body), tok) {
		t.Error("a read answers the token again")
	}
	if strings.HasPrefix(loc, "/") {
		resp, body := c.get(loc, client.ReportTokenHeader, tok)
		wantStatus(t, resp, body, http.StatusOK)
		if viaLoc := decode[client.Report](t, body); viaLoc.ID != first.ID {
			t.Errorf("GET %s answered report %s", loc, viaLoc.ID)
		}
	}
}

// topField names the top-level body field a problem field points at,
// whether it is written as a name ("product") or as a JSON pointer
// ("/product/gtin"), as the contract allows.
func topField(f string) string {
	f = strings.TrimPrefix(f, "/")
	top, _, _ := strings.Cut(f, "/")
	return top
}

func TestReportsValidation(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	bad := client.ReportParams{
		Product:     client.ProductKey{GTIN: "123"},
		Kind:        "", // the set of kinds is open, but a kind is required
		ListingURL:  "javascript:alert(1)",
		Platform:    "",
		Description: "",
	}
	resp, body := c.postJSON("/v1/reports", bad, "Idempotency-Key", "k")
	p := wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidBody)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, topField(f.Field))
		if f.Message == "" {
			t.Errorf("field %s: no message", f.Field)
		}
	}
	slices.Sort(fields)
	if diff := cmp.Diff([]string{"description", "kind", "listing_url", "platform", "product"}, fields); diff != "" {
		t.Errorf("invalid fields (-want +got):\n%s", diff)
	}

	// A bad field among good ones is named alone.
	one := reportParams(srv.Demo()[0].GTIN, "描述")
	one.ListingURL = "ftp://shop.example/x"
	resp, body = c.postJSON("/v1/reports", one)
	p = wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidBody)
	if len(p.Errors) != 1 || topField(p.Errors[0].Field) != "listing_url" {
		t.Errorf("errors %+v, want listing_url alone", p.Errors)
	}

	resp, body = c.postJSON("/v1/reports", reportParams(srv.Demo()[0].GTIN, "ok"), "Idempotency-Key", "has space")
	wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidParameter)

	if n := srv.Reports(); n != 0 {
		t.Errorf("Reports() = %d after invalid reports only, want 0", n)
	}
}
