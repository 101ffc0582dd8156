package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/watch"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func Example() {
	ctx := context.Background()
	t0 := time.Now()
	srv, err := sandbox.New(sandbox.WithReferenceTime(refTime),
		sandbox.WithClock(func() time.Time { return refTime.Add(time.Since(t0)) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	base, stop, err := srv.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	api, err := client.New(client.WithBaseURL(base))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.CloseIdleConnections()

	// A catalogue: one product listed by GTIN and by its maker's USCC,
	// brand and model, and another product.
	d, other := srv.Demo()[0], srv.Demo()[1]
	catalogue := "listing_id,seller,title,gtin,uscc,brand,model\n" +
		"A-1,shop-1,kettle," + string(d.GTIN) + ",,,\n" +
		"A-2,shop-2,kettle,," + string(d.USCC) + "," + d.Brand + "," + d.Model + "\n" +
		"A-3,shop-3,soap," + string(other.GTIN) + ",,,\n"

	dir, err := os.MkdirTemp("", "watch-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	idx, err := watch.OpenIndex(filepath.Join(dir, "catalogue.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idx.Close()
	if _, err := idx.Load(ctx, audit.ReadCSV(strings.NewReader(catalogue), nil)); err != nil {
		fmt.Println(err)
		return
	}

	var findings []audit.Finding
	w, err := watch.New(api, idx,
		watch.WithOnFinding(func(f audit.Finding) { findings = append(findings, f) }),
		watch.WithClock(now))
	if err != nil {
		fmt.Println(err)
		return
	}
	head, err := api.Changes.Head(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Recheck(ctx); err != nil { // learn which maker each key belongs to
		fmt.Println(err)
		return
	}
	fmt.Println("listings checked:", len(findings))

	// The regulator revokes the commitment covering the first product.
	st, _, err := api.Products.ByGTIN(ctx, d.GTIN, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		fmt.Println(err)
		return
	}
	page, _, err := api.Changes.List(ctx, &client.ChangesOptions{After: head})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range page.Data {
		findings = nil
		if err := w.Handle(ctx, ev); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Type)
		for _, f := range findings {
			fmt.Println(" ", f.Listing.ID, f.Verdict)
		}
	}
	// Output:
	// listings checked: 3
	// commitment.revoked
	//   A-2 withdrawn
	//   A-1 withdrawn
}
