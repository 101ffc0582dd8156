package watch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/audit"
)

// TestSyncAddsUpdatesAndRemoves: a re-exported catalogue with new
// listings, a listing whose key changed and listings dropped is synced
// into the index; the next revocation finds the new and the moved
// listings through their makers, learnt as Run starts, and none of the
// dropped ones.
func TestSyncAddsUpdatesAndRemoves(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	csvText, items := catalogue(t, e)
	en, c := pick(t, e, false)

	// Yesterday's catalogue lacks maker en's GTIN listings of shop-2, and
	// every GTIN listing of its products 010 on, whose keys are new to the
	// index today; and it lists G-en-000-1 under another product.
	other, _ := e.srv.Product(en+1, 0)
	prefix := "G-" + pad2(en) + "-"
	var old bytes.Buffer
	cw := csv.NewWriter(&old)
	rows, _ := csv.NewReader(bytes.NewReader(csvText)).ReadAll()
	for _, row := range rows {
		id := row[0]
		switch {
		case strings.HasPrefix(id, prefix) && (strings.HasSuffix(id, "-2") || id[len(prefix):len(prefix)+3] >= "010"):
			continue
		case id == prefix+"000-1":
			row = slices.Clone(row)
			row[3] = string(other.GTIN)
		}
		cw.Write(row)
	}
	// ...and some listings today's has dropped.
	cw.Write([]string{"GONE-1", "shop-9", "gone", string(items[prefix+"000-1"].key.GTIN), "", "", ""})
	cw.Write([]string{"GONE-2", "shop-9", "gone", "", string(items["U-"+pad2(en)+"-000"].key.USCC), items["U-"+pad2(en)+"-000"].key.Brand, ""})
	cw.Flush()
	idx := openIndex(t, old.Bytes())
	head, err := e.api.Changes.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SaveCursor(ctx, head); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, e, idx)
	if err := w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}

	sum, err := idx.Sync(ctx, audit.ReadCSV(bytes.NewReader(csvText), nil))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := idx.Len(ctx); n != len(items) {
		t.Fatalf("after the sync the index holds %d listings, want %d", n, len(items))
	}
	if sum.Removed != 2 || sum.Updated != 1 || sum.Added == 0 {
		t.Errorf("sync summary %+v, want 2 removed, 1 updated, some added", sum)
	}

	r := startRun(t, e, idx)
	if _, err := e.srv.Revoke(c.ID); err != nil {
		t.Fatal(err)
	}
	_, got := r.next()
	want := revocationTouches(items, en, c)
	if !slices.Contains(want, prefix+"010-1") {
		t.Fatalf("the revocation touches none of the keys new today: the test proves nothing (%q)", want)
	}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Fatalf("listings found for the revocation of %s (-rules +watcher):\n%s", c.ID, diff)
	}
}

func pad2(n int) string {
	s := itoa(n)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}
