package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// product names product j of enterprise e of the sandbox's data set.
func product(t *testing.T, srv *sandbox.Sandbox, e, j int) client.Product {
	t.Helper()
	p, ok := srv.Product(e, j)
	if !ok {
		t.Fatalf("sandbox has no product %d of enterprise %d", j, e)
	}
	return p
}

func TestProductsByGTINGivesEveryDemoVerdict(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	now := srv.ReferenceTime().Add(12 * time.Hour)
	demo := srv.Demo()
	if len(demo) < 5 {
		t.Fatalf("demo set has %d products, want one per verdict", len(demo))
	}
	seen := map[client.Verdict]bool{}
	for _, p := range demo {
		st, resp, err := c.Products.ByGTIN(ctx, p.GTIN, nil)
		if err != nil {
			t.Fatalf("ByGTIN(%s): %v", p.GTIN, err)
		}
		if got := client.Decide(st, now, 0).Verdict; got != p.Verdict {
			t.Errorf("%s (%s): verdict %s, want %s", p.GTIN, p.About, got, p.Verdict)
		}
		if st.Key != (client.ProductKey{GTIN: p.GTIN}) {
			t.Errorf("%s: key %+v, want the GTIN alone", p.GTIN, st.Key)
		}
		if resp.StatusCode != http.StatusOK || resp.ETag == "" || resp.RequestID == "" || !resp.CacheControl.Present {
			t.Errorf("%s: response %+v lacks status, ETag, request id or Cache-Control", p.GTIN, resp)
		}
		seen[p.Verdict] = true
	}
	for _, v := range []client.Verdict{client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn, client.VerdictNotListed} {
		if !seen[v] {
			t.Errorf("no demo product has verdict %s", v)
		}
	}

	st, _, err := c.Products.ByGTIN(ctx, srv.NotListedGTIN(), nil)
	if err != nil {
		t.Fatalf("ByGTIN(not listed): %v", err)
	}
	if st.Listed || client.Decide(st, now, 0).Verdict != client.VerdictNotListed {
		t.Errorf("not-listed GTIN: listed %v, verdict %s", st.Listed, client.Decide(st, now, 0).Verdict)
	}
}

func TestProductsByGTINAcceptsShortFormsAndSpaces(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	g := srv.Demo()[0].GTIN // 14 digits, indicator 0
	want, _, err := c.Products.ByGTIN(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Products.ByGTIN(ctx, " "+g[1:]+" ", nil) // the EAN-13 as printed, converted unparsed
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EAN-13 form answers differently (-14 digits +13 digits):\n%s", diff)
	}
}

func TestProductsByGTINRefusesMalformedLocally(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	before := srv.Requests("")
	for _, in := range []string{"", "123", "6901234567893", "690123456789２", "06901234567892/../x", "6901234567892\n"} {
		st, resp, err := c.Products.ByGTIN(ctx, client.GTIN(in), nil) // a conversion is never parsed
		var idErr *client.IDError
		if !errors.As(err, &idErr) || !errors.Is(err, client.ErrInvalidID) {
			t.Errorf("ByGTIN(%q) err = %v, want an *IDError", in, err)
		}
		if st != nil || resp != nil {
			t.Errorf("ByGTIN(%q) = %v, %v with an error", in, st, resp)
		}
	}
	noRequests(t, srv, before)
}

func TestProductsConditionalGet(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	now := srv.ReferenceTime().Add(12 * time.Hour)
	var gtin client.GTIN
	for _, p := range srv.Demo() {
		if p.Verdict == client.VerdictCommitted {
			gtin = p.GTIN
			break
		}
	}
	st, resp, err := c.Products.ByGTIN(ctx, gtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.ETag

	again, resp, err := c.Products.ByGTIN(ctx, gtin, &client.GetOptions{ETag: etag})
	if err != nil {
		t.Fatalf("conditional GET: %v", err)
	}
	if again != nil || !resp.NotModified || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged product: model %v, NotModified %v, status %d; want nil, true, 304", again, resp.NotModified, resp.StatusCode)
	}

	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	fresh, resp, err := c.Products.ByGTIN(ctx, gtin, &client.GetOptions{ETag: etag})
	if err != nil {
		t.Fatalf("after a revocation: %v", err)
	}
	if fresh == nil || resp.NotModified || resp.ETag == "" || resp.ETag == etag {
		t.Fatalf("after a revocation: model %v, NotModified %v, ETag %q (old %q); want a new answer", fresh, resp.NotModified, resp.ETag, etag)
	}
	if d := client.Decide(fresh, now, 0); d.Verdict != client.VerdictWithdrawn || d.Status != client.CommitmentRevoked {
		t.Errorf("after a revocation: verdict %s status %s, want withdrawn revoked", d.Verdict, d.Status)
	}
	if fresh.Version <= st.Version {
		t.Errorf("version %d after a revocation, was %d", fresh.Version, st.Version)
	}
}

