package client_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// rewrite passes every answer of the sandbox through edit before it goes
// on, as a proxy between the registry and the client would: edit gets the
// request and the body, and returns the body to send.
func rewrite(edit func(r *http.Request, body []byte) []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = edit(r, body)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

// isStatus reports whether r asks for one product's status.
func isStatus(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/products/")
}

// editStatus rewrites the product status answers with edit, decoded; the
// answers of other routes pass as they are.
func editStatus(edit func(st *client.ProductStatus)) func(http.Handler) http.Handler {
	return rewrite(func(r *http.Request, body []byte) []byte {
		if !isStatus(r) {
			return body
		}
		var st client.ProductStatus
		if err := json.Unmarshal(body, &st); err != nil {
			panic(err)
		}
		edit(&st)
		out, err := json.Marshal(st)
		if err != nil {
			panic(err)
		}
		return out
	})
}

// demoOf is the first demo product with verdict v.
func demoOf(t *testing.T, srv *sandbox.Sandbox, v client.Verdict) sandbox.DemoProduct {
	t.Helper()
	for _, d := range srv.Demo() {
		if d.Verdict == v {
			return d
		}
	}
	t.Fatalf("no demo product shows %s", v)
	return sandbox.DemoProduct{}
}

// wantRefused checks err is the *VerifyError for key, matching cause.
func wantRefused(t *testing.T, st *client.ProductStatus, err error, key client.ProductKey, cause error) {
	t.Helper()
	var ve *client.VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, cause) {
		t.Fatalf("err = %v (%T), want a *VerifyError matching %v", err, err, cause)
	}
	if ve.Key != key {
		t.Errorf("the error names %+v, want %+v", ve.Key, key)
	}
	if st != nil {
		t.Errorf("a status that did not verify was returned: %+v", st)
	}
}

// Genuine answers verify, one by one and a hundred at a time, and carry
// what verifies them offline: the statuses of a batch share one
// checkpoint string.
func TestStatusesVerify(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{fetchKeys: true})
	ctx := ctxT(t)
	keys := srv.LogKeys()
	for _, d := range srv.Demo() {
		st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
		if err != nil {
			t.Fatalf("%s: %v", d.GTIN, err)
		}
		if st.Proof == nil || st.Proof.Checkpoint == "" || st.Proof.Consistency != nil {
			t.Fatalf("%s: proof %+v, want one with a checkpoint and no consistency proof left", d.GTIN, st.Proof)
		}
		if err := client.VerifyStatus(st, keys, time.Now()); err != nil {
			t.Errorf("%s offline: %v", d.GTIN, err)
		}
		byKey, _, err := c.Products.ByKey(ctx, client.ProductKey{USCC: d.USCC, Brand: d.Brand, Model: d.Model}, nil)
		if err != nil {
			t.Fatalf("%s by key: %v", d.GTIN, err)
		}
		if err := client.VerifyStatus(byKey, keys, time.Now()); err != nil {
			t.Errorf("%s by key offline: %v", d.GTIN, err)
		}
	}
	// A hundred keys: the demo products, then products of makers that
	// appear several times, so that records are shared.
	var batch []client.ProductKey
	for _, d := range srv.Demo() {
		batch = append(batch, client.ProductKey{GTIN: d.GTIN})
	}
	for i := 0; len(batch) < 99; i++ {
		batch = append(batch, client.ProductKey{GTIN: product(t, srv, 10+i%12, i/12).GTIN})
	}
	batch = append(batch, client.ProductKey{GTIN: srv.NotListedGTIN()})
	items, _, err := c.Products.Batch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	var shared *byte
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("key %d: %v", i, it.Err)
		}
		if err := client.VerifyStatus(it.Status, keys, time.Now()); err != nil {
			t.Errorf("key %d offline: %v", i, err)
		}
		if it.Status.Proof == nil {
			if it.Status.Listed {
				t.Errorf("key %d: a listed product without a proof", i)
			}
			continue
		}
		p := unsafe.StringData(it.Status.Proof.Checkpoint)
		if shared == nil {
			shared = p
		} else if p != shared {
			t.Errorf("key %d: its checkpoint is a copy, not the answer's string", i)
		}
	}
	if got := c.Stats().LogFailures; got != (client.LogFailureCounts{}) {
		t.Errorf("failures %+v on genuine answers", got)
	}
	if n := srv.Requests("GET /v1/keys"); n != 1 {
		t.Errorf("/v1/keys fetched %d times, want once", n)
	}
	if cp := c.LatestCheckpoint(); cp == nil || cp.Size < items[0].Status.Version {
		t.Errorf("latest checkpoint %+v, want one holding every status's records", cp)
	}
}

