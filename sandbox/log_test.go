package sandbox_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// logState reads the log's keys and checkpoint over HTTP and verifies the
// checkpoint; asOf is the QC-As-Of of the checkpoint's answer.
func logState(t *testing.T, c *api, hdr ...string) (cp *client.Checkpoint, keys []client.LogKey, asOf int64) {
	t.Helper()
	resp, body := c.get("/v1/keys", hdr...)
	wantStatus(t, resp, body, http.StatusOK)
	keys = decode[struct {
		Data []client.LogKey `json:"data"`
	}](t, body).Data
	resp, body = c.get("/v1/log/checkpoint", hdr...)
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("checkpoint Content-Type %q, want text/plain", ct)
	}
	cp, err := client.VerifyCheckpoint(body, sandbox.DefaultLogOrigin, keys, time.Now())
	if err != nil {
		t.Fatalf("the sandbox's checkpoint does not verify: %v\n%s", err, body)
	}
	asOf, err = strconv.ParseInt(resp.Header.Get("QC-As-Of"), 10, 64)
	if err != nil {
		t.Fatalf("QC-As-Of %q: %v", resp.Header.Get("QC-As-Of"), err)
	}
	return cp, keys, asOf
}

// checkLeaf fetches leaf index, checks its inclusion in cp, and returns it.
func checkLeaf(t *testing.T, c *api, cp *client.Checkpoint, index int64, hdr ...string) []byte {
	t.Helper()
	resp, leaf := c.get(fmt.Sprintf("/v1/log/leaf?index=%d", index), hdr...)
	wantStatus(t, resp, leaf, http.StatusOK)
	resp, body := c.get(fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", index, cp.Size), hdr...)
	wantStatus(t, resp, body, http.StatusOK)
	if err := client.VerifyInclusion(cp, index, leaf, decode[client.InclusionProof](t, body)); err != nil {
		t.Fatalf("leaf %d: %v", index, err)
	}
	return leaf
}

func consistencyProof(t *testing.T, c *api, from, to int64, hdr ...string) client.ConsistencyProof {
	t.Helper()
	resp, body := c.get(fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", from, to), hdr...)
	wantStatus(t, resp, body, http.StatusOK)
	return decode[client.ConsistencyProof](t, body)
}

// The log holds a leaf for every position up to the head, the generated
// set's included, each the LogLeaf of the change at that position; a
// record read from an answer is the leaf of its version.
func TestLogEveryPositionIsALeaf(t *testing.T) {
	srv, c := start(t)
	cp, _, asOf := logState(t, c)
	if cp.Size != asOf || cp.Size == 0 {
		t.Fatalf("the log holds %d leaves, the registry's head is %d", cp.Size, asOf)
	}
	for i := range cp.Size {
		leaf := checkLeaf(t, c, cp, i)
		if want := fmt.Sprintf("\nseq %d\n", i+1); !bytes.Contains(leaf, []byte(want)) {
			t.Fatalf("leaf %d is not the change at position %d:\n%s", i, i+1, leaf)
		}
	}

	// Records as answers carry them: each is the leaf of its version.
	d := srv.Demo()[0]
	st := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
	cmt := getJSON[client.Commitment](t, c, "/v1/commitments/"+st.Commitment.ID)
	ent := getJSON[client.Enterprise](t, c, "/v1/enterprises/"+st.Enterprise.ID)
	cats := getJSON[struct {
		Data []client.Category `json:"data"`
	}](t, c, "/v1/categories")
	records := []client.Event{
		{Seq: cmt.Version, Commitment: &cmt},
		{Seq: ent.Version, Enterprise: &ent},
		{Seq: cats.Data[0].Version, Category: &cats.Data[0]},
	}
	for _, in := range st.Inspections {
		records = append(records, client.Event{Seq: in.Version, Inspection: &in})
	}
	for _, ev := range records {
		want, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkLeaf(t, c, cp, ev.Seq-1); !bytes.Equal(got, want) {
			t.Errorf("leaf %d:\n%s\nthe record at version %d makes:\n%s", ev.Seq-1, got, ev.Seq, want)
		}
	}
}

// Each published change, a report's included, is the leaf of its
// position; the log grows by each and never loses one, whatever the feed
// drops, and every checkpoint extends the one before.
func TestLogGrowsWithTheFeed(t *testing.T) {
	srv, c := start(t)
	old, _, _ := logState(t, c)

	d := demoWith(t, srv, client.VerdictCommitted)
	st := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PublishInspection(d.GTIN, client.InspectionFail); err != nil {
		t.Fatal(err)
	}
	rep, body := c.postJSON("/v1/reports", client.Report{
		ReporterKind: client.ReporterConsumer, Product: client.ProductKey{GTIN: d.GTIN},
		Kind: client.ReportCounterfeit, Platform: "Test Mall", ListingURL: "https://shop.example/item/1",
		Description: "a fake",
	})
	wantStatus(t, rep, body, http.StatusCreated)
	if _, err := srv.AdvanceReport(decode[client.Report](t, body).ID, sandbox.ReportAdvance{}); err != nil {
		t.Fatal(err)
	}
	// A fresh sandbox's feed starts empty: the generated set's history is
	// not on it.
	feed := getJSON[struct {
		Data []client.Event `json:"data"`
	}](t, c, "/v1/changes")
	if n := srv.ExpireFeed(); n == 0 {
		t.Fatal("the feed held no event to expire")
	}

	cp, _, asOf := logState(t, c)
	if cp.Size != asOf || cp.Size != old.Size+3 {
		t.Fatalf("the log holds %d leaves after 3 changes to %d; the head is %d", cp.Size, old.Size, asOf)
	}
	if len(feed.Data) != 3 {
		t.Fatalf("the feed carried %d changes, want 3", len(feed.Data))
	}
	for _, ev := range feed.Data {
		want, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkLeaf(t, c, cp, ev.Seq-1); !bytes.Equal(got, want) {
			t.Errorf("%s at %d: leaf\n%s\nwant\n%s", ev.Type, ev.Seq, got, want)
		}
	}
	if err := client.VerifyConsistency(old, cp, consistencyProof(t, c, old.Size, cp.Size)); err != nil {
		t.Fatalf("the grown log does not extend the old one: %v", err)
	}
}

func TestLogBadParameters(t *testing.T) {
	_, c := start(t)
	cp, _, _ := logState(t, c)
	n := cp.Size
	for _, path := range []string{
		"/v1/log/leaf",
		"/v1/log/leaf?index=",
		"/v1/log/leaf?index=x",
		"/v1/log/leaf?index=-1",
		"/v1/log/leaf?index=01",
		fmt.Sprintf("/v1/log/leaf?index=%d", n),
		"/v1/log/proof/inclusion?index=0",
		"/v1/log/proof/inclusion?size=1",
		"/v1/log/proof/inclusion?index=1.5&size=3",
		"/v1/log/proof/inclusion?index=3&size=3",
		fmt.Sprintf("/v1/log/proof/inclusion?index=0&size=%d", n+1),
		"/v1/log/proof/inclusion?index=0&size=99999999999999999999",
		"/v1/log/proof/consistency?from=1",
		"/v1/log/proof/consistency?to=1",
		"/v1/log/proof/consistency?from=3&to=2",
		fmt.Sprintf("/v1/log/proof/consistency?from=1&to=%d", n+1),
		"/v1/log/proof/consistency?from=a&to=2",
	} {
		resp, body := c.get(path)
		p := wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidParameter)
		if len(p.Errors) != 1 {
			t.Errorf("%s: %d field errors, want 1", path, len(p.Errors))
		}
	}
	// The edges that are trees: from 0, and from a size to itself.
	for _, q := range []string{"from=0&to=5", "from=5&to=5", fmt.Sprintf("from=%d&to=%d", n, n)} {
		resp, body := c.get("/v1/log/proof/consistency?" + q)
		wantStatus(t, resp, body, http.StatusOK)
	}
}

// The log's routes take the API key every /v1 route takes.
func TestLogNeedsAKey(t *testing.T) {
	_, c := start(t, sandbox.WithAPIKeys("k1"))
	for _, path := range []string{"/v1/log/checkpoint", "/v1/keys", "/v1/log/leaf?index=0",
		"/v1/log/proof/inclusion?index=0&size=1", "/v1/log/proof/consistency?from=1&to=2"} {
		resp, body := c.get(path)
		wantProblem(t, resp, body, http.StatusUnauthorized, client.CodeUnauthorized)
	}
	logState(t, c, "Authorization", "Bearer k1")
}

// A rotation lists a new key that signs from then on, and gives the old
// one an end a grace period away; a checkpoint the old key signed
// verifies until then.
func TestLogKeyRotation(t *testing.T) {
	srv, c := start(t, sandbox.WithLogKeyGrace(time.Hour))
	before, keys, _ := logState(t, c)
	if len(keys) != 1 || keys[0].NotAfter != nil {
		t.Fatalf("a new sandbox lists keys %+v, want one without an end", keys)
	}
	resp, body := c.do(http.MethodPost, "/_sandbox/log/rotate", nil)
	wantStatus(t, resp, body, http.StatusOK)
	after, keys, _ := logState(t, c)
	if len(keys) != 2 || keys[0].NotAfter == nil || keys[1].NotAfter != nil {
		t.Fatalf("after a rotation the keys are %+v, want the old one with an end and a new one", keys)
	}
	if after.Signer != before.Signer || keys[0].Key == keys[1].Key {
		t.Errorf("the new key is named %q (was %q) and differs: %v", after.Signer, before.Signer, keys[0].Key != keys[1].Key)
	}
	if d := keys[0].NotAfter.Sub(keys[1].NotBefore); d != time.Hour {
		t.Errorf("the old key ends %v after the new one begins, want 1h", d)
	}
	end := *keys[0].NotAfter
	if _, err := client.VerifyCheckpoint(before.Note, "", keys, end.Add(-time.Second)); err != nil {
		t.Errorf("the old key's checkpoint within the grace: %v", err)
	}
	if _, err := client.VerifyCheckpoint(before.Note, "", keys, end); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("the old key's checkpoint after the grace: %v, want ErrCheckpointSignature", err)
	}
	if _, err := client.VerifyCheckpoint(after.Note, "", keys, end.Add(time.Hour)); err != nil {
		t.Errorf("the new key's checkpoint: %v", err)
	}
	if len(srv.LogKeys()) != 2 {
		t.Errorf("LogKeys lists %d keys, want 2", len(srv.LogKeys()))
	}
}

