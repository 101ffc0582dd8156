package redisstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

// A status with its log proof is written with the proof's hashes raw
// ('p'): it reads back equal, its proof still verifies against the
// registry's keys, and no hash is kept as base64 text.
func TestAProvenValueRoundTripsAndStillVerifies(t *testing.T) {
	e, keys := provenEntryOf(t, 200, 2000)
	r := &Store{prefix: "p:"}
	body, recs, err := r.encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if body[0] != formatProven {
		t.Fatalf("format %q; want %q for a status with a proof", body[0], formatProven)
	}
	fetched := map[string]string{}
	for k, rec := range recs {
		if fetched[k], err = recordValue(rec); err != nil {
			t.Fatal(err)
		}
	}
	got, missing, err := r.decode(header(e)+string(body), fetched)
	if err != nil || len(missing) > 0 {
		t.Fatalf("decode: %v, missing %v", err, missing)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	if err := client.VerifyStatus(got.Status, keys, time.Now()); err != nil {
		t.Fatalf("the status read back does not verify: %v", err)
	}
	// Each distinct hash once, raw: the records of one status share the
	// upper part of their proofs.
	distinct := map[client.LogHash]bool{}
	for _, rp := range e.Status.Proof.Records {
		for _, h := range rp.Proof {
			distinct[h] = true
			if b64 := base64.StdEncoding.EncodeToString(h[:]); strings.Contains(string(body), b64) {
				t.Errorf("hash %s kept as text", b64)
			}
		}
	}
	if len(distinct) == 0 {
		t.Fatal("the sandbox's status has no proof hashes")
	}
	for h := range distinct {
		if n := bytes.Count(body, h[:]); n != 1 {
			t.Errorf("hash %x written %d times; want once", h[:4], n)
		}
	}
}

// A proven value out of shape is refused with an error, whatever is
// wrong with it: cut anywhere, with bytes after it, a hash that repeats
// one never written, a proof longer than any tree's, or hashes both in
// the JSON and after it.
func TestAProvenValueOutOfShapeIsRefused(t *testing.T) {
	e, _ := provenEntryOf(t, 200, 2000)
	r := &Store{prefix: "p:"}
	body, _, err := r.encode(e)
	if err != nil {
		t.Fatal(err)
	}
	hdr := header(e)
	decode := func(b []byte) error { _, _, err := r.decode(hdr+string(b), nil); return err }
	for n := 1; n < len(body); n++ {
		if err := decode(body[:n]); err == nil {
			t.Fatalf("the value cut to %d of %d bytes was read", n, len(body))
		}
	}
	if err := decode(append(bytes.Clone(body), 0)); err == nil {
		t.Error("a byte after the proofs was read")
	}
	js, proofs, err := readBody(body)
	if err != nil {
		t.Fatal(err)
	}
	withProofs := func(js, proofs []byte) []byte {
		b := binary.AppendUvarint([]byte{formatProven}, uint64(len(js)))
		return append(append(b, js...), proofs...)
	}
	// The first record's first hash made to repeat the 99th distinct one.
	n, k := binary.Uvarint(proofs)
	if n == 0 || proofs[k] != 0 {
		t.Fatalf("the first record's proof starts %x; want a count and a new hash", proofs[:k+1])
	}
	bad := append(binary.AppendUvarint(nil, n), 99)
	bad = append(bad, proofs[k+1+hashSize:]...)
	if err := decode(withProofs(js, bad)); err == nil {
		t.Error("a hash repeating one never written was read")
	}
	// Whole proofs of new hashes, the first of the given length.
	fresh := func(first int) []byte {
		var b []byte
		for i, rp := range e.Status.Proof.Records {
			n := len(rp.Proof)
			if i == 0 {
				n = first
			}
			b = binary.AppendUvarint(b, uint64(n))
			for range n {
				b = append(append(b, 0), bytes.Repeat([]byte{byte(i)}, hashSize)...)
			}
		}
		return b
	}
	if err := decode(withProofs(js, fresh(maxProofHashes))); err != nil {
		t.Errorf("a proof of %d hashes, well formed, was refused: %v", maxProofHashes, err)
	}
	if err := decode(withProofs(js, fresh(maxProofHashes+1))); err == nil {
		t.Error("a proof longer than any tree's was read")
	}
	twice := bytes.Replace(js, []byte(`"proof":null`), []byte(`"proof":[]`), 1)
	if bytes.Equal(twice, js) {
		t.Fatalf("no record proof left out of the JSON: %s", js)
	}
	if err := decode(withProofs(twice, proofs)); err == nil {
		t.Error("proof hashes both in the JSON and after it were read")
	}
}

// A maker's or a commitment's record is written as plain JSON, and one
// written packed (format 'z', before records were written plain) still
// reads back the same.
func TestARecordReadsPlainOrPacked(t *testing.T) {
	e := sampleStatus()
	plain, err := recordValue(e.Status.Enterprise)
	if err != nil {
		t.Fatal(err)
	}
	if plain[0] != '{' {
		t.Fatalf("a record's value starts %q; want plain JSON", plain[:1])
	}
	for _, v := range []string{plain, string(pack([]byte(plain)))} {
		var got client.Enterprise
		if err := unmarshalRecord(v, &got); err != nil {
			t.Fatalf("%q: %v", v[:1], err)
		}
		if d := cmp.Diff(e.Status.Enterprise, &got); d != "" {
			t.Errorf("record read back from %q (-want +got):\n%s", v[:1], d)
		}
	}
}