func TestProductsConditionalGetRefusesAnETagThatCannotBeAHeader(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	before := srv.Requests("")
	_, _, err := c.Products.ByGTIN(ctxT(t), srv.Demo()[0].GTIN, &client.GetOptions{ETag: "\"x\"\r\nX-Evil: 1"})
	if !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("err = %v, want ErrInvalidInput", err)
	}
	noRequests(t, srv, before)
}

func TestProductsByKeyAnswersBothForms(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	now := srv.ReferenceTime().Add(12 * time.Hour)
	for _, p := range srv.Demo() {
		byGTIN, _, err := c.Products.ByKey(ctx, client.ProductKey{GTIN: p.GTIN}, nil)
		if err != nil {
			t.Fatalf("ByKey(GTIN %s): %v", p.GTIN, err)
		}
		key := client.ProductKey{USCC: client.USCC(strings.ToLower(string(p.USCC))), Brand: p.Brand, Model: p.Model}
		byMaker, resp, err := c.Products.ByKey(ctx, key, nil)
		if err != nil {
			t.Fatalf("ByKey(%+v): %v", key, err)
		}
		want := client.ProductKey{USCC: p.USCC, Brand: p.Brand, Model: p.Model}
		if diff := cmp.Diff(want, byMaker.Key); diff != "" {
			t.Errorf("%s: key not canonical (-want +got):\n%s", p.GTIN, diff)
		}
		if g, m := client.Decide(byGTIN, now, 0).Verdict, client.Decide(byMaker, now, 0).Verdict; g != p.Verdict || m != p.Verdict {
			t.Errorf("%s (%s): verdict by GTIN %s, by maker %s; want %s", p.GTIN, p.About, g, m, p.Verdict)
		}
		// The lookup is a GET like any other: conditional too.
		same, resp, err := c.Products.ByKey(ctx, key, &client.GetOptions{ETag: resp.ETag})
		if err != nil || same != nil || !resp.NotModified {
			t.Errorf("%s: conditional lookup = %v, NotModified %v, %v; want 304", p.GTIN, same, resp != nil && resp.NotModified, err)
		}
	}
	if n := srv.Requests("GET /v1/products/lookup"); n != int64(2*len(srv.Demo())) {
		t.Errorf("%d lookups reached the sandbox, want %d", n, 2*len(srv.Demo()))
	}
}

func TestProductsByKeyRefusesBadKeysLocally(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	p := srv.Demo()[0]
	tests := []struct {
		name  string
		key   client.ProductKey
		badID bool // the error wraps an *IDError
	}{
		{"neither form", client.ProductKey{}, false},
		{"both forms", client.ProductKey{GTIN: p.GTIN, USCC: p.USCC, Brand: p.Brand}, false},
		{"GTIN with a brand", client.ProductKey{GTIN: p.GTIN, Brand: p.Brand}, false},
		{"brand without a USCC", client.ProductKey{Brand: p.Brand, Model: p.Model}, false},
		{"USCC without a brand", client.ProductKey{USCC: p.USCC, Model: p.Model}, false},
		{"brand too long", client.ProductKey{USCC: p.USCC, Brand: strings.Repeat("品", 101)}, false},
		{"model not UTF-8", client.ProductKey{USCC: p.USCC, Brand: p.Brand, Model: "\xff"}, false},
		{"malformed USCC", client.ProductKey{USCC: "91350100M0O0100Y43", Brand: p.Brand}, true},
		{"wrong check digit", client.ProductKey{GTIN: "06901234567893"}, true},
	}
	before := srv.Requests("")
	for _, tt := range tests {
		st, resp, err := c.Products.ByKey(ctx, tt.key, nil)
		var keyErr *client.KeyError
		if !errors.As(err, &keyErr) || !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want a *KeyError matching ErrInvalidInput", tt.name, err)
			continue
		}
		if st != nil || resp != nil {
			t.Errorf("%s: answered %v, %v with an error", tt.name, st, resp)
		}
		if got := errors.Is(err, client.ErrInvalidID); got != tt.badID {
			t.Errorf("%s: errors.Is(err, ErrInvalidID) = %v, want %v (err %v)", tt.name, got, tt.badID, err)
		}
		if diff := cmp.Diff(tt.key, keyErr.Key); diff != "" {
			t.Errorf("%s: KeyError.Key is not the key as given:\n%s", tt.name, diff)
		}
	}
	noRequests(t, srv, before)
}