// A status made of no record has nothing to prove: it needs no key.
func TestNotListedNeedsNoProof(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{fetchKeys: true})
	st, _, err := c.Products.ByGTIN(ctxT(t), srv.NotListedGTIN(), nil)
	if err != nil || st.Listed || st.Proof != nil {
		t.Fatalf("status %+v, err %v: want not listed, no proof", st, err)
	}
	if n := srv.Requests("GET /v1/keys"); n != 0 {
		t.Errorf("/v1/keys fetched %d times for nothing to verify", n)
	}
}

// A record rewritten on its way — a revoked commitment shown active — is
// refused with a typed error, counted, logged once; so is a status
// stripped of its proof, or with its proof cut short.
func TestRewrittenStatusRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(st *client.ProductStatus)
	}{
		{"revoked shown active", func(st *client.ProductStatus) {
			if st.Commitment != nil && st.Commitment.Status == client.CommitmentRevoked {
				st.Commitment.Status = client.CommitmentActive
			}
		}},
		{"proof stripped", func(st *client.ProductStatus) { st.Proof = nil }},
		{"consistency proof stripped", func(st *client.ProductStatus) {
			if st.Proof != nil {
				st.Proof.Consistency = nil
			}
		}},
		{"proof cut short", func(st *client.ProductStatus) {
			if st.Proof != nil {
				p := &st.Proof.Records[1].Proof
				*p = (*p)[:len(*p)-1]
			}
		}},
		{"version inflated", func(st *client.ProductStatus) { st.Version += 1000 }},
		{"record swapped for another maker's", func(st *client.ProductStatus) {
			if st.Commitment != nil {
				st.Commitment.EnterpriseID = "ent_other"
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var on atomic.Bool
			var logs bytes.Buffer
			var logMu sync.Mutex
			srv, c := setupWith(t, fixture{
				wrap: editStatus(func(st *client.ProductStatus) {
					if on.Load() {
						tc.edit(st)
					}
				}),
				client: []client.Option{client.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)))},
			})
			ctx := ctxT(t)
			d := demoOf(t, srv, client.VerdictCommitted)
			st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Revoke(st.Commitment.ID); err != nil {
				t.Fatal(err)
			}
			on.Store(true)
			for range 2 {
				st, _, err = c.Products.ByGTIN(ctx, d.GTIN, nil)
				wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrLogProof)
			}
			if got := c.Stats().LogFailures; got != (client.LogFailureCounts{Proof: 2}) {
				t.Errorf("failures %+v, want 2 of proof", got)
			}
			logMu.Lock()
			n := strings.Count(logs.String(), "does not verify against its log")
			logMu.Unlock()
			if n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// In a batch the statuses that do not verify — one rewritten, one
