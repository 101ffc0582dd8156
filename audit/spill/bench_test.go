package spill_test

import (
	"fmt"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/spill"
	"github.com/qualitycommit/qcsdk/client"
)

// BenchmarkStore times the store's three operations over 200,000 answers:
// a Put, a Get that finds its answer, and a Get that finds none.
//
//	go test -run '^$' -bench Store ./audit/spill/
func BenchmarkStore(b *testing.B) {
	const n = 200_000
	store, err := spill.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key := func(i int) client.ProductKey {
		return client.ProductKey{GTIN: client.GTIN(fmt.Sprintf("0691%010d", i))}
	}
	answer := func(i int) audit.Answer {
		return audit.Answer{Key: key(i), Verdict: client.VerdictWithdrawn, Code: audit.CodeRevoked,
			Reason:       "the commitment was revoked on 2026-02-20: a reason of some length, as the registry gives",
			CommitmentID: "cmt_0000004_1", EnterpriseID: "ent_0000004", VerifyURL: "https://verify.qualitycommit.example/commitments/cmt_0000004_1"}
	}
	for i := range n {
		if err := store.Put(answer(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("put", func(b *testing.B) {
		for i := range b.N {
			if err := store.Put(answer(n + i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-hit", func(b *testing.B) {
		for i := range b.N {
			if _, ok, err := store.Get(key((i * 7919) % n)); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("get-miss", func(b *testing.B) {
		for i := range b.N {
			if _, ok, err := store.Get(key(10*n + i)); err != nil || ok {
				b.Fatal(ok, err)
			}
		}
	})
}
