package widget

import (
	"bytes"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// A badge that shows a verdict carries what a third party needs to check
// it against the registry's log, when the status it was rendered from
// carried a proof (every status of a listed product the registry answers
// does, and a cache serves none read back from a shared store without
// one; see cache's doc, "The registry's log"):
//
//   - the .json badge: the signed checkpoint, and for each record the
//     status is made of its kind, id, position (seq; its leaf is seq-1),
//     the SHA-256 of its canonical JSON (the digest its leaf holds), its
//     inclusion proof, and the record itself as the registry gave it; with
//     the instant the verdict was decided and the look-back it was decided
//     with, so that a verifier recomputes every digest, checks every leaf
//     against the checkpoint, and recomputes the verdict with
//     client.Decide (cmd/qcverify does);
//   - the JSON-LD: the checkpoint and, for each record, its kind, id,
//     position, leaf index and digest, without the records or the
//     inclusion proofs (a verifier fetches those from the registry's log),
//     under the one property "qcsdk:proof".
//
// The proof is rendered with the badge, once per product version,
// decision and look, as the rest of it is.

// jsonProof is the .json badge's "proof".
type jsonProof struct {
	Checkpoint string `json:"checkpoint"`
	// DecidedAt is the instant the verdict was decided at (RFC 3339);
	// client.Decide of the records at that instant, with LookbackSeconds,
	// gives the badge's verdict, status and date.
	DecidedAt       string       `json:"decided_at"`
	LookbackSeconds int64        `json:"lookback_seconds"`
	Records         []jsonRecord `json:"records"`
}

type jsonRecord struct {
	Kind      string           `json:"kind"`
	ID        string           `json:"id"`
	Seq       int64            `json:"seq"`
	LeafIndex int64            `json:"leaf_index"`
	SHA256    string           `json:"sha256"`
	Inclusion []client.LogHash `json:"inclusion"`
	// Record is the record as the registry gave it: a *client.Enterprise,
	// *client.Commitment or *client.Inspection, encoded with the badge.
	Record any `json:"record"`
}

// ldProof is the JSON-LD's "qcsdk:proof".
type ldProof struct {
	Checkpoint string     `json:"checkpoint"`
	Records    []ldRecord `json:"records"`
}

type ldRecord struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	Seq       int64  `json:"seq"`
	LeafIndex int64  `json:"leafIndex"`
	SHA256    string `json:"sha256"`
}

// proofRecord is one record of a status with its place in the log.
type proofRecord struct {
	kind, id, digest string
	seq              int64
	inclusion        []client.LogHash
	rec              any
}

// proofRecords lists st's records with their proofs, in the order the
// proof names them (enterprise, commitment, inspections), and computes
// each record's digest as its leaf holds it. It returns nil when st has
// no proof, or one that does not match its records: a badge then
// carries no proof rather than one that cannot verify.
func proofRecords(st *client.ProductStatus) []proofRecord {
	if st == nil || st.Proof == nil || st.Proof.Checkpoint == "" {
		return nil
	}
	var recs []proofRecord
	add := func(kind, id string, seq int64, ev client.Event, rec any) {
		recs = append(recs, proofRecord{kind: kind, id: id, seq: seq, rec: rec})
		ev.Seq = seq
		leaf, err := client.LogLeaf(ev)
		if err != nil {
			return
		}
		if _, after, ok := bytes.Cut(leaf, []byte("\nsha256 ")); ok {
			recs[len(recs)-1].digest = string(bytes.TrimSuffix(after, []byte("\n")))
		}
	}
	if e := st.Enterprise; e != nil {
		add("enterprise", e.ID, e.Version, client.Event{Enterprise: e}, e)
	}
	if c := st.Commitment; c != nil {
		add("commitment", c.ID, c.Version, client.Event{Commitment: c}, c)
	}
	for i := range st.Inspections {
		in := &st.Inspections[i]
		add("inspection", in.ID, in.Version, client.Event{Inspection: in}, in)
	}
	if len(recs) != len(st.Proof.Records) {
		return nil
	}
	for i := range recs {
		p := &st.Proof.Records[i]
		if p.Kind != recs[i].kind || p.ID != recs[i].id || p.Seq != recs[i].seq || recs[i].digest == "" {
			return nil
		}
		recs[i].inclusion = p.Proof
	}
	return recs
}

// decidedAt is the instant v's decision was made, zero when it is not
// known (a verdict not kept in a product's renderings).
func decidedAt(v *verdict) time.Time {
	if v.slots == nil {
		return time.Time{}
	}
	if p := v.slots.decided.Load(); p != nil && &p.d == v.d {
		return p.from
	}
	return time.Time{}
}

// badgeProof is the .json badge's proof of v, nil when it has none.
func (w *Widget) badgeProof(v *verdict) *jsonProof {
	at := decidedAt(v)
	if at.IsZero() {
		return nil
	}
	recs := proofRecords(v.st)
	if recs == nil {
		return nil
	}
	lookback := w.lookback
	if lookback <= 0 {
		lookback = client.DefaultLookback
	}
	p := &jsonProof{
		Checkpoint: v.st.Proof.Checkpoint, DecidedAt: at.UTC().Format(time.RFC3339Nano),
		LookbackSeconds: int64(lookback / time.Second), Records: make([]jsonRecord, len(recs)),
	}
	for i, r := range recs {
		p.Records[i] = jsonRecord{Kind: r.kind, ID: r.id, Seq: r.seq, LeafIndex: r.seq - 1, SHA256: r.digest,
			Inclusion: r.inclusion, Record: r.rec}
	}
	return p
}

// jsonLDProof is the JSON-LD's proof of st, nil when it has none.
func jsonLDProof(st *client.ProductStatus) *ldProof {
	recs := proofRecords(st)
	if recs == nil {
		return nil
	}
	p := &ldProof{Checkpoint: st.Proof.Checkpoint, Records: make([]ldRecord, len(recs))}
	for i, r := range recs {
		p.Records[i] = ldRecord{Kind: r.kind, ID: r.id, Seq: r.seq, LeafIndex: r.seq - 1, SHA256: r.digest}
	}
	return p
}