// stripped of its proof — carry their error, and the others are answered.
func TestBatchItemRefused(t *testing.T) {
	t.Parallel()
	var victim, stripped atomic.Value // client.GTIN
	victim.Store(client.GTIN(""))
	stripped.Store(client.GTIN(""))
	srv, c := setupWith(t, fixture{wrap: rewrite(func(r *http.Request, body []byte) []byte {
		if r.URL.Path != "/v1/products/batch" {
			return body
		}
		var page client.BatchResponse
		if err := json.Unmarshal(body, &page); err != nil {
			panic(err)
		}
		for _, res := range page.Data {
			if st := res.Status; st != nil && st.Key.GTIN == victim.Load().(client.GTIN) {
				st.Commitment.Status = client.CommitmentActive
			}
			if st := res.Status; st != nil && st.Key.GTIN == stripped.Load().(client.GTIN) {
				st.Proof = nil
			}
		}
		out, _ := json.Marshal(page)
		return out
	})})
	ctx := ctxT(t)
	d := demoOf(t, srv, client.VerdictCommitted)
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	victim.Store(d.GTIN)
	other := srv.Demo()[0]
	if other.GTIN == d.GTIN {
		other = srv.Demo()[1]
	}
	stripped.Store(other.GTIN)
	var keys []client.ProductKey
	for _, p := range srv.Demo() {
		keys = append(keys, client.ProductKey{GTIN: p.GTIN})
	}
	items, _, err := c.Products.Batch(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Key.GTIN == d.GTIN || it.Key.GTIN == other.GTIN {
			wantRefused(t, it.Status, it.Err, it.Key, client.ErrLogProof)
		} else if it.Err != nil {
			t.Errorf("%s: %v", it.Key.GTIN, it.Err)
		}
	}
}

// Proofs for another tree than the checkpoint's — the answer's
// checkpoint replaced by an earlier genuine one — do not verify.
func TestProofForAnotherTreeSize(t *testing.T) {
	t.Parallel()
	var earlier atomic.Pointer[string]
	srv, c := setupWith(t, fixture{wrap: editStatus(func(st *client.ProductStatus) {
		if cp := earlier.Load(); cp != nil && st.Proof != nil {
			st.Proof.Checkpoint = *cp
		}
	})})
	ctx := ctxT(t)
	d := demoOf(t, srv, client.VerdictCommitted)
	cp, _, err := c.Log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cp)
	earlier.Store(&s)
	if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrLogProof)
}

// resign signs a checkpoint's text anew with signer, as whoever holds a
// key that is not the registry's would.
func resign(t *testing.T, signed string, signer note.Signer) string {
	text, _, ok := strings.Cut(signed, "\n\n")
	if !ok {
		panic("not a signed note: " + signed)
	}
	out, err := note.Sign(&note.Note{Text: text + "\n"}, signer)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func rogueKey(t *testing.T, name string) (note.Signer, client.LogKey) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, client.LogKey{Key: vkey, NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// A checkpoint signed by a key the client was not given is refused; with
// keys fetched, the client asks /v1/keys again first, at most once a
// minute.
func TestCheckpointUnknownKey(t *testing.T) {
	t.Parallel()
	t.Run("pinned", func(t *testing.T) {
		t.Parallel()
		_, other := rogueKey(t, "sandbox.qualitycommit.example")
		srv, c := setupWith(t, fixture{client: []client.Option{client.WithLogKeys(other)}})
		d := srv.Demo()[0]
		st, _, err := c.Products.ByGTIN(ctxT(t), d.GTIN, nil)
		wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrCheckpointSignature)
		if n := srv.Requests("GET /v1/keys"); n != 0 {
			t.Errorf("pinned keys, yet /v1/keys was asked %d times", n)
		}
	})
	t.Run("fetched", func(t *testing.T) {
		t.Parallel()
		rogue, _ := rogueKey(t, "sandbox.qualitycommit.example")
		var now atomic.Int64
		now.Store(time.Now().UnixNano())
		srv, c := setupWith(t, fixture{
			fetchKeys: true,
			wrap: editStatus(func(st *client.ProductStatus) {
				if st.Proof != nil {
					st.Proof.Checkpoint = resign(t, st.Proof.Checkpoint, rogue)
				}
			}),
			client: []client.Option{client.WithClock(func() time.Time { return time.Unix(0, now.Load()) })},
		})
		ctx := ctxT(t)
		d := srv.Demo()[0]
		for i, want := range []int64{2, 2, 3} {
			if i == 2 {
				now.Add(int64(61 * time.Second))
			}
			st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
			wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrCheckpointSignature)
			if n := srv.Requests("GET /v1/keys"); n != want {
				t.Errorf("call %d: /v1/keys asked %d times, want %d", i, n, want)
			}
		}
		if got := c.Stats().LogFailures.Signature; got != 3 {
			t.Errorf("%d signature failures counted, want 3", got)
		}
	})
}

