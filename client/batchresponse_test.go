package client_test

import (
	"errors"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// Batch returns a *Response, as every call of the client does: that of
// the call answered last, whose rate-limit figures are the freshest; nil
// when no call was sent.
func TestProductsBatchReturnsItsResponse(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	demo := srv.Demo()
	items, resp, err := c.Products.Batch(ctxT(t), []client.ProductKey{{GTIN: demo[0].GTIN}, {GTIN: demo[1].GTIN}})
	if err != nil || len(items) != 2 {
		t.Fatalf("Batch: %d items, %v", len(items), err)
	}
	if resp == nil {
		t.Fatal("Batch returned no *Response")
	}
	if resp.StatusCode != 200 || resp.RequestID == "" || resp.AsOf <= 0 || resp.RateLimit.Limit <= 0 || resp.Attempts != 1 {
		t.Errorf("Batch's Response: %+v; want the call's status, request id, position and rate limit", resp)
	}
	if items[0].AsOf > resp.AsOf {
		t.Errorf("an item reflects position %d, past its answer's %d", items[0].AsOf, resp.AsOf)
	}

	// No call, no Response.
	if _, resp, err := c.Products.Batch(ctxT(t), nil); resp != nil || err != nil {
		t.Errorf("Batch(nil): %+v, %v; want no Response and no error", resp, err)
	}
	if _, resp, err := c.Products.Batch(ctxT(t), []client.ProductKey{{GTIN: "1"}}); resp != nil || !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("Batch of a refused key: %+v, %v; want no Response and the key's error", resp, err)
	}
}
