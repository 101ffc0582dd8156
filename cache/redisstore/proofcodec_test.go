package redisstore

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// provenEntry is a registry's status with its log proof, as a cache
// keeps it: a registry of 200,000 products, so the proofs are as deep as
// a middling registry's.
func provenEntry(b *testing.B) *cache.Entry {
	b.Helper()
	sb, err := sandbox.New(sandbox.WithSize(10_000, 200_000), sandbox.WithRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Close() })
	hs := httptest.NewServer(sb)
	b.Cleanup(hs.Close)
	api, err := client.New(client.WithBaseURL(hs.URL), client.WithLogKeys(sb.LogKeys()...))
	if err != nil {
		b.Fatal(err)
	}
	p, _ := sb.Product(20, 3)
	st, _, err := api.Products.ByGTIN(context.Background(), string(p.GTIN), nil)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	return &cache.Entry{Status: st, Maker: st.Enterprise.ID, Version: st.Version, AsOf: st.Version,
		Fetched: at, FreshUntil: at.Add(5 * time.Minute), Expires: at.Add(24 * time.Hour)}
}

// BenchmarkProvenValueCodec is BenchmarkValueCodec for a status with its
// log proof: what each write of a cold product to Redis costs, and each
// read of one back.
//
//	go test -run '^$' -bench BenchmarkProvenValueCodec -benchmem ./cache/redisstore/
func BenchmarkProvenValueCodec(b *testing.B) {
	r := &Store{prefix: "p:"}
	e := provenEntry(b)
	body, _, err := r.encode(e)
	if err != nil {
		b.Fatal(err)
	}
	js, err := unpack(body)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := r.encode(e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(js)), "json-B")
		b.ReportMetric(float64(len(body)), "packed-B")
	})
	b.Run("unpack", func(b *testing.B) {
		for b.Loop() {
			if _, err := unpack(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