// A given key signs, and /v1/keys lists its verifier key.
func TestLogGivenKey(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "registry.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.New(sandbox.WithLogKey("PRIVATE+KEY+nope")); err == nil {
		t.Error("a malformed log key was taken")
	}
	_, c := start(t, sandbox.WithLogKey(skey))
	cp, keys, _ := logState(t, c)
	if cp.Signer != "registry.test" || len(keys) != 1 || keys[0].Key != vkey {
		t.Fatalf("signed by %q, keys %+v; want the given key's", cp.Signer, keys)
	}
}

// After a fork, the forked key is shown a history no consistency proof
// joins to the one it was shown before, while other keys' grows as ever.
func TestLogFork(t *testing.T) {
	srv, c := start(t, sandbox.WithAPIKeys("honest", "victim"))
	hon, vic := []string{"Authorization", "Bearer honest"}, []string{"Authorization", "Bearer victim"}
	old, _, _ := logState(t, c, vic...)

	resp, body := c.postJSON("/_sandbox/log/fork", map[string]string{"api_key": "victim"}, hon...)
	wantStatus(t, resp, body, http.StatusOK)
	if at := decode[map[string]int64](t, body)["fork_at"]; at != old.Size {
		t.Fatalf("forked at %d, want %d (the next change)", at, old.Size)
	}
	d := demoWith(t, srv, client.VerdictCommitted)
	for range 3 {
		if _, err := srv.PublishInspection(d.GTIN, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	h, _, _ := logState(t, c, hon...)
	v, _, _ := logState(t, c, vic...)
	if h.Size != v.Size || h.Root == v.Root {
		t.Fatalf("honest tree %d %v, forked %d %v: want one size, two roots", h.Size, h.Root, v.Size, v.Root)
	}
	if err := client.VerifyConsistency(old, h, consistencyProof(t, c, old.Size, h.Size, hon...)); err != nil {
		t.Errorf("the honest tree does not extend the old one: %v", err)
	}
	// The forked tree is well formed: its own proofs verify, its own leaf
	// at the fork included.
	if err := client.VerifyConsistency(old, v, consistencyProof(t, c, old.Size, v.Size, vic...)); err != nil {
		t.Errorf("the forked tree's own proof: %v", err)
	}
	forged := checkLeaf(t, c, v, old.Size, vic...)
	real := checkLeaf(t, c, h, old.Size, hon...)
	if bytes.Equal(forged, real) {
		t.Error("the forked key is shown the honest leaf at the fork")
	}
	// What split-view detection sees: the victim's checkpoint against an
	// honest reader's of the same size.
	if err := client.VerifyConsistency(h, v, client.ConsistencyProof{}); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("two roots of one size: %v, want ErrLogFork", err)
	}
	if err := client.VerifyConsistency(old, v, consistencyProof(t, c, old.Size, v.Size, hon...)); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("the forked checkpoint with the honest proof: %v, want ErrLogFork", err)
	}
}

