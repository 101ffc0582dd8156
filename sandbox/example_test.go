package sandbox_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// status fetches a product's status from a sandbox URL.
func status(base string, g client.GTIN) (*client.ProductStatus, error) {
	resp, err := http.Get(base + "/v1/products/" + string(g))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st client.ProductStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// A sandbox is an http.Handler: serve it with httptest (or any server) and
// ask it what the regulator's API would answer. In a test, NewServer does
// both and closes the server when the test ends.
func Example() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	demo := sb.Demo()[0]
	st, err := status(srv.URL, demo.GTIN)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Key.GTIN, st.Listed)
	fmt.Println(client.Decide(st, sb.ReferenceTime().Add(12*time.Hour), client.DefaultLookback).Verdict)

	st, err = status(srv.URL, sb.NotListedGTIN())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Key.GTIN, st.Listed)
	// Output:
	// 06910000100003 true
	// committed
	// 06900000000014 false
}

// Revoke publishes a change as the regulator would: the next answer shows
// it, and so does the change feed.
func ExampleSandbox_Revoke() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	noon := sb.ReferenceTime().Add(12 * time.Hour)

	g := sb.Demo()[0].GTIN
	st, err := status(srv.URL, g)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("before:", client.Decide(st, noon, 0).Verdict)

	if _, err := sb.Revoke(st.Commitment.ID); err != nil {
		log.Fatal(err)
	}
	st, err = status(srv.URL, g)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after:", client.Decide(st, noon, 0).Verdict, st.Commitment.Status)
	// Output:
	// before: committed
	// after: withdrawn revoked
}

func ExampleParseFault() {
	f, err := sandbox.ParseFault("error=503@0.2 GET /v1/products/{gtin}")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Kind, f.Status, f.Probability, f.Route)
	fmt.Println(f)

	_, err = sandbox.ParseFault("meltdown@0.5")
	fmt.Println(err != nil)
	// Output:
	// error 503 0.2 GET /v1/products/{gtin}
	// error=503@0.2 GET /v1/products/{gtin}
	// true
}
