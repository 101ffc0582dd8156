package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// logClient is a client of srv with its own API key, for tests where two
// platforms read one registry.
func logClient(t *testing.T, srv *sandbox.Server, key string) *client.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(key), client.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verified fetches the keys and the checkpoint and verifies it now.
func verified(t *testing.T, ctx context.Context, c *client.Client) (*client.Checkpoint, []client.LogKey) {
	t.Helper()
	keys, _, err := c.Log.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	note, resp, err := c.Log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := client.VerifyCheckpoint(note, sandbox.DefaultLogOrigin, keys, time.Now())
	if err != nil {
		t.Fatalf("the checkpoint does not verify: %v\n%s", err, note)
	}
	if cp.Size != resp.AsOf {
		t.Errorf("a checkpoint of %d changes answered at position %d", cp.Size, resp.AsOf)
	}
	return cp, keys
}

// consistent checks newer extends older with the proof c is served.
func consistent(ctx context.Context, c *client.Client, older, newer *client.Checkpoint) error {
	p, _, err := c.Log.Consistency(ctx, older.Size, newer.Size)
	if err != nil {
		return err
	}
	return client.VerifyConsistency(older, newer, *p)
}

// publish makes n changes of the registry.
func publish(t *testing.T, srv *sandbox.Server, n int) {
	t.Helper()
	g := srv.Demo()[0].GTIN
	for range n {
		if _, err := srv.PublishInspection(g, client.InspectionPass); err != nil {
			t.Fatal(err)
		}
	}
}

// Every change of the feed is in the log the checkpoint states, and each
// later checkpoint extends the one before.
func TestLogVerifiesTheFeed(t *testing.T) {
	srv := sandbox.NewServer(t)
	c := logClient(t, srv, "platform")
	ctx := ctxT(t)
	first, _ := verified(t, ctx, c)

	d := srv.Demo()[0]
	st, _, err := c.Products.ByGTIN(ctx, d.GTIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, 2)
	if _, err := srv.RenameEnterprise(st.Enterprise.ID, client.Text{ZH: "新名字"}); err != nil {
		t.Fatal(err)
	}
	page, _, err := c.Changes.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 4 {
		t.Fatalf("the feed carries %d changes, want 4", len(page.Data))
	}
	cp, _ := verified(t, ctx, c)
	for _, ev := range page.Data {
		leaf, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		served, _, err := c.Log.Leaf(ctx, ev.Seq-1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(served, leaf) {
			t.Errorf("%s at %d: the log serves\n%s\nthe event makes\n%s", ev.Type, ev.Seq, served, leaf)
		}
		p, _, err := c.Log.Inclusion(ctx, ev.Seq-1, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.VerifyInclusion(cp, ev.Seq-1, leaf, *p); err != nil {
			t.Errorf("%s at %d: %v", ev.Type, ev.Seq, err)
		}
	}
	// A record read from the API is the leaf of its version too.
	rec, _, err := c.Commitments.Get(ctx, st.Commitment.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := client.LogLeaf(client.Event{Seq: rec.Version, Commitment: rec})
	p, _, err := c.Log.Inclusion(ctx, rec.Version-1, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(cp, rec.Version-1, leaf, *p); err != nil {
		t.Errorf("the revoked commitment at version %d: %v", rec.Version, err)
	}

	if err := consistent(ctx, c, first, cp); err != nil {
		t.Errorf("the grown log does not extend the first checkpoint: %v", err)
	}
	publish(t, srv, 1)
	later, _ := verified(t, ctx, c)
	if err := consistent(ctx, c, cp, later); err != nil {
		t.Errorf("the next checkpoint does not extend the last: %v", err)
	}
}

// A platform shown a forked history cannot prove it extends a checkpoint
// an honest reader verified; every other platform still can.
func TestLogForkIsCaught(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithAPIKeys("honest", "victim"))
	honest, victim := logClient(t, srv, "honest"), logClient(t, srv, "victim")
	ctx := ctxT(t)
	start, _ := verified(t, ctx, victim)

	if _, err := srv.ForkLog("victim"); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, 1)
	witnessed, _ := verified(t, ctx, honest) // what a witness saw, after the fork
	publish(t, srv, 1)

	h, _ := verified(t, ctx, honest)
	if err := consistent(ctx, honest, witnessed, h); err != nil {
		t.Errorf("the honest log does not extend what the witness saw: %v", err)
	}
	if err := consistent(ctx, honest, start, h); err != nil {
		t.Errorf("the honest log does not extend the start: %v", err)
	}
	v, _ := verified(t, ctx, victim) // signed and well formed
	if err := consistent(ctx, victim, witnessed, v); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("the forked checkpoint against the witness's, with the victim's proof: %v, want ErrLogFork", err)
	}
	if err := consistent(ctx, honest, witnessed, v); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("the forked checkpoint against the witness's, with the honest proof: %v, want ErrLogFork", err)
	}
	if err := client.VerifyConsistency(h, v, client.ConsistencyProof{}); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("two checkpoints of one size: %v, want ErrLogFork", err)
	}
}

