package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A platform checks the registry's word rather than trusting the wire:
// it verifies a signed checkpoint of the log with the registry's keys,
// then that a change the feed carried is in the tree the checkpoint
// states.
func ExampleLogService() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	// The regulator revokes a commitment; the feed carries the change.
	if _, err := sb.Revoke("cmt_0000001_1"); err != nil {
		panic(err)
	}
	page, _, err := api.Changes.List(ctx, nil)
	if err != nil {
		panic(err)
	}
	ev := page.Data[0]

	// In practice the keys are pinned in configuration, not fetched
	// beside what they verify.
	keys, _, err := api.Log.Keys(ctx)
	if err != nil {
		panic(err)
	}
	signed, _, err := api.Log.Checkpoint(ctx)
	if err != nil {
		panic(err)
	}
	cp, err := client.VerifyCheckpoint(signed, sandbox.DefaultLogOrigin, keys, time.Now())
	if err != nil {
		fmt.Println("checkpoint:", err)
		return
	}
	fmt.Println("checkpoint of", cp.Origin, "verified; it holds the change:", cp.Size >= ev.Seq)

	// The change's leaf, and the proof it is leaf seq-1 of that tree.
	leaf, err := client.LogLeaf(ev)
	if err != nil {
		panic(err)
	}
	proof, _, err := api.Log.Inclusion(ctx, ev.Seq-1, cp.Size)
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, "in the log:", client.VerifyInclusion(cp, ev.Seq-1, leaf, *proof) == nil)

	// A change the registry never made is not.
	forged := *ev.Commitment
	forged.Status = client.CommitmentActive
	ev.Commitment = &forged
	leaf, _ = client.LogLeaf(ev)
	fmt.Println("forged record in the log:", client.VerifyInclusion(cp, ev.Seq-1, leaf, *proof) == nil)
	// Output:
	// checkpoint of sandbox.qualitycommit.example/log verified; it holds the change: true
	// commitment.revoked in the log: true
	// forged record in the log: false
}

// The client verifies every status before returning it, with the keys
// pinned here; the status keeps its proof, so that whoever reads it later
// (a cache, a badge's reader) checks it again, offline.
func ExampleVerifyStatus() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()
	// In production the keys come from configuration: the registry's
	// published keys, pinned.
	keys := sb.LogKeys()
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()), client.WithLogKeys(keys...))
	if err != nil {
		panic(err)
	}
	st, _, err := api.Products.ByGTIN(context.Background(), sb.Demo()[0].GTIN, nil)
	if err != nil {
		panic(err) // a *client.VerifyError if it did not verify
	}
	fmt.Println("records proven:", len(st.Proof.Records))

	// Stored as JSON and read back, it still verifies.
	stored, _ := json.Marshal(st)
	var back client.ProductStatus
	if err := json.Unmarshal(stored, &back); err != nil {
		panic(err)
	}
	fmt.Println("read back:", client.VerifyStatus(&back, keys, time.Now()))

	// Rewritten where it was stored, it does not.
	back.Commitment.Status = client.CommitmentRevoked
	err = client.VerifyStatus(&back, keys, time.Now())
	fmt.Println("rewritten:", errors.Is(err, client.ErrLogProof))
	// Output:
	// records proven: 3
	// read back: <nil>
	// rewritten: true
}

// A web server reads a status back from the fleet's Redis, which any
// server — or whoever reaches Redis — may have written, and checks it
// before serving it, as the cache does for each status entering its
// memory: the genuine status passes; one whose commitment was rewritten
// does not, and the refusal is counted.
func ExampleClient_VerifyCached() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()),
		client.WithLogKeys(sb.LogKeys()...))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	st, _, err := api.Products.ByGTIN(ctx, "06910000100003", nil)
	if err != nil {
		panic(err)
	}
	// As another server wrote it to Redis, and as it reads back.
	stored, _ := json.Marshal(st)
	var back client.ProductStatus
	if err := json.Unmarshal(stored, &back); err != nil {
		panic(err)
	}
	fmt.Println("genuine:", api.VerifyCached(ctx, &back))

	forged := back
	c := *back.Commitment
	c.ExpiresAt = c.ExpiresAt.AddDate(10, 0, 0)
	forged.Commitment = &c
	err = api.VerifyCached(ctx, &forged)
	fmt.Println("forged refused:", errors.Is(err, client.ErrLogProof), "counted:", api.Stats().LogFailures.Proof)
	// Output:
	// genuine: <nil>
	// forged refused: true counted: 1
}
