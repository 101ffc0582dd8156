package audit_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func Example() {
	srv, err := sandbox.New(sandbox.WithReferenceTime(refTime))
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

	var demo = srv.Demo()
	catalogue := "listing_id,seller,title,gtin\n" +
		"A-1,shop-1,kettle," + string(demo[0].GTIN) + "\n" + // committed: no finding
		"A-2,shop-2,=cmd|' /C calc'!A0," + string(demo[3].GTIN) + "\n" + // suspended, and a hostile title
		"A-3,shop-3,mug,6901234567893\n" + // a mistyped barcode
		"A-4,shop-4,cup," + string(srv.NotListedGTIN()) + "\n"

	sum, err := audit.Run(context.Background(), api, audit.ReadCSV(strings.NewReader(catalogue), nil),
		audit.NewCSVWriter(os.Stdout, false), &audit.Options{
			Clock:      now,
			OnRowError: func(re *audit.RowError) { fmt.Println("skipped:", re) },
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d listings, %d findings, %d malformed, %d call(s)\n", sum.Listings, sum.Findings, sum.Malformed, sum.Calls)
	// Output:
	// skipped: audit: line 4: qcsdk: invalid gtin "6901234567893": check digit is 3, want 2
	// "line","listing_id","seller","title","gtin","uscc","brand","model","verdict","reason","commitment_id","inspection_id","enterprise_id","verify_url","code","finding_id","status"
	// "3","A-2","shop-2","'=cmd|' /C calc'!A0","06910003100000","","","","withdrawn","the commitment was suspended on 2026-02-20: Suspended while failures found in sampling are rectified","cmt_0000004_1","","ent_0000004","https://verify.qualitycommit.example/commitments/cmt_0000004_1","suspended","31b9b3bcefc7b41d",""
	// "5","A-4","shop-4","cup","06900000000014","","","","not_listed","the maker is not on the quality-commitment list","","","","","maker_not_listed","f776783bb081441f",""
	// 3 listings, 2 findings, 1 malformed, 1 call(s)
}
