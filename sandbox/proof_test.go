package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Every status answer made of records proves them against the checkpoint
// it carries, the one /v1/log/checkpoint serves at that moment; a status
// of no record carries no proof.
func TestStatusAnswersCarryTheirProof(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithHostileText())
	cp, keys, _ := logState(t, c)
	for _, d := range srv.Demo() {
		st := getJSON[client.ProductStatus](t, c, productPath(d.GTIN))
		if st.Proof == nil || st.Proof.Checkpoint != string(cp.Note) {
			t.Fatalf("%s: proof %+v, want one with the log's checkpoint", d.GTIN, st.Proof)
		}
		if st.Proof.Consistency != nil {
			t.Errorf("%s: a consistency proof nobody asked for", d.GTIN)
		}
		if err := client.VerifyStatus(&st, keys, time.Now()); err != nil {
			t.Errorf("%s: %v", d.GTIN, err)
		}
	}
	st := getJSON[client.ProductStatus](t, c, productPath(srv.NotListedGTIN()))
	if st.Proof != nil {
		t.Errorf("a product not listed carries a proof: %+v", st.Proof)
	}
}

// log_size asks for the consistency proof from the reader's checkpoint to
// the answer's; a batch carries both once.
func TestStatusAnswersProveConsistency(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	old, keys, _ := logState(t, c)
	d := demoWith(t, srv, client.VerdictCommitted)
	for range 3 {
		if _, err := srv.PublishInspection(d.GTIN, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
	st := getJSON[client.ProductStatus](t, c, fmt.Sprintf("%s?log_size=%d", productPath(d.GTIN), old.Size))
	cp, err := client.VerifyCheckpoint([]byte(st.Proof.Checkpoint), sandbox.DefaultLogOrigin, keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Proof.Consistency == nil {
		t.Fatal("no consistency proof")
	}
	if err := client.VerifyConsistency(old, cp, *st.Proof.Consistency); err != nil {
		t.Error(err)
	}
	// The same size, or a larger one, needs no proof.
	for _, n := range []int64{cp.Size, cp.Size + 5} {
		if st := getJSON[client.ProductStatus](t, c, fmt.Sprintf("%s?log_size=%d", productPath(d.GTIN), n)); st.Proof.Consistency != nil {
			t.Errorf("log_size %d of a log of %d: a consistency proof %+v", n, cp.Size, st.Proof.Consistency)
		}
	}

	resp, body := c.postJSON(fmt.Sprintf("/v1/products/batch?log_size=%d", old.Size),
		client.BatchRequest{Keys: []client.ProductKey{{GTIN: d.GTIN}, {GTIN: srv.NotListedGTIN()}, {GTIN: srv.Demo()[0].GTIN}}})
	wantStatus(t, resp, body, http.StatusOK)
	page := decode[client.BatchResponse](t, body)
	bcp, err := client.VerifyCheckpoint([]byte(page.Checkpoint), sandbox.DefaultLogOrigin, keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if page.Consistency == nil || client.VerifyConsistency(old, bcp, *page.Consistency) != nil {
		t.Errorf("batch consistency proof %+v does not join %d to %d", page.Consistency, old.Size, bcp.Size)
	}
	for i, r := range page.Data {
		if r.Status.Proof != nil {
			if r.Status.Proof.Checkpoint != "" {
				t.Errorf("result %d repeats the checkpoint", i)
			}
			r.Status.Proof.Checkpoint = page.Checkpoint
		}
		if err := client.VerifyStatus(r.Status, keys, time.Now()); err != nil {
			t.Errorf("result %d: %v", i, err)
		}
	}

	for _, bad := range []string{"-1", "x", "1.5", ""} {
		resp, body := c.get(productPath(d.GTIN) + "?log_size=" + bad)
		wantProblem(t, resp, body, http.StatusBadRequest, client.CodeInvalidParameter)
	}
}

// The ETag is the status's: a change anywhere else in the registry moves
// the proof's checkpoint, not the tag, and the tag still answers 304.
func TestStatusETagIgnoresTheProof(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	a, b := srv.Demo()[0], srv.Demo()[1]
	resp, body := c.get(productPath(a.GTIN))
	wantStatus(t, resp, body, http.StatusOK)
	tag := resp.Header.Get("ETag")
	// The proof appended to the encoded status reads as encoding/json
	// writes the whole.
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(decode[client.ProductStatus](t, body)); err != nil || !bytes.Equal(again.Bytes(), body) {
		t.Errorf("the answer is not the status as encoding/json writes it (%v):\n%s\n%s", err, body, again.Bytes())
	}
	if _, err := srv.PublishInspection(b.GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	resp, body = c.get(productPath(a.GTIN), "If-None-Match", tag)
	wantStatus(t, resp, body, http.StatusNotModified)
}

// A forked API key's statuses are proven against its own tree: a record
// at the position where the histories part verifies for everyone else and
// not for it.
func TestStatusProofsOfAForkedKey(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	d := demoWith(t, srv, client.VerdictCommitted)
	if _, err := srv.ForkLog("k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PublishInspection(d.GTIN, client.InspectionFail); err != nil {
		t.Fatal(err)
	}
	honest, keys, _ := logState(t, c, "Authorization", "Bearer k2")
	forked, _, _ := logState(t, c, "Authorization", "Bearer k1")
	for _, tc := range []struct {
		key  string
		cp   string
		good bool
	}{{"k2", string(honest.Note), true}, {"k1", string(forked.Note), false}} {
		resp, body := c.get(productPath(d.GTIN), "Authorization", "Bearer "+tc.key)
		wantStatus(t, resp, body, http.StatusOK)
		st := decode[client.ProductStatus](t, body)
		if st.Proof.Checkpoint != tc.cp {
			t.Errorf("%s: the answer's checkpoint is not the one its log shows", tc.key)
		}
		if err := client.VerifyStatus(&st, keys, time.Now()); (err == nil) != tc.good {
			t.Errorf("%s: VerifyStatus = %v, want it to verify: %v", tc.key, err, tc.good)
		}
	}
}
