package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/client"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// sampleStatus is a status with every part a badge reads, hostile text
// included.
func sampleStatus() *cache.Entry {
	at := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	ent := &client.Enterprise{ID: "ent_0000006", USCC: "91370200MAR9FYNTAP",
		Name: client.Text{ZH: "青岛澜泉日化有限公司", EN: "Qingdao \u202eLanquan</script>"}, Version: 21,
		VerifyURL: "https://verify.qualitycommit.example/enterprises/ent_0000006"}
	cmt := &client.Commitment{ID: "cmt_0000006_1", EnterpriseID: ent.ID, Category: "washing_products",
		Status: client.CommitmentActive, Version: 22, VerifyURL: "https://verify.qualitycommit.example/commitments/cmt_0000006_1"}
	st := &client.ProductStatus{
		Key: client.ProductKey{GTIN: "06910005100039"}, Listed: true,
		Product:    &client.Product{Name: client.Text{ZH: "衣物柔顺剂", EN: "Fabric softener"}, Brand: "澜泉", Model: "LQ-1003", GTIN: "06910005100039", Category: "washing_products"},
		Enterprise: ent, Commitment: cmt,
		Inspections: []client.Inspection{{ID: "ins_1", EnterpriseID: ent.ID, Result: client.InspectionFail,
			FailedItems: []client.FailedItem{{Item: client.Text{ZH: strings.Repeat("项", 300)}}}, Version: 20}},
		Version: 22, UpdatedAt: at, VerifyURL: cmt.VerifyURL,
	}
	return &cache.Entry{Status: st, Maker: ent.ID, Version: 22, ETag: `"aac1844edb7db0da"`,
		Fetched: at, FreshUntil: at.Add(5 * time.Minute), Expires: at.Add(24 * time.Hour)}
}

// An entry laid out for Redis reads back as it was: records by reference
// (fetched when the process does not hold them), the verify URL restored,
// the maker derived, the times exact.
func TestRedisValueRoundTrips(t *testing.T) {
	r := &Store{prefix: "p:"}
	e := sampleStatus()
	body, recs, err := r.encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records; want the maker and the commitment", len(recs))
	}
	val := header(e) + string(body)
	got, missing, err := r.decode(val, nil)
	if err != nil || len(missing) != 2 {
		t.Fatalf("decode with no records held: %v, missing %v; want both missing", err, missing)
	}
	// What the header says is read all the same: a reader that lacks the
	// records still knows the entry's place in the registry's order.
	if got == nil || got.AsOf != e.AsOf || got.Version != e.Version {
		t.Errorf("decode with no records held = %+v; want the header's position %d and version %d", got, e.AsOf, e.Version)
	}
	fetched := map[string]string{}
	for k, rec := range recs {
		b, err := recordValue(rec)
		if err != nil {
			t.Fatal(err)
		}
		fetched[k] = b
	}
	if got, missing, err = r.decode(val, fetched); err != nil || len(missing) != 0 {
		t.Fatalf("decode: %v, missing %v", err, missing)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	// A second reader of the same process needs no record fetched.
	if _, missing, _ := r.decode(val, nil); len(missing) != 0 {
		t.Errorf("records fetched again although the process holds them: %v", missing)
	}
	if n := len(val); n > 600 {
		t.Errorf("the value is %d bytes; the status's own JSON should compress well below that", n)
	}
}

// Plain JSON (no format byte) still reads: values written before the
// compression, or by hand.
func TestRedisValueReadsPlainJSON(t *testing.T) {
	js := `{"c":"cursor-1","x":1796192860685989658}`
	b, err := unpack([]byte(js))
	if err != nil || string(b) != js {
		t.Fatalf("unpack(plain) = %q, %v", b, err)
	}
	if b, err := unpack(pack([]byte(js))); err != nil || string(b) != js {
		t.Fatalf("unpack(pack) = %q, %v", b, err)
	}
}

// BenchmarkValueCodec measures what the Redis store's compression costs:
// pack on each write (a miss), unpack on each read from Redis.
//
//	go test -run '^$' -bench BenchmarkValueCodec -benchmem ./cache/
func BenchmarkValueCodec(b *testing.B) {
	r := &Store{prefix: "p:"}
	body, _, err := r.encode(sampleStatus())
	if err != nil {
		b.Fatal(err)
	}
	js, err := unpack(body)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("pack", func(b *testing.B) {
		for b.Loop() {
			pack(js)
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

// The products of one maker written one after another, each expiring a
// little later than the one before, share the maker's records: Redis
// takes them once, not once per product (a cold listing used to write
// each record, and move its expiry, for every product that refers to it).
func TestRecordsAreWrittenOncePerListing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	r := must(New(rdb, WithPrefix("t:"), WithTimeout(timescale.Scale(5*time.Second))))
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()
	base := time.Now()
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const products = 20
	for i := range products {
		e := sampleStatus()
		now := base.Add(time.Duration(i) * 10 * time.Millisecond)
		e.AsOf, e.Fetched, e.FreshUntil, e.Expires = 22, now, now.Add(5*time.Minute), now.Add(24*time.Hour)
		if _, err := r.Set(ctx, "p"+strconv.Itoa(i), e); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := func(cmd string) int {
		for line := range strings.SplitSeq(stats, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	// Two records (the maker and its commitment), one SET and one
	// PEXPIREAT each.
	if n := calls("pexpireat"); n != 2 {
		t.Errorf("%d PEXPIREATs for %d products of one maker; want 2, one per record", n, products)
	}
	// The two records, the entries (by script) and the fleet's head,
	// moved once (by script).
	if n := calls("set"); n != 2+products+1 {
		t.Errorf("%d SETs (records, entries and the head) for %d products; want %d", n, products, 2+products+1)
	}
	// Every entry still reads back whole, its records found.
	for i := range products {
		if got, err := r.Get(ctx, "p"+strconv.Itoa(i)); err != nil || got == nil || got.Status.Enterprise == nil || got.Status.Commitment == nil {
			t.Fatalf("entry %d: %+v, %v", i, got, err)
		}
	}
}
