package client_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/qualitycommit/qcsdk/client"
)

// zeroHashes is a tree of any size whose stored hashes all read as zero:
// the shape of a proof — how many hashes it holds — depends on the tree's
// size and the leaf's place alone, not on what the hashes are, so a
// registry's proof sizes at sizes no test builds can be read from it.
type zeroHashes struct{}

func (zeroHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	return make([]tlog.Hash, len(idx)), nil
}

// BenchmarkProofSizeAtScale reports what the proofs of a status cost in
// an answer when the registry's log holds 1M and 10M changes: hashes per
// record's inclusion proof (the most, over leaves spread through the
// tree), the bytes they add to the JSON answer per record and per status
// of three records, and a consistency proof over the last 1,000 changes.
//
//	go test -run '^$' -bench BenchmarkProofSizeAtScale -benchtime 1x ./client/
func BenchmarkProofSizeAtScale(b *testing.B) {
	for _, n := range []int64{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			var most int
			for b.Loop() {
				most = 0
				for i := int64(0); i < n; i += n / 97 {
					p, err := tlog.ProveRecord(n, i, zeroHashes{})
					if err != nil {
						b.Fatal(err)
					}
					most = max(most, len(p))
				}
			}
			rec := client.RecordProof{Kind: "inspection", ID: "ins_00000001", Seq: n}
			for range most {
				rec.Proof = append(rec.Proof, client.LogHash{})
			}
			withProof, _ := json.Marshal(rec)
			rec.Proof = nil
			bare, _ := json.Marshal(rec)
			cons, err := tlog.ProveTree(n, n-1000, zeroHashes{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(most), "hashes/record")
			b.ReportMetric(float64(len(withProof)-len(bare)), "inclusion-B/record")
			b.ReportMetric(float64(3*(len(withProof)-len(bare))), "inclusion-B/status")
			b.ReportMetric(float64(len(cons)*(base64.StdEncoding.EncodedLen(tlog.HashSize)+3)), "consistency-B")
		})
	}
}