// The tree is hashed on the first request for it, not when the sandbox
// starts: the benchmark's baseline is New alone, then the first
// checkpoint's cost, and the first product status's (which proves its
// records, so builds the tree), for the default set and qcload's.
func BenchmarkLogBuild(b *testing.B) {
	for _, size := range []struct {
		name                  string
		enterprises, products int
	}{
		{"default", sandbox.DefaultEnterprises, sandbox.DefaultProducts},
		{"200k", 10000, 200000},
	} {
		b.Run(size.name+"/new", func(b *testing.B) {
			for b.Loop() {
				sb, err := sandbox.New(sandbox.WithSize(size.enterprises, size.products), sandbox.WithReferenceTime(refTime))
				if err != nil {
					b.Fatal(err)
				}
				sb.Close()
			}
		})
		b.Run(size.name+"/first-checkpoint", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sb, err := sandbox.New(sandbox.WithSize(size.enterprises, size.products), sandbox.WithReferenceTime(refTime))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				w := httptest.NewRecorder()
				sb.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/log/checkpoint", nil))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				b.StopTimer()
				lines := strings.SplitN(w.Body.String(), "\n", 3)
				if n, err := strconv.ParseFloat(lines[1], 64); err == nil {
					b.ReportMetric(n, "leaves")
				}
				sb.Close()
			}
		})
		// The first product status answer builds the log too, to prove
		// its records: its cost past the build is the answer's own.
		b.Run(size.name+"/first-status", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sb, err := sandbox.New(sandbox.WithSize(size.enterprises, size.products), sandbox.WithReferenceTime(refTime))
				if err != nil {
					b.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodGet, productPath(sb.Demo()[0].GTIN), nil)
				b.StartTimer()
				w := httptest.NewRecorder()
				sb.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"proof"`) {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				b.StopTimer()
				sb.Close()
			}
		})
	}
}

// Hostile text is data like any other: every record still makes a leaf.
func TestLogHostileSet(t *testing.T) {
	_, c := start(t, sandbox.WithHostileText())
	cp, _, asOf := logState(t, c)
	if cp.Size != asOf {
		t.Fatalf("the log holds %d leaves, the head is %d", cp.Size, asOf)
	}
	checkLeaf(t, c, cp, 1)
}

// The operator route takes the API key in the query too, and "" forks
// the callers without a key; other callers keep the honest history.
func TestLogForkByQueryAndAnonymous(t *testing.T) {
	srv, c := start(t)
	old, _, _ := logState(t, c)
	resp, body := c.do(http.MethodPost, "/_sandbox/log/fork?api_key=k1", nil)
	wantStatus(t, resp, body, http.StatusOK)
	if _, err := srv.ForkLog(""); err != nil {
		t.Fatal(err)
	}
	d := demoWith(t, srv, client.VerdictCommitted)
	if _, err := srv.PublishInspection(d.GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	k1, _, _ := logState(t, c, "Authorization", "Bearer k1")
	anon, _, _ := logState(t, c)
	k2, _, _ := logState(t, c, "Authorization", "Bearer k2")
	if k1.Root == k2.Root || anon.Root == k2.Root {
		t.Errorf("forked roots %v (k1) and %v (no key) against the honest %v: want both to differ", k1.Root, anon.Root, k2.Root)
	}
	if err := client.VerifyConsistency(old, k2, consistencyProof(t, c, old.Size, k2.Size, "Authorization", "Bearer k2")); err != nil {
		t.Errorf("an unforked key's history: %v", err)
	}
}

// While changes are published, every checkpoint a reader gets verifies
// and extends the one before it.
func TestLogAppendOnlyUnderChanges(t *testing.T) {
	srv, c := start(t)
	d := demoWith(t, srv, client.VerdictCommitted)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 40 {
			if _, err := srv.PublishInspection(d.GTIN, client.InspectionPass); err != nil {
				t.Error(err)
				return
			}
		}
	})
	prev, _, _ := logState(t, c)
	for range 20 {
		cp, _, _ := logState(t, c)
		if err := client.VerifyConsistency(prev, cp, consistencyProof(t, c, prev.Size, cp.Size)); err != nil {
			t.Fatalf("from %d to %d: %v", prev.Size, cp.Size, err)
		}
		prev = cp
	}
	wg.Wait()
	last, _, asOf := logState(t, c)
	if err := client.VerifyConsistency(prev, last, consistencyProof(t, c, prev.Size, last.Size)); err != nil {
		t.Fatal(err)
	}
	if last.Size != asOf {
		t.Errorf("at rest the log holds %d leaves, the head is %d", last.Size, asOf)
	}
}
