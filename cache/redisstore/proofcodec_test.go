package redisstore

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"runtime"
	"strings"
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
	e, _ := provenEntryOf(b, 10_000, 200_000)
	return e
}

// provenEntryOf is a status with its log proof from a registry of the
// given size, and the registry's log keys.
func provenEntryOf(b testing.TB, enterprises, products int) (*cache.Entry, []client.LogKey) {
	b.Helper()
	sb, err := sandbox.New(sandbox.WithSize(enterprises, products), sandbox.WithRateLimit(0, 0))
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
	st, _, err := api.Products.ByGTIN(context.Background(), p.GTIN, nil)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	return &cache.Entry{Status: st, Maker: st.Enterprise.ID, Version: st.Version, AsOf: st.Version,
		Fetched: at, FreshUntil: at.Add(5 * time.Minute), Expires: at.Add(24 * time.Hour)}, sb.LogKeys()
}

// BenchmarkProvenValueCodec is BenchmarkValueCodec for a status with its
// log proof: what each write of a cold product to Redis costs, and each
// read of one back.
//
//	go test -run '^$' -bench BenchmarkProvenValueCodec -benchmem ./cache/redisstore/
func BenchmarkProvenValueCodec(b *testing.B) {
	r := &Store{prefix: "p:"}
	e := provenEntry(b)
	body, recs, err := r.encode(e)
	if err != nil {
		b.Fatal(err)
	}
	js, _, err := readBody(body)
	if err != nil {
		b.Fatal(err)
	}
	// The format before proofs were written raw: the same JSON with the
	// hashes in it, compressed as a whole ('z'). It is the baseline.
	var re redisEntry
	if err := json.Unmarshal(js, &re); err != nil {
		b.Fatal(err)
	}
	for i := range re.Status.Proof.Records {
		re.Status.Proof.Records[i].Proof = e.Status.Proof.Records[i].Proof
	}
	whole, err := json.Marshal(re)
	if err != nil {
		b.Fatal(err)
	}
	deflated := pack(whole)
	// A reader that holds the maker's and the commitment's records, as
	// every reader but the first of a process does.
	fetched := map[string]string{}
	for k, rec := range recs {
		if fetched[k], err = recordValue(rec); err != nil {
			b.Fatal(err)
		}
	}
	held, _, err := r.decode(header(e)+string(body), fetched)
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.KeepAlive(held) // the process holds its records weakly, through the entries
	// A maker's record, written once for all its products: plain now,
	// packed before.
	rec := e.Status.Enterprise
	recPlain, err := recordValue(rec)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		body []byte
		enc  func()
	}{
		{"proven", body, func() {
			if _, _, err := r.encode(e); err != nil {
				b.Fatal(err)
			}
		}},
		{"record-plain", []byte(recPlain), func() {
			if _, err := recordValue(rec); err != nil {
				b.Fatal(err)
			}
		}},
		{"record-deflate", pack([]byte(recPlain)), func() {
			js, err := json.Marshal(rec)
			if err != nil {
				b.Fatal(err)
			}
			pack(js)
		}},
		{"deflate", deflated, func() {
			js, err := json.Marshal(re)
			if err != nil {
				b.Fatal(err)
			}
			pack(js)
		}},
	} {
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.enc()
			}
			b.ReportMetric(float64(len(c.body)), "value-B")
		})
		if strings.HasPrefix(c.name, "record") {
			continue // a record is read with its entry
		}
		val := header(e) + string(c.body)
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, missing, err := r.decode(val, nil); err != nil || len(missing) > 0 {
					b.Fatal(err, missing)
				}
			}
		})
	}
}
