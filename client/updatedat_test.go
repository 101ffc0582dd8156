package client_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// A status no record makes up has no updated_at, as the contract says: a
// client that passes one on (a cache, a proxy) writes none either, rather
// than 0001-01-01.
func TestAStatusWithoutRecordsHasNoUpdatedAt(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	st, _, err := c.Products.ByGTIN(ctxT(t), srv.NotListedGTIN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Listed || !st.UpdatedAt.IsZero() {
		t.Errorf("a product not listed: listed %v, updated_at %v", st.Listed, st.UpdatedAt)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "updated_at") {
		t.Errorf("a status without records encodes an updated_at: %s", b)
	}
	listed, _, err := c.Products.ByGTIN(ctxT(t), srv.Demo()[0].GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(listed); !strings.Contains(string(b), `"updated_at":"`) {
		t.Errorf("a listed status lost its updated_at: %s", b)
	}
}