func TestProductsBatchAnswersInInputOrder(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)

	// 240 distinct products, as GTINs and, for every tenth, as maker keys.
	var unique []client.ProductKey
	for e := range 48 {
		for j := range 5 {
			p := product(t, srv, e, j)
			k := client.ProductKey{GTIN: p.GTIN}
			if len(unique)%10 == 3 {
				st, _, err := c.Products.ByGTIN(ctx, p.GTIN, nil)
				if err != nil || st.Enterprise == nil {
					t.Fatalf("ByGTIN(%s) = %v, %v", p.GTIN, st, err)
				}
				k = client.ProductKey{USCC: st.Enterprise.USCC, Brand: p.Brand, Model: p.Model}
			}
			unique = append(unique, k)
		}
	}
	// Then ten more keys: duplicates in other spellings and invalid keys,
	// spread through the list.
	keys := append([]client.ProductKey(nil), unique...)
	insert := func(at int, k client.ProductKey) {
		keys = append(keys[:at], append([]client.ProductKey{k}, keys[at:]...)...)
	}
	g0 := unique[0].GTIN
	insert(0, client.ProductKey{GTIN: "123"})
	insert(50, client.ProductKey{GTIN: g0[1:]})                      // EAN-13 of key 0
	insert(99, client.ProductKey{GTIN: "  " + unique[120].GTIN})     // spaces
	insert(100, client.ProductKey{USCC: unique[3].USCC})             // no brand
	insert(150, client.ProductKey{GTIN: unique[7].GTIN, Brand: "x"}) // both forms
	insert(180, unique[200])                                         // plain duplicate
	insert(200, client.ProductKey{USCC: client.USCC(strings.ToLower(string(unique[13].USCC))), Brand: unique[13].Brand, Model: unique[13].Model})
	insert(210, client.ProductKey{GTIN: "06901234567893"}) // check digit
	insert(240, unique[239])                               // the last one again
	keys = append(keys, client.ProductKey{})               // neither form
	if len(keys) != 250 {
		t.Fatalf("built %d keys, want 250", len(keys))
	}

	// What each valid key should get, one GET at a time.
	want := make([]*client.ProductStatus, len(keys))
	for i, k := range keys {
		st, _, err := c.Products.ByKey(ctx, k, nil)
		if err == nil {
			want[i] = st
		}
	}
	beforeGets := srv.Requests("")

	items, _, err := c.Products.Batch(ctx, keys)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if len(items) != len(keys) {
		t.Fatalf("Batch answered %d items for %d keys", len(items), len(keys))
	}
	invalid := 0
	for i, it := range items {
		if diff := cmp.Diff(keys[i], it.Key); diff != "" {
			t.Errorf("item %d is for another key (-input +item):\n%s", i, diff)
		}
		if want[i] == nil {
			invalid++
			if it.Status != nil || !errors.Is(it.Err, client.ErrInvalidInput) {
				t.Errorf("item %d (%+v): status %v err %v, want a local refusal", i, keys[i], it.Status, it.Err)
			}
			continue
		}
		if it.Err != nil {
			t.Errorf("item %d (%+v): %v", i, keys[i], it.Err)
			continue
		}
		if diff := cmp.Diff(want[i], it.Status); diff != "" {
			t.Errorf("item %d (%+v): batch and single lookup differ (-single +batch):\n%s", i, keys[i], diff)
		}
	}
	if invalid != 5 {
		t.Errorf("%d keys refused, want 5", invalid)
	}
	// 240 distinct products: three calls of at most 100, and nothing else.
	if n := srv.Requests("POST /v1/products/batch"); n != 3 {
		t.Errorf("%d batch calls, want 3", n)
	}
	if n := srv.Requests("") - beforeGets; n != 3 {
		t.Errorf("%d requests in all, want the 3 batch calls", n)
	}
	// Duplicates share the answer of their first spelling.
	if items[1].Status != items[50].Status {
		t.Errorf("the EAN-13 spelling of key 0 did not share its answer")
	}
}

func TestProductsBatchEmpty(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	items, _, err := c.Products.Batch(ctxT(t), nil)
	if err != nil || len(items) != 0 {
		t.Errorf("Batch(nil) = %v, %v; want no items and no error", items, err)
	}
	noRequests(t, srv, 0)
}

func TestProductsBatchAllRefusedLocally(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	items, _, err := c.Products.Batch(ctxT(t), []client.ProductKey{{GTIN: "1"}, {}, {Brand: "x"}})
	if !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("err = %v, want ErrInvalidInput when every key is refused", err)
	}
	for i, it := range items {
		if it.Err == nil {
			t.Errorf("item %d has no error", i)
		}
	}
	noRequests(t, srv, 0)
}