// After a rotation the new key signs; a checkpoint the old key signed
// verifies until the grace period ends, and not after.
func TestLogKeyRotationEndToEnd(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithLogKeyGrace(2*time.Hour))
	c := logClient(t, srv, "platform")
	ctx := ctxT(t)
	old, _ := verified(t, ctx, c)
	if _, err := srv.RotateLogKey(); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, 1)
	cp, keys := verified(t, ctx, c)
	if len(keys) != 2 || keys[0].NotAfter == nil {
		t.Fatalf("keys after a rotation: %+v", keys)
	}
	end := *keys[0].NotAfter
	if _, err := client.VerifyCheckpoint(cp.Note, "", keys[1:], time.Now()); err != nil {
		t.Errorf("the new checkpoint with the new key alone: %v", err)
	}
	if _, err := client.VerifyCheckpoint(cp.Note, "", keys[:1], time.Now()); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("the new checkpoint with the old key alone: %v, want ErrCheckpointSignature", err)
	}
	if _, err := client.VerifyCheckpoint(old.Note, "", keys, end.Add(-time.Minute)); err != nil {
		t.Errorf("the old key's checkpoint before its end: %v", err)
	}
	if _, err := client.VerifyCheckpoint(old.Note, "", keys, end.Add(time.Minute)); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("the old key's checkpoint after its end: %v, want ErrCheckpointSignature", err)
	}
	if err := consistent(ctx, c, old, cp); err != nil {
		t.Errorf("a rotation broke the log's history: %v", err)
	}
}

// Bytes changed on the way, and proofs cut short or for another tree,
// fail with typed errors.
func TestLogTamperingFails(t *testing.T) {
	srv := sandbox.NewServer(t)
	c := logClient(t, srv, "platform")
	ctx := ctxT(t)
	old, keys := verified(t, ctx, c)
	publish(t, srv, 3)
	cp, _ := verified(t, ctx, c)

	tampered := bytes.Replace(cp.Note, []byte("\n"+itoa(cp.Size)+"\n"), []byte("\n"+itoa(cp.Size+1)+"\n"), 1)
	if bytes.Equal(tampered, cp.Note) {
		t.Fatal("the size line was not found")
	}
	if _, err := client.VerifyCheckpoint(tampered, "", keys, time.Now()); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("a tampered checkpoint: %v, want ErrCheckpointSignature", err)
	}

	index := cp.Size - 2
	leaf, _, err := c.Log.Leaf(ctx, index)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Log.Inclusion(ctx, index, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	cut := *p
	cut.Proof = p.Proof[:len(p.Proof)-1]
	if err := client.VerifyInclusion(cp, index, leaf, cut); !errors.Is(err, client.ErrLogProof) {
		t.Errorf("a truncated inclusion proof: %v, want ErrLogProof", err)
	}
	other, _, err := c.Log.Inclusion(ctx, index, cp.Size-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(cp, index, leaf, *other); !errors.Is(err, client.ErrLogProof) {
		t.Errorf("a proof for another tree size: %v, want ErrLogProof", err)
	}
	if err := client.VerifyInclusion(cp, index, append(bytes.Clone(leaf), 'x'), *p); !errors.Is(err, client.ErrLogProof) {
		t.Errorf("a changed leaf: %v, want ErrLogProof", err)
	}

	cons, _, err := c.Log.Consistency(ctx, old.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	short := *cons
	short.Proof = cons.Proof[:len(cons.Proof)-1]
	if err := client.VerifyConsistency(old, cp, short); err == nil {
		t.Error("a truncated consistency proof verified")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Parameters that name no tree are refused before a request, and the
// registry refuses a tree it does not have.
func TestLogBadInput(t *testing.T) {
	srv := sandbox.NewServer(t)
	c := logClient(t, srv, "platform")
	ctx := ctxT(t)
	cp, _ := verified(t, ctx, c)
	before := srv.Requests("")
	if _, _, err := c.Log.Inclusion(ctx, -1, 5); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("index -1: %v", err)
	}
	if _, _, err := c.Log.Inclusion(ctx, 5, 5); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("index 5 of 5: %v", err)
	}
	if _, _, err := c.Log.Consistency(ctx, 3, 2); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("from 3 to 2: %v", err)
	}
	if _, _, err := c.Log.Leaf(ctx, -1); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("leaf -1: %v", err)
	}
	noRequests(t, srv.Sandbox, before)

	_, _, err := c.Log.Inclusion(ctx, 0, cp.Size+1)
	requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidParameter)
	_, _, err = c.Log.Leaf(ctx, cp.Size)
	requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidParameter)
}
