package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testio"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// -watch indexes the catalogue, and for a revocation in the registry
// writes a finding, as a JSON line on stdout, for every listing of the
// revoked product, and none before; stopped, it exits 0.
func TestWatchWritesAFindingForEachListingARevocationTouches(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	ls := catalogue(srv, 300, 100)
	file := write(t, dir, "catalogue.csv", csvOf(ls, nil))
	index := filepath.Join(dir, "catalogue.db")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testio.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-watch", index, file}, registryEnv(srv), strings.NewReader(""), &out, &errOut)
	}()
	testio.After(t, &errOut, "qcaudit: watching")
	if out.String() != "" {
		t.Fatalf("findings before any change:\n%s", out.String())
	}

	committed := srv.Demo()[0] // by GTIN in the catalogue
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	st, _, err := api.Products.ByGTIN(ctx, string(committed.GTIN), nil)
	if err != nil || st.Commitment == nil {
		t.Fatalf("the committed demo product: %+v, %v", st, err)
	}
	want := map[string]bool{}
	for _, l := range ls {
		if l.key.GTIN == committed.GTIN {
			want[l.id] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("the catalogue does not sell the committed demo product")
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	testio.After(t, &out, `"verdict":"withdrawn"`)
	// The findings of one key come out one after another: wait for all.
	got := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) { // polling for a state
		got = map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var f struct {
				ListingID string            `json:"listing_id"`
				Key       client.ProductKey `json:"key"`
				Verdict   client.Verdict    `json:"verdict"`
			}
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("not a JSON line: %q: %v", line, err)
			}
			if f.Key.GTIN == committed.GTIN && f.Verdict == client.VerdictWithdrawn {
				got[f.ListingID] = true
			}
		}
		if len(got) == len(want) {
			break
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("listing %s of the revoked product has no withdrawn finding", id)
		}
	}
	cancel()
	if code := <-exit; code != exitClean {
		t.Errorf("stopped, -watch exited %d; want 0\n%s", code, errOut.String())
	}
}

func TestWatchRefusesTheFullAuditsFlags(t *testing.T) {
	for _, args := range [][]string{{"-watch", "x.db", "-o", "f.csv"}, {"-watch", "x.db", "-all"}, {"-watch", "x.db", "-resume", "j", "-o", "f.csv"}} {
		r := runCmd(t, context.Background(), envOf(), nil, args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, "-watch writes its findings to stdout") {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stderr)
		}
	}
}