func TestProductsBatchCallFailureReachesEachKey(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Status: 503, Route: "POST /v1/products/batch"})},
		// No pause after the 503: the three calls go at once, and one that
		// started after another's 503 came back would otherwise be held.
		client: []client.Option{noRetries(), client.WithMaxPause(time.Nanosecond)},
	})
	keys := []client.ProductKey{{GTIN: "1"}} // refused locally
	for j := range 250 {
		keys = append(keys, client.ProductKey{GTIN: product(t, srv, 1+j/20, j%20).GTIN})
	}
	items, _, err := c.Products.Batch(ctxT(t), keys)
	// Every key failed, and the outage, not the one bad key, is the story.
	if !errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("err = %v, want one matching ErrUnavailable only", err)
	}
	for i, it := range items[1:] {
		var apiErr *client.APIError
		if !errors.As(it.Err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != client.CodeUnavailable {
			t.Errorf("item %d: err %v, want the call's 503", i+1, it.Err)
		}
	}
	if n := srv.Requests("POST /v1/products/batch"); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

// tamper rewrites the keys of batch calls on their way to the sandbox, as
// a broken proxy or server would, so that the real sandbox answers keys the
// client never sent.
func tamper(edit func(keys []client.ProductKey)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/v1/products/batch" {
				var req client.BatchRequest
				body, _ := io.ReadAll(r.Body)
				if json.Unmarshal(body, &req) == nil {
					edit(req.Keys)
					body, _ = json.Marshal(req)
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.ContentLength = int64(len(body))
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestProductsBatchPerKeyProblemsAndMismatches(t *testing.T) {
	t.Parallel()
	var other atomic.Value // read by the handler's goroutine
	srv, c := setupWith(t, fixture{wrap: tamper(func(keys []client.ProductKey) {
		keys[0] = client.ProductKey{GTIN: "123"}                      // the server refuses it
		keys[1] = client.ProductKey{GTIN: other.Load().(client.GTIN)} // the server answers another product
	})})
	other.Store(product(t, srv, 9, 9).GTIN)
	keys := []client.ProductKey{
		{GTIN: product(t, srv, 0, 0).GTIN},
		{GTIN: product(t, srv, 0, 1).GTIN},
		{GTIN: product(t, srv, 0, 2).GTIN},
	}
	items, _, err := c.Products.Batch(ctxT(t), keys)
	if err != nil {
		t.Fatalf("Batch: %v (one key was answered)", err)
	}
	apiErr := requireAPIError(t, items[0].Err, http.StatusBadRequest, client.CodeInvalidGTIN)
	if apiErr.Detail == "" || !errors.Is(items[0].Err, client.ErrInvalidInput) {
		t.Errorf("per-key problem %+v lacks a detail or does not match ErrInvalidInput", apiErr)
	}
	var decErr *client.DecodeError
	if !errors.As(items[1].Err, &decErr) || items[1].Status != nil {
		t.Errorf("answer for another key: status %v err %v; want a *DecodeError and no status", items[1].Status, items[1].Err)
	}
	if items[2].Err != nil || items[2].Status == nil || items[2].Status.Key != keys[2] {
		t.Errorf("untouched key: %+v", items[2])
	}
}

func TestProductsBatchStopsWithItsContext(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	keys := []client.ProductKey{{GTIN: product(t, srv, 0, 0).GTIN}, {GTIN: "1"}}
	items, _, err := c.Products.Batch(ctx, keys)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if !errors.Is(items[0].Err, context.Canceled) || !errors.Is(items[1].Err, client.ErrInvalidInput) {
		t.Errorf("items = %+v, want the valid key canceled and the bad one refused", items)
	}
	noRequests(t, srv, 0)
}

func TestProductsBatchBoundsItsConcurrency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inflight, most := 0, 0
	watch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inflight++
			most = max(most, inflight)
			mu.Unlock()
			defer func() {
				mu.Lock()
				inflight--
				mu.Unlock()
			}()
			next.ServeHTTP(w, r)
		})
	}
	// Each call is held a little, so that calls overlap if allowed to.
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 30 * time.Millisecond, Route: "POST /v1/products/batch"})},
		wrap:    watch,
	})
	var keys []client.ProductKey
	for e := range 50 {
		for j := range 20 {
			keys = append(keys, client.ProductKey{GTIN: product(t, srv, e, j).GTIN})
		}
	}
	items, _, err := c.Products.Batch(ctxT(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil || it.Status.Key != keys[i] {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if n := srv.Requests("POST /v1/products/batch"); n != 10 {
		t.Errorf("%d calls for 1,000 keys, want 10", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 4 || most < 2 {
		t.Errorf("at most %d calls in flight, want 2 to 4", most)
	}
}
