package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The examples run against the sandbox's demo set, dated from a fixed day
// so that their output never changes.
var exampleDay = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func ExampleProductsService_ByGTIN() {
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
	now := exampleDay.Add(12 * time.Hour)

	// The EAN-13 as scanned from the box; the answer names it in 14 digits.
	st, resp, err := api.Products.ByGTIN(ctx, "6910002100001", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := client.Decide(st, now, 0)
	fmt.Println(st.Key.GTIN, st.Product.Brand, st.Commitment.Status, d.Verdict)

	// Asked again with the ETag: nothing changed, so no body comes back.
	st, resp, err = api.Products.ByGTIN(ctx, "6910002100001", &client.GetOptions{ETag: resp.ETag})
	fmt.Println(st == nil, resp.NotModified, err)

	// A mistyped barcode never reaches the API.
	_, _, err = api.Products.ByGTIN(ctx, "6910002100002", nil)
	fmt.Println(err)
	// Output:
	// 06910002100001 童悦 active inspection_failed
	// true true <nil>
	// qcsdk: invalid gtin "6910002100002": check digit is 2, want 1
}

func ExampleEnterprisesService_All() {
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

	// Pages are fetched as the loop reaches them; breaking early would
	// fetch no more.
	n := 0
	opts := &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 20}}
	for e, err := range api.Enterprises.All(context.Background(), opts) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if n < 3 {
			fmt.Println(e.ID, e.Name.In("en"))
		}
		n++
	}
	fmt.Println(n, "enterprises")
	// Output:
	// ent_0000001 Hangzhou Qingyuan Electric Appliance Co., Ltd.
	// ent_0000002 Shenzhen Jienuo Daily Chemical Co., Ltd.
	// ent_0000003 Wenzhou Tongyue Garment Co., Ltd.
	// 50 enterprises
}

func ExampleProductsService_Batch() {
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
	now := exampleDay.Add(12 * time.Hour)

	// A listing page's products, as the platform names them: by GTIN, or
	// by maker and model; one twice, one mistyped.
	keys := []client.ProductKey{
		{GTIN: "06910000100003"},
		{USCC: "91320500MAKA2ETT88", Brand: "贝恩", Model: "BE-1000"},
		{GTIN: "6910000100003"},
		{GTIN: "6900000000014"},
		{GTIN: "6900000000015"},
	}
	items, _, err := api.Products.Batch(context.Background(), keys)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, it := range items {
		if it.Err != nil {
			fmt.Println(i, it.Err)
			continue
		}
		fmt.Println(i, client.Decide(it.Status, now, 0).Verdict)
	}
	// Output:
	// 0 committed
	// 1 withdrawn
	// 2 committed
	// 3 not_listed
	// 4 qcsdk: invalid product key: invalid gtin "6900000000015": check digit is 5, want 4
}

func ExampleWithPriority() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()

	// At most 1 call a second, in bursts of 2. The clock stands still, so
	// no token comes back during the example.
	// The log's keys are pinned: the client has no call to spend on them.
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()),
		client.WithUpstreamLimit(1, 2), client.WithClock(func() time.Time { return exampleDay }),
		client.WithLogKeys(sb.LogKeys()...))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// A badge endpoint's cold lookup: the public can cause it, so it is
	// low priority, and may not spend the last half of the burst.
	cold := client.WithPriority(ctx, client.PriorityLow)

	_, _, err = api.Products.ByGTIN(cold, "6910002100001", nil)
	fmt.Println("first cold lookup:", err)
	_, _, err = api.Products.ByGTIN(cold, "6910002100001", nil)
	var rl *client.RateLimitError
	fmt.Println("second cold lookup refused:", errors.Is(err, client.ErrRateLimited), errors.As(err, &rl) && rl.Throttled)
	// The platform's own page still gets the reserve.
	_, _, err = api.Products.ByGTIN(ctx, "6910002100001", nil)
	fmt.Println("product page:", err)
	fmt.Printf("%+v\n", api.Stats())
	// Output:
	// first cold lookup: <nil>
	// second cold lookup refused: true true
	// product page: <nil>
	// {Paused:0 ThrottledHigh:0 ThrottledLow:1 Pauses:0 PausedUntil:0001-01-01 00:00:00 +0000 UTC PauseStatus:0 LogFailures:{Signature:0 Malformed:0 Proof:0 Fork:0 Backwards:0}}
}
