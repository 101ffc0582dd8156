package client_test

import (
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
			st, _, err := c.Products.ByGTIN(ctx, gtin, nil)
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