// After the registry rotates its key, a client that fetched the keys
// fetches them again and verifies the new key's checkpoints.
func TestKeyRotationFetchedAgain(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{fetchKeys: true})
	ctx := ctxT(t)
	d := srv.Demo()[0]
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RotateLogKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PublishInspection(d.GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatalf("after a rotation: %v", err)
	}
	if n := srv.Requests("GET /v1/keys"); n != 2 {
		t.Errorf("/v1/keys asked %d times, want 2", n)
	}
}

// A key past its end verifies nothing, even a checkpoint the client
// verified while the key was in force.
func TestCheckpointExpiredKey(t *testing.T) {
	t.Parallel()
	start := time.Now()
	var now atomic.Int64
	now.Store(start.UnixNano())
	var keys []client.LogKey
	srv, c := setup(t)
	for _, k := range srv.LogKeys() {
		end := start.Add(time.Hour)
		k.NotAfter = &end
		keys = append(keys, k)
	}
	c = newClient(t, client.BaseURL(c), client.WithLogKeys(keys...), client.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	ctx := ctxT(t)
	d := srv.Demo()[0]
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatalf("while the key is in force: %v", err)
	}
	now.Add(int64(2 * time.Hour))
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrCheckpointSignature)
}

// newClient is another client of the server at base.
func newClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(append([]client.Option{client.WithBaseURL(base), client.WithAPIKey("test-key"),
		client.WithHTTPClient(&http.Client{Transport: tr})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replayer answers a product's status call, when replay is set, with the
// body of that product's first answer: a stale copy a cache or an
// attacker hands out.
type replayer struct {
	mu     sync.Mutex
	first  map[string][]byte
	replay atomic.Bool
}

func (rp *replayer) wrap() func(http.Handler) http.Handler {
	rp.first = map[string][]byte{}
	return rewrite(func(r *http.Request, body []byte) []byte {
		if !isStatus(r) {
			return body
		}
		rp.mu.Lock()
		defer rp.mu.Unlock()
		if old, ok := rp.first[r.URL.Path]; ok && rp.replay.Load() {
			return old
		}
		if _, ok := rp.first[r.URL.Path]; !ok {
			rp.first[r.URL.Path] = bytes.Clone(body)
		}
		return body
	})
}

// A checkpoint older than the one the request named is refused.
func TestCheckpointBackwards(t *testing.T) {
	t.Parallel()
	var rp replayer
	srv, c := setupWith(t, fixture{wrap: rp.wrap()})
	ctx := ctxT(t)
	a, b := srv.Demo()[0], srv.Demo()[1]
	if _, _, err := c.Products.ByGTIN(ctx, a.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PublishInspection(b.GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Products.ByGTIN(ctx, b.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	rp.replay.Store(true)
	st, _, err := c.Products.ByGTIN(ctx, a.GTIN, nil)
	wantRefused(t, st, err, client.ProductKey{GTIN: a.GTIN}, client.ErrLogBackwards)
	if got := c.Stats().LogFailures; got != (client.LogFailureCounts{Backwards: 1}) {
		t.Errorf("failures %+v, want 1 backwards", got)
	}
}

// An answer is judged against the checkpoint its request named: one
// asked before another call moved the client's latest checkpoint on, and
// answered from the older tree, is fine, and the latest stays where the
// other call put it.
func TestAnswerJudgedAgainstWhatItAskedFrom(t *testing.T) {
	t.Parallel()
	held := make(chan struct{})
	release := make(chan struct{})
	var hold atomic.Bool
	srv, c := setupWith(t, fixture{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			if isStatus(r) && hold.CompareAndSwap(true, false) {
				close(held)
				<-release
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}})
	ctx := ctxT(t)
	a, b := srv.Demo()[0], srv.Demo()[1]
	if _, _, err := c.Products.ByGTIN(ctx, a.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	first := c.LatestCheckpoint()
	hold.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Products.ByGTIN(ctx, a.GTIN, nil)
		errc <- err
	}()
	<-held // answered from the tree of first's size, not yet delivered
	if _, err := srv.PublishInspection(b.GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Products.ByGTIN(ctx, b.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	moved := c.LatestCheckpoint()
	if moved.Size <= first.Size {
		t.Fatalf("latest checkpoint %d, want past %d", moved.Size, first.Size)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("the answer asked from %d changes, delivered after the client saw %d: %v", first.Size, moved.Size, err)
	}
	if got := c.LatestCheckpoint(); got != moved {
		t.Errorf("latest checkpoint went from %d to %d", moved.Size, got.Size)
	}
}

// setupForkable is setup with a switch: while it is on, the client's
// calls reach the sandbox as the API key "forked-key", whose view of the
// log ForkLog can make a history of its own.
func setupForkable(t *testing.T) (*sandbox.Sandbox, *client.Client, *atomic.Bool) {
	t.Helper()
	forked := new(atomic.Bool)
	srv, c := setupWith(t, fixture{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if forked.Load() {
				r.Header.Set("Authorization", "Bearer forked-key")
			}
			next.ServeHTTP(w, r)
		})
	}})
	return srv, c, forked
}

// A reader shown a forked history after the genuine one catches it: the
// consistency proof its request asked for does not join the two.
func TestForkedLogCaught(t *testing.T) {
	t.Parallel()
	srv, c, forked := setupForkable(t)
	ctx := ctxT(t)
	d := srv.Demo()[0]
	if _, err := srv.ForkLog("forked-key"); err != nil {
		t.Fatal(err)
	}
	// The change where the histories part, then the genuine checkpoint
	// past it.
	if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if i == 1 {
			// Past the client's size too: a consistency proof is asked for.
			if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
				t.Fatal(err)
			}
		}
		forked.Store(true)
		st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
		wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrLogFork)
	}
}

// A page's batch checks its checkpoint's signature once and each record
// once, however many statuses share it; the statuses asked one by one
// after it find the checkpoint verified.
func TestBatchVerifiesSharedWorkOnce(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	var keys []client.ProductKey
	records := map[string]bool{}
	for e := range 3 {
		for j := range 20 {
			keys = append(keys, client.ProductKey{GTIN: product(t, srv, 10+e, j).GTIN})
		}
	}
	items, _, err := c.Products.Batch(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Err != nil {
			t.Fatal(it.Err)
		}
		for _, r := range it.Status.Proof.Records {
			records[r.Kind+" "+r.ID] = true
		}
	}
	sigs, leaves := client.VerifyCosts(c)
	if sigs != 1 || leaves != int64(len(records)) {
		t.Errorf("a batch of %d statuses of %d records: %d signatures and %d leaves checked, want 1 and %d",
			len(keys), len(records), sigs, leaves, len(records))
	}
	for _, k := range keys[:10] {
		if _, _, err := c.Products.ByKey(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if sigs, _ := client.VerifyCosts(c); sigs != 1 {
		t.Errorf("%d signatures checked for one checkpoint, want 1", sigs)
	}
}

// A registry that publishes no keys cannot be verified: its statuses are
// refused, not mistaken for an outage or a missing product.
func TestNoKeysPublished(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{fetchKeys: true, wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/keys" {
				r.URL.Path = "/v1/no-such-route"
			}
			next.ServeHTTP(w, r)
		})
	}})
	d := srv.Demo()[0]
	st, _, err := c.Products.ByGTIN(ctxT(t), d.GTIN, nil)
	wantRefused(t, st, err, client.ProductKey{GTIN: d.GTIN}, client.ErrCheckpointSignature)
	if errors.Is(err, client.ErrNotFound) {
		t.Errorf("a status refused for want of keys matches ErrNotFound: %v", err)
	}
}

