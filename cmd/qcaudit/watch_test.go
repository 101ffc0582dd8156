package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
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
	st, _, err := api.Products.ByGTIN(ctx, committed.GTIN, nil)
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
	for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) { // polling for a state
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

// -watch INDEX -catalogue FILE started again with a re-exported
// catalogue syncs the index: listings new to it are found through their
// makers (a commitment naming brands, not GTIN prefixes), and listings
// the catalogue dropped get no finding any more.
func TestWatchSyncsANewCatalogue(t *testing.T) {
	srv := sandbox.NewServer(t)
	dir := t.TempDir()
	index := filepath.Join(dir, "catalogue.db")
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	bg := context.Background()

	// A maker whose active commitment names brands only.
	ents, _ := srv.Size()
	var maker int
	var brandOnly *client.Commitment
	for e := 12; e < ents && brandOnly == nil; e++ {
		p, ok := srv.Product(e, 0)
		if !ok {
			continue
		}
		st, _, err := api.Products.ByGTIN(bg, p.GTIN, nil)
		if err == nil && st.Commitment != nil && st.Commitment.Status == client.CommitmentActive &&
			len(st.Commitment.Scope.GTINPrefixes) == 0 && st.Commitment.Scope.Covers("", p.Brand, p.Model) {
			maker, brandOnly = e, st.Commitment
		}
	}
	if brandOnly == nil {
		t.Fatal("no maker with a commitment naming brands only")
	}
	dropped := srv.Demo()[0] // by GTIN in yesterday's catalogue, not in today's
	st, _, err := api.Products.ByGTIN(bg, dropped.GTIN, nil)
	if err != nil || st.Commitment == nil {
		t.Fatalf("the committed demo product: %+v, %v", st, err)
	}

	yesterday := catalogue(srv, 300, 100)
	var today []listing
	wantGone := map[string]bool{}
	for _, l := range yesterday {
		if l.key.GTIN == dropped.GTIN {
			wantGone[l.id] = true
			continue
		}
		today = append(today, l)
	}
	wantNew := map[string]bool{}
	for j := 0; ; j++ {
		p, ok := srv.Product(maker, j)
		if !ok {
			break
		}
		if p.GTIN != "" && brandOnly.Scope.Covers("", p.Brand, p.Model) {
			id := fmt.Sprintf("NEW-%d", j)
			today = append(today, listing{id, "shop-new", p.Name.In("en"), client.ProductKey{GTIN: p.GTIN}})
			wantNew[id] = true
		}
	}
	if len(wantGone) == 0 || len(wantNew) == 0 {
		t.Fatalf("%d listings dropped, %d new: the test proves nothing", len(wantGone), len(wantNew))
	}

	watchOnce := func(file string, events func(out *testio.Buffer)) string {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		var out, errOut testio.Buffer
		exit := make(chan int, 1)
		go func() {
			exit <- run(ctx, []string{"-watch", index, "-catalogue", file}, registryEnv(srv), strings.NewReader(""), &out, &errOut)
		}()
		testio.After(t, &errOut, "qcaudit: watching")
		if events != nil {
			events(&out)
		}
		cancel()
		if code := <-exit; code != exitClean {
			t.Fatalf("-watch exited %d; want 0\n%s", code, errOut.String())
		}
		return out.String()
	}
	watchOnce(write(t, dir, "yesterday.csv", csvOf(yesterday, nil)), nil)
	out := watchOnce(write(t, dir, "today.csv", csvOf(today, nil)), func(out *testio.Buffer) {
		if _, err := srv.Revoke(st.Commitment.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Revoke(brandOnly.ID); err != nil {
			t.Fatal(err)
		}
		// The second revocation's findings come after the first's.
		for id := range wantNew {
			testio.After(t, out, `"listing_id":"`+id+`"`)
		}
	})
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f struct {
			ListingID string `json:"listing_id"`
			EventID   string `json:"event_id"`
			EventSeq  int64  `json:"event_seq"`
			EventAt   string `json:"event_at"`
			DecidedAt string `json:"decided_at"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if wantGone[f.ListingID] {
			t.Errorf("listing %s, dropped from the catalogue, still has a finding: %s", f.ListingID, line)
		}
		_, atErr := time.Parse(time.RFC3339Nano, f.EventAt)
		_, decidedErr := time.Parse(time.RFC3339Nano, f.DecidedAt)
		if f.EventID == "" || f.EventSeq == 0 || atErr != nil || decidedErr != nil {
			t.Errorf("a finding without its event id, sequence, event time or finding time: %s", line)
		}
	}
}
