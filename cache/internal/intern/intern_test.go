package intern

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"unsafe"
	"weak"

	"github.com/qualitycommit/qcsdk/client"
)

func TestInternSharesOneCopyPerIDAndVersion(t *testing.T) {
	var in Interner[client.Enterprise]
	a := &client.Enterprise{ID: "ent_1", Version: 3}
	b := &client.Enterprise{ID: "ent_1", Version: 3}
	newer := &client.Enterprise{ID: "ent_1", Version: 4}
	if got := in.Intern(a.ID, a.Version, a); got != a {
		t.Fatal("the first copy is not the one held")
	}
	if got := in.Intern(b.ID, b.Version, b); got != a {
		t.Fatal("a second copy of the same version was not replaced by the first")
	}
	if got := in.Intern(newer.ID, newer.Version, newer); got != newer {
		t.Fatal("a newer version was replaced by an older copy")
	}
	if got := in.Intern("", 3, b); got != b {
		t.Fatal("a record without an id was interned")
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(newer)
}

func TestInternLetsUnusedRecordsGo(t *testing.T) {
	var in Interner[client.Enterprise]
	for i := range 1000 {
		in.Intern("ent_"+string(rune('a'+i%26)), int64(i), &client.Enterprise{ID: "x", Version: int64(i)})
	}
	// Cleanups run on their own goroutine after a collection; give the
	// collector a bounded number of rounds to get to all of them.
	for i := 0; i < 200 && in.Len() > 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := in.Len(); n != 0 {
		t.Fatalf("%d slots still held for Records nothing uses", n)
	}
}

func proofStatus(id, checkpoint string, hashes ...string) *client.ProductStatus {
	return &client.ProductStatus{
		Enterprise: &client.Enterprise{ID: id, Version: 7},
		Proof: &client.StatusProof{Checkpoint: checkpoint, Records: []client.RecordProof{
			{Kind: string([]byte("enterprise")), ID: string([]byte(id)), Seq: 7, Proof: hashesOf(hashes...)}}},
	}
}

// hashesOf makes a proof of hashes named by strings, each the hash of
// its name.
func hashesOf(names ...string) []client.LogHash {
	out := make([]client.LogHash, len(names))
	for i, n := range names {
		out[i] = sha256.Sum256([]byte(n))
	}
	return out
}

// Statuses carrying one record's proof against one checkpoint share one
// copy of it, and of its kind and id; a proof against another checkpoint,
// or one that differs (of another length too), is kept apart.
func TestProofsShareOneCopyPerRecordAndTree(t *testing.T) {
	var r Records
	a := proofStatus("ent_1", "cp 10", "h1", "h2", "h3")
	b := proofStatus("ent_1", "cp 10", "h1", "h2", "h3")
	r.Status(a)
	r.Status(b)
	pa, pb := a.Proof.Records[0], b.Proof.Records[0]
	if &pa.Proof[0] != &pb.Proof[0] {
		t.Error("two equal proofs against one checkpoint are two copies")
	}
	if a.Proof != b.Proof {
		t.Error("two statuses of the same records against one checkpoint hold two status proofs")
	}
	withInspection := proofStatus("ent_1", "cp 10", "h1", "h2", "h3")
	withInspection.Inspections = []client.Inspection{{ID: "ins_1", Version: 8}}
	withInspection.Proof.Records = append(withInspection.Proof.Records, client.RecordProof{Kind: "inspection", ID: "ins_1", Seq: 8, Proof: hashesOf("i1")})
	r.Status(withInspection)
	if withInspection.Proof == a.Proof || len(withInspection.Proof.Records) != 2 {
		t.Errorf("a status with one more record shares the proof of one without: %+v", withInspection.Proof)
	}
	if unsafe.StringData(pb.Kind) != unsafe.StringData("enterprise") || unsafe.StringData(pb.ID) != unsafe.StringData(b.Enterprise.ID) {
		t.Error("the proof's kind or id is a copy of its own")
	}
	for _, other := range []*client.ProductStatus{
		proofStatus("ent_1", "cp 11", "h1", "h2", "h3"),       // another tree
		proofStatus("ent_1", "cp 10", "h1", "h2", "forged"),   // another content
		proofStatus("ent_1", "cp 10", "h1", "h2", "h3", "h4"), // longer than the one held
		proofStatus("ent_1", "cp 10", "h1"),                   // shorter
	} {
		want := slices.Clone(other.Proof.Records[0].Proof)
		r.Status(other)
		got := other.Proof.Records[0].Proof
		if &got[0] == &pa.Proof[0] || !slices.Equal(got, want) || other.Proof == a.Proof {
			t.Errorf("proof %v against %q: shared with the held one, or changed to %v", want, other.Proof.Checkpoint, got)
		}
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

func TestProofsLetUnusedProofsGo(t *testing.T) {
	var r Records
	for i := range 1000 {
		r.Status(proofStatus(fmt.Sprintf("ent_%d", i), "cp", "h1", "h2"))
	}
	for i := 0; i < 200 && r.Proofs.Len() > 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := r.Proofs.Len(); n != 0 {
		t.Fatalf("%d proofs still held that no status uses", n)
	}
}

// A holder of Records that keeps statuses whose records and proofs it
// interned — as a cache does — is collected once nothing refers to it:
// the interners' cleanups must not hold it, or every closed cache would
// live for ever with all it held.
func TestRecordsDoNotKeepTheirHolderAlive(t *testing.T) {
	type holder struct {
		records  Records
		statuses []*client.ProductStatus
	}
	w := func() weak.Pointer[holder] {
		h := &holder{}
		for i := range 10 {
			hash := client.LogHash(sha256.Sum256([]byte{byte(i)}))
			st := &client.ProductStatus{
				Enterprise: &client.Enterprise{ID: fmt.Sprint("ent_", i), Version: 1},
				Commitment: &client.Commitment{ID: fmt.Sprint("cmt_", i), Version: 1},
				Proof: &client.StatusProof{Checkpoint: "cp", Records: []client.RecordProof{
					{Kind: "enterprise", ID: fmt.Sprint("ent_", i), Seq: 1, Proof: []client.LogHash{hash}},
					{Kind: "commitment", ID: fmt.Sprint("cmt_", i), Seq: 2, Proof: []client.LogHash{hash, hash}},
				}},
			}
			h.records.Status(st)
			h.records.Proof(st)
			h.statuses = append(h.statuses, st)
		}
		if h.records.Proofs.Len() == 0 {
			t.Fatal("no proof interned")
		}
		return weak.Make(h)
	}()
	for range 3 {
		runtime.GC()
	}
	if w.Value() != nil {
		t.Fatal("a holder of Records nothing refers to is still reachable")
	}
}
