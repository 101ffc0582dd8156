package client_test

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func reportOf(srv *sandbox.Sandbox) client.ReportParams {
	p := srv.Demo()[0]
	return client.ReportParams{
		Product:     client.ProductKey{GTIN: p.GTIN[1:]}, // sent as printed, answered canonical
		Kind:        client.ReportCounterfeit,
		ListingURL:  "https://shop.example/item/42",
		Platform:    "shop.example",
		Description: "包装与正品不符，疑似假冒。",
	}
}

// idemKeys records the Idempotency-Key of every report attempt.
type idemKeys struct {
	mu   sync.Mutex
	keys []string
}

func (k *idemKeys) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/reports" {
			k.mu.Lock()
			k.keys = append(k.keys, r.Header.Get("Idempotency-Key"))
			k.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (k *idemKeys) all() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

func TestReportsCreateIsIdempotentUnderItsKey(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	params := reportOf(srv)
	opts := &client.ReportOptions{IdempotencyKey: "order-42-report-1"}

	first, resp, err := c.Reports.Create(ctx, params, opts)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Replayed() {
		t.Errorf("first create: status %d, replayed %v; want 201, false", resp.StatusCode, resp.Replayed())
	}
	if first.Product != (client.ProductKey{GTIN: srv.Demo()[0].GTIN}) || first.Status == "" {
		t.Errorf("report %+v: want the canonical key and a status", first)
	}

	again, resp, err := c.Reports.Create(ctx, params, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Replayed() || resp.StatusCode != http.StatusOK {
		t.Errorf("repeat: status %d, replayed %v; want 200, true", resp.StatusCode, resp.Replayed())
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("repeat answered another report (-first +repeat):\n%s", diff)
	}
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports stored, want 1", n)
	}

	got, _, err := c.Reports.Get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("Get (-created +got):\n%s", diff)
	}

	// The same key with another report is a conflict, not a replay.
	params.Description = "另一份举报"
	_, _, err = c.Reports.Create(ctx, params, opts)
	requireAPIError(t, err, http.StatusConflict, client.CodeIdempotencyConflict)
	if n := srv.Reports(); n != 1 {
		t.Errorf("%d reports stored after a conflict, want 1", n)
	}
}

func TestReportsCreateGeneratesAKeyAndRetriesSafely(t *testing.T) {
	t.Parallel()
	for _, fault := range []sandbox.Fault{
		// Refused before the server stores anything.
		{Kind: sandbox.FaultError, Status: 503, Probability: 0.5, Route: "POST /v1/reports"},
		// Stored, but the answer is lost on the way: only the key keeps
		// the retry from filing the report twice.
		{Kind: sandbox.FaultTruncated, Probability: 0.5, Route: "POST /v1/reports"},
	} {
		t.Run(string(fault.Kind), func(t *testing.T) {
			t.Parallel()
			keys := &idemKeys{}
			// Seed 7 fails the first attempt and lets the second through.
			srv, c := setupWith(t, fixture{
				sandbox: []sandbox.Option{sandbox.WithFaults(fault), sandbox.WithFaultSeed(7)},
				wrap:    keys.wrap,
			})
			rep, resp, err := c.Reports.Create(ctxT(t), reportOf(srv), nil)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if resp.Attempts < 2 || int64(resp.Attempts) != srv.Requests("POST /v1/reports") {
				t.Errorf("%d attempts, %d reached the sandbox; want a retry", resp.Attempts, srv.Requests("POST /v1/reports"))
			}
			if n := srv.Reports(); n != 1 {
				t.Errorf("%d reports stored, want exactly 1", n)
			}
			sent := keys.all()
			for _, k := range sent {
				if k != sent[0] {
					t.Errorf("attempts sent keys %q, want one key for all", sent)
					break
				}
			}
			if b, err := hex.DecodeString(sent[0]); err != nil || len(b) != 16 {
				t.Errorf("generated key %q is not 128 bits of hex", sent[0])
			}
			if got, _, err := c.Reports.Get(ctxT(t), rep.ID); err != nil || got.ID != rep.ID {
				t.Errorf("Get(%s) = %v, %v", rep.ID, got, err)
			}
		})
	}
}

func TestReportsCreateGeneratesAFreshKeyPerCall(t *testing.T) {
	t.Parallel()
	keys := &idemKeys{}
	srv, c := setupWith(t, fixture{wrap: keys.wrap})
	for range 2 {
		if _, _, err := c.Reports.Create(ctxT(t), reportOf(srv), nil); err != nil {
			t.Fatal(err)
		}
	}
	if sent := keys.all(); len(sent) != 2 || sent[0] == sent[1] {
		t.Errorf("keys %q, want two different ones", sent)
	}
	if n := srv.Reports(); n != 2 {
		t.Errorf("%d reports stored, want 2: without a caller's key, two calls are two reports", n)
	}
}

func TestReportsErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)

	bad := reportOf(srv)
	bad.ListingURL = "javascript:alert(1)"
	_, _, err := c.Reports.Create(ctx, bad, nil)
	apiErr := requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidBody)
	if len(apiErr.Fields) != 1 || !strings.HasSuffix(apiErr.Fields[0].Field, "listing_url") {
		t.Errorf("fields %+v, want the listing URL named", apiErr.Fields)
	}

	_, _, err = c.Reports.Get(ctx, "rpt_nope")
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown report: err = %v, want ErrNotFound", err)
	}
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	before := srv.Requests("")
	noKey := reportOf(srv)
	noKey.Product = client.ProductKey{}
	var keyErr *client.KeyError
	if _, _, err := c.Reports.Create(ctx, noKey, nil); !errors.As(err, &keyErr) {
		t.Errorf("report without a product: err = %v, want a *KeyError", err)
	}
	if _, _, err := c.Reports.Create(ctx, reportOf(srv), &client.ReportOptions{IdempotencyKey: "has space"}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("malformed idempotency key: err = %v, want ErrInvalidInput", err)
	}
	for _, id := range []string{"", "rpt_", "case_000001", "rpt_../x"} {
		if _, _, err := c.Reports.Get(ctx, id); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidInput", id, err)
		}
	}
	noRequests(t, srv, before)
	if n := srv.Reports(); n != 0 {
		t.Errorf("%d reports stored, want none", n)
	}
}

func TestResponseReplayedOnNil(t *testing.T) {
	t.Parallel()
	var r *client.Response
	if r.Replayed() {
		t.Error("a nil Response says it was replayed")
	}
}