// The keys are fetched at high priority, whoever needs them: a
// low-priority caller whose answer spent the last token still gets its
// status verified, rather than refused again each time it tries (a cache
// warming its catalogue would retry forever).
func TestKeysFetchedForALowPriorityCaller(t *testing.T) {
	t.Parallel()
	srv, c := setupWith(t, fixture{fetchKeys: true, client: []client.Option{client.WithUpstreamLimit(20, 1)}})
	d := srv.Demo()[0]
	low := client.WithPriority(ctxT(t), client.PriorityLow)
	if _, _, err := c.Products.ByGTIN(low, d.GTIN, nil); err != nil {
		t.Fatalf("a low-priority lookup: %v", err)
	}
}

// A checkpoint the fleet's follower verified becomes the one later
// answers must extend; an older one of the same history changes nothing,
// and one of another history, or signed by no registry key, is refused
// and leaves the client's latest where it was.
func TestTrustCheckpoint(t *testing.T) {
	t.Parallel()
	srv, c, forked := setupForkable(t)
	ctx := ctxT(t)
	checkpoint := func() []byte {
		t.Helper()
		b, _, err := c.Log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	change := func() {
		t.Helper()
		if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	first := checkpoint()
	if err := c.TrustCheckpoint(ctx, first); err != nil {
		t.Fatal(err)
	}
	size := c.LatestCheckpoint().Size
	change()
	if err := c.TrustCheckpoint(ctx, checkpoint()); err != nil {
		t.Fatal(err)
	}
	if got := c.LatestCheckpoint().Size; got != size+1 {
		t.Fatalf("latest is of %d changes after a newer checkpoint was trusted; want %d", got, size+1)
	}
	if err := c.TrustCheckpoint(ctx, first); err != nil || c.LatestCheckpoint().Size != size+1 {
		t.Errorf("an older checkpoint of the same history: %v, latest of %d; want nil and %d", err, c.LatestCheckpoint().Size, size+1)
	}
	if _, err := srv.ForkLog("forked-key"); err != nil {
		t.Fatal(err)
	}
	change()
	forked.Store(true)
	other := checkpoint()
	forked.Store(false)
	if err := c.TrustCheckpoint(ctx, other); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("a checkpoint of another history: %v; want ErrLogFork", err)
	}
	if got := c.LatestCheckpoint().Size; got != size+1 {
		t.Errorf("latest moved to %d on a refused checkpoint", got)
	}
	forged := bytes.Replace(checkpoint(), []byte("\n\n"), []byte("\nx\n\n"), 1)
	if err := c.TrustCheckpoint(ctx, forged); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("a checkpoint whose text was changed: %v; want ErrCheckpointSignature", err)
	}
}

// A proof's hash rewritten into something that is no hash (not base64 of
// 32 bytes) fails the answer's decoding: a *DecodeError, and no status.
func TestProofHashNotAHash(t *testing.T) {
	t.Parallel()
	var on atomic.Bool
	srv, c := setupWith(t, fixture{wrap: rewrite(func(r *http.Request, body []byte) []byte {
		if !on.Load() || !isStatus(r) {
			return body
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			panic(err)
		}
		rec := v["proof"].(map[string]any)["records"].([]any)[0].(map[string]any)
		rec["proof"].([]any)[0] = "not a hash"
		out, _ := json.Marshal(v)
		return out
	})})
	ctx := ctxT(t)
	d := demoOf(t, srv, client.VerdictCommitted)
	if _, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
		t.Fatal(err)
	}
	on.Store(true)
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	var de *client.DecodeError
	if !errors.As(err, &de) || st != nil {
		t.Errorf("a status whose proof holds %q: %+v, %v (%T); want no status and a *DecodeError", "not a hash", st, err, err)
	}
}
