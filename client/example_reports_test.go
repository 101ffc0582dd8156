package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A rights holder's clues, filed in one call: each is filed or fails on
// its own, and each filed one is followed by its token.
func ExampleReportsService_CreateBatch() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()), client.WithAPIKey("platform-key"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	clue := func(key, evidence string) client.ClueParams {
		return client.ClueParams{
			IdempotencyKey: key, Product: client.ProductKey{GTIN: "6910002100001"}, Kind: client.ReportCounterfeit,
			ListingIDs: []string{"item-" + key}, EvidenceURLs: []string{evidence}, Description: "仿冒注册商标",
		}
	}
	results, _, err := api.Reports.CreateBatch(ctx, client.ClueBatch{
		RightsHolder: "童悦品牌管理有限公司", Platform: "Qingxuan Market",
		Clues: []client.ClueParams{
			clue("case-0117", "https://evidence.example.com/0117.pdf"),
			clue("case-0118", "http://evidence.example.com/0118.pdf"), // not https
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		if err := r.Err(); err != nil {
			var apiErr *client.APIError
			errors.As(err, &apiErr)
			fmt.Println(r.Index, r.Status, apiErr.Code, apiErr.Fields[0].Field)
			continue
		}
		fmt.Println(r.Index, r.Status, r.Report.ReporterKind, r.Report.AccessToken) // the token prints redacted
	}

	// The registry moves the first on; whoever holds its token reads it.
	filed := results[0].Report
	if _, err := sb.AdvanceReport(filed.ID, sandbox.ReportAdvance{}); err != nil {
		panic(err)
	}
	rep, _, err := api.Reports.Get(ctx, filed.ID, filed.AccessToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range rep.Steps {
		fmt.Print(st.Status, " ")
	}
	fmt.Println()
	// Output:
	// 0 created rights_holder [redacted]
	// 1 failed invalid_body /evidence_urls/0
	// received forwarded
}
