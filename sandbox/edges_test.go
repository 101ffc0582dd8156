package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// A product no record names has no updated_at, as it has no version: the
// contract gives neither, rather than a time that never was
// (0001-01-01). A listed product's is the latest of its records'.
func TestAProductNoRecordNamesHasNoUpdatedAt(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	resp, body := c.get(productPath(srv.NotListedGTIN()))
	wantStatus(t, resp, body, http.StatusOK)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if at, ok := raw["updated_at"]; ok || string(raw["listed"]) != "false" || string(raw["version"]) != "0" {
		t.Errorf("a product not listed: updated_at %s (present %v), listed %s, version %s; want no updated_at, listed false, version 0", at, ok, raw["listed"], raw["version"])
	}
	st := getJSON[client.ProductStatus](t, c, productPath(srv.Demo()[0].GTIN))
	if !st.Listed || st.UpdatedAt.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a listed product: updated_at %v; want the time of its latest record", st.UpdatedAt)
	}
}

// Whatever is not a registry id (ent_…) names an enterprise by its USCC;
// a malformed USCC is invalid_uscc however it is malformed, its length
// included, as it is everywhere else a USCC is taken.
func TestAnEnterpriseUSCCOfTheWrongLengthIsInvalidUSCC(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	u := string(srv.Demo()[0].USCC)
	for _, id := range []string{u[:17], u + "0", "91330100", "acme"} {
		for _, path := range []string{"/v1/enterprises/" + id, "/v1/enterprises/" + id + "/commitments"} {
			resp, body := c.get(path)
			wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidUSCC)
		}
	}
}
