package spill_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/spill"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

var refTime = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func now() time.Time { return refTime.Add(12 * time.Hour) }

// setup serves a sandbox and writes a shuffled catalogue of n listings
// over distinct products.
func setup(t *testing.T, n, distinct int) (*sandbox.Server, *client.Client, []byte) {
	t.Helper()
	srv := sandbox.NewServer(t, sandbox.WithReferenceTime(refTime), sandbox.WithRateLimit(0, 0))
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	ents, _ := srv.Size()
	var gtins []client.GTIN
	for j := 0; len(gtins) < distinct; j++ {
		added := false
		for e := 0; e < ents && len(gtins) < distinct; e++ {
			if p, ok := srv.Product(e, j); ok && p.GTIN != "" {
				gtins, added = append(gtins, p.GTIN), true
			}
		}
		if !added {
			t.Fatalf("the sandbox has %d products, want %d", len(gtins), distinct)
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i % distinct
	}
	r := rand.New(rand.NewPCG(3, 5))
	r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	var b bytes.Buffer
	b.WriteString("listing_id,seller,title,gtin\n")
	for i, p := range order {
		fmt.Fprintf(&b, "L%d,s%d,item %d,%s\n", i, i%7, i, gtins[p])
	}
	return srv, api, b.Bytes()
}

// With 50 answers in memory and 600 distinct products in a shuffled
// catalogue, every product is still looked up once, in the fewest calls,
// and the findings are those of a run that remembers everything.
func TestEachKeyLookedUpOnce(t *testing.T) {
	const distinct = 600
	_, api, csv := setup(t, 6000, distinct)
	var want bytes.Buffer
	if _, err := audit.Run(context.Background(), api, audit.ReadCSV(bytes.NewReader(csv), nil), audit.NewCSVWriter(&want, false),
		&audit.Options{Clock: now, All: true}); err != nil {
		t.Fatal(err)
	}

	store, err := spill.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var got bytes.Buffer
	sum, err := audit.Run(context.Background(), api, audit.ReadCSV(bytes.NewReader(csv), nil), audit.NewCSVWriter(&got, false),
		&audit.Options{Clock: now, All: true, MaxKeys: 50, Answers: store})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Keys != distinct || sum.Calls != (distinct+99)/100 {
		t.Errorf("%d keys looked up in %d calls; want %d in %d", sum.Keys, sum.Calls, distinct, (distinct+99)/100)
	}
	if store.Puts() < distinct-50 {
		t.Errorf("%d answers went to disk; with 50 in memory, want at least %d", store.Puts(), distinct-50)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("the findings differ from a run that remembers every answer in memory")
	}

	// Without the store, the same memory bound costs calls: the defect.
	sum, err = audit.Run(context.Background(), api, audit.ReadCSV(bytes.NewReader(csv), nil), audit.NewCSVWriter(&bytes.Buffer{}, false),
		&audit.Options{Clock: now, MaxKeys: 50})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Keys <= distinct {
		t.Errorf("without a store, %d keys looked up: the test does not churn the memory", sum.Keys)
	}
}

// Killed halfway and resumed from its journal, with little memory, a run
// repeats at most one window's lookups.
func TestResumeRepeatsAtMostOneWindow(t *testing.T) {
	const distinct = 600
	_, api, csv := setup(t, 6000, distinct)
	dir := t.TempDir()
	journal := audit.FileCheckpoint{Path: filepath.Join(dir, "journal")}
	run := func(ctx context.Context, cancelAt int, cancel context.CancelFunc) (audit.Summary, error) {
		store, err := spill.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		listings := audit.ReadCSV(bytes.NewReader(csv), nil)
		if cancel != nil {
			all := listings
			listings = func(yield func(audit.Listing, error) bool) {
				i := 0
				for l, err := range all {
					if i++; i == cancelAt {
						cancel()
					}
					if !yield(l, err) {
						return
					}
				}
			}
		}
		return audit.Run(ctx, api, listings, audit.NewCSVWriter(&bytes.Buffer{}, false),
			&audit.Options{Clock: now, MaxKeys: 50, Answers: store, Checkpoint: journal})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := run(ctx, 3000, cancel); !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed run: %v", err)
	}
	sum, err := run(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if repeated := sum.Keys - distinct; repeated < 0 || repeated > client.MaxBatchKeys {
		t.Errorf("%d keys looked up over both runs: %s repeated, want at most one window's (%d)", sum.Keys, strconv.Itoa(repeated), client.MaxBatchKeys)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left in the directory, want the journal alone", len(entries))
	}
}
