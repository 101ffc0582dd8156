package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// benchTransport is the client's default transport, built the same way
// for both sides of the comparison: keep-alive, a pool large enough that
// parallel lookups reuse connections.
func benchTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// BenchmarkProductLookup compares one product lookup through the client
// (Products.ByGTIN: validation, retries, size limit, typed errors, rate
// and cache headers) with the bare minimum over the same loopback sandbox:
// net/http GET of the same URL with the same headers, decoded with
// encoding/json into the same model. The difference is the client's
// overhead.
//
//	go test -run '^$' -bench BenchmarkProductLookup -benchmem -count 6 ./client/
func BenchmarkProductLookup(b *testing.B) {
	const key = "bench-key"
	srv := sandbox.NewServer(b, sandbox.WithRateLimit(0, 0))
	gtin := string(srv.Demo()[0].GTIN)
	url := srv.URL + "/v1/products/" + gtin

	bare := &http.Client{Transport: benchTransport()}
	b.Cleanup(bare.CloseIdleConnections)
	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(key),
		client.WithHTTPClient(&http.Client{Transport: benchTransport()}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)

	lookups := []struct {
		name   string
		lookup func(ctx context.Context) error
	}{
		{"bare", func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := bare.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			var st client.ProductStatus
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return err
			}
			if !st.Listed {
				return fmt.Errorf("%s not listed", gtin)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}},
		{"client", func(ctx context.Context) error {
			st, _, err := c.Products.ByGTIN(ctx, client.GTIN(gtin), nil)
			if err != nil {
				return err
			}
			if !st.Listed {
				return fmt.Errorf("%s not listed", gtin)
			}
			return nil
		}},
	}
	ctx := context.Background()
	for _, l := range lookups {
		b.Run(l.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := l.lookup(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(l.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.lookup(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVerify measures what verifying a status costs the client:
// "checkpoint" is a checkpoint's signature (once per checkpoint, then
// cached), "status" a typical status's records (a listed product's
// enterprise, commitment and inspections: each leaf from the record's
// canonical JSON, and its inclusion proof), and "offline" both, as
// VerifyStatus does. The proof's size is reported beside: the bytes it
// adds to one status's answer, and to a batch answer of 60 statuses of a
// listing page (twelve products each of five makers). Default size; the
// "200k" runs are qcload's set, a deeper tree. "page" is the records of
// the 60 statuses of a listing page's batch answer, each shared record (a
// maker's) verified once, as the client verifies an answer.
//
//	go test -run '^$' -bench BenchmarkVerify -benchmem -benchtime 2000x -count 3 ./client/
func BenchmarkVerify(b *testing.B) {
	for _, size := range []struct {
		name                  string
		enterprises, products int
	}{
		{"default", sandbox.DefaultEnterprises, sandbox.DefaultProducts},
		{"200k", 10000, 200000},
	} {
		srv := sandbox.NewServer(b, sandbox.WithRateLimit(0, 0), sandbox.WithSize(size.enterprises, size.products))
		keys := srv.LogKeys()
		c, err := client.New(client.WithBaseURL(srv.URL), client.WithLogKeys(keys...),
			client.WithHTTPClient(&http.Client{Transport: benchTransport()}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.CloseIdleConnections)
		ctx := context.Background()
		var st *client.ProductStatus
		for _, d := range srv.Demo() {
			if d.Verdict == client.VerdictCommitted {
				if st, _, err = c.Products.ByGTIN(ctx, d.GTIN, nil); err != nil {
					b.Fatal(err)
				}
				break
			}
		}
		cp, err := client.VerifyCheckpoint([]byte(st.Proof.Checkpoint), "", keys, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		withProof, _ := json.Marshal(st)
		bare := *st
		bare.Proof = nil
		without, _ := json.Marshal(bare)

		var page []client.ProductKey
		for e := range 5 {
			for j := range 12 {
				p, _ := srv.Product(20+e, j)
				page = append(page, client.ProductKey{GTIN: p.GTIN})
			}
		}
		batchBytes := func(strip bool) int {
			body, _ := json.Marshal(client.BatchRequest{Keys: page})
			resp, err := http.Post(srv.URL+"/v1/products/batch", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var out client.BatchResponse
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
			if strip {
				out.Checkpoint, out.Consistency = "", nil
				for _, r := range out.Data {
					r.Status.Proof = nil
				}
			}
			re, _ := json.Marshal(out)
			return len(re)
		}
		batchWith, batchWithout := batchBytes(false), batchBytes(true)

		b.Run(size.name+"/checkpoint", func(b *testing.B) {
			for b.Loop() {
				if _, err := client.VerifyCheckpoint([]byte(st.Proof.Checkpoint), "", keys, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/status", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := client.VerifyRecords(st, cp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(st.Proof.Records)), "records")
			b.ReportMetric(float64(len(withProof)-len(without)), "proof-B/status")
			b.ReportMetric(float64(len(without)), "status-B")
			b.ReportMetric(float64(batchWith-batchWithout), "proof-B/batch60")
			b.ReportMetric(float64(batchWithout), "batch60-B")
		})
		// A listing page's statuses, as one batch answer brings them.
		items, _, err := c.Products.Batch(ctx, page)
		if err != nil {
			b.Fatal(err)
		}
		var pageStatuses []*client.ProductStatus
		for _, it := range items {
			if it.Err != nil {
				b.Fatal(it.Err)
			}
			pageStatuses = append(pageStatuses, it.Status)
		}
		pageCP, err := client.VerifyCheckpoint([]byte(pageStatuses[0].Proof.Checkpoint), "", keys, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(size.name+"/page", func(b *testing.B) {
			b.ReportAllocs()
			var leaves int
			for b.Loop() {
				if leaves, err = client.VerifyPage(pageStatuses, pageCP); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(pageStatuses)), "statuses")
			b.ReportMetric(float64(leaves), "leaves")
		})
		b.Run(size.name+"/offline", func(b *testing.B) {
			for b.Loop() {
				if err := client.VerifyStatus(st, keys, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
