package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

func ExampleParseGTIN() {
	// An EAN-13 as printed under a barcode, with the space a copy from a
	// spreadsheet brings along.
	gtin, err := client.ParseGTIN("6901234567892 ")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(gtin)

	// The same number with the last digit mistyped.
	_, err = client.ParseGTIN("6901234567893")
	fmt.Println(err)
	var idErr *client.IDError
	if errors.As(err, &idErr) {
		fmt.Println(idErr.Reason, errors.Is(err, client.ErrInvalidID))
	}
	// Output:
	// 06901234567892
	// qcsdk: invalid gtin "6901234567893": check digit is 3, want 2
	// check_digit true
}

func ExampleGTIN_UnmarshalText() {
	// A barcode field in a platform's own JSON: decoding validates it and
	// keeps the 14-digit form, so the struct never holds a typo.
	var listing struct {
		GTIN client.GTIN `json:"gtin"`
	}
	if err := json.Unmarshal([]byte(`{"gtin":"6901234567892"}`), &listing); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(listing.GTIN)

	err := json.Unmarshal([]byte(`{"gtin":"6901234567893"}`), &listing)
	var idErr *client.IDError
	fmt.Println(errors.As(err, &idErr), idErr.Reason)
	// Output:
	// 06901234567892
	// true check_digit
}

func ExampleParseUSCC() {
	uscc, err := client.ParseUSCC("91350100m000100y43")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(uscc)

	// The letter O is not in the GB 32100 set: it reads too much like 0.
	_, err = client.ParseUSCC("91350100M0O0100Y43")
	fmt.Println(err)
	// Output:
	// 91350100M000100Y43
	// qcsdk: invalid uscc "91350100M0O0100Y43": character 'O' at position 10 is not allowed
}

func ExampleDecide() {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	st := &client.ProductStatus{
		Listed: true,
		Commitment: &client.Commitment{
			ID:          "cmt_8f2k",
			Status:      client.CommitmentActive,
			EffectiveAt: time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC),
			ExpiresAt:   time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC),
		},
		// A failure, then a pass after rectification.
		Inspections: []client.Inspection{
			{ID: "ins_2", Result: client.InspectionPass, PublishedAt: time.Date(2025, 4, 20, 0, 0, 0, 0, time.UTC)},
			{ID: "ins_1", Result: client.InspectionFail, PublishedAt: time.Date(2024, 11, 2, 0, 0, 0, 0, time.UTC)},
		},
	}

	d := client.Decide(st, now, client.DefaultLookback)
	fmt.Println(d.Verdict, d.Since.Format(time.DateOnly), d.Inspection.ID)

	// Then the regulator publishes a new failure.
	st.Inspections = append(st.Inspections, client.Inspection{
		ID: "ins_3", Result: client.InspectionFail, PublishedAt: time.Date(2025, 5, 28, 0, 0, 0, 0, time.UTC),
	})
	d = client.Decide(st, now, client.DefaultLookback)
	fmt.Println(d.Verdict, d.Since.Format(time.DateOnly), d.Inspection.ID)

	// And suspends the commitment.
	st.Commitment.Status = client.CommitmentSuspended
	st.Commitment.StatusChangedAt = time.Date(2025, 5, 30, 0, 0, 0, 0, time.UTC)
	d = client.Decide(st, now, client.DefaultLookback)
	fmt.Println(d.Verdict, d.Status, d.Since.Format(time.DateOnly))

	// No answer at all is never taken for "not listed".
	fmt.Println(client.Decide(nil, now, 0).Verdict)
	// Output:
	// committed 2025-04-20 ins_2
	// inspection_failed 2025-05-28 ins_3
	// withdrawn suspended 2025-05-30
	// unknown
}
