package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// Why a badge does not verify, the first word of its line.
const (
	causeNoProof   = "no proof"
	causeSignature = "signature"
	causeFork      = "fork"
	causeDigest    = "digest"
	causeInclusion = "inclusion"
	causeRecords   = "records"
	causeVerdict   = "verdict mismatch"
	causeRegistry  = "registry"
)

// A failure is a badge that does not verify, and why.
type failure struct {
	cause, detail string
}

func (f *failure) Error() string { return f.cause + ": " + f.detail }

func fail(cause, format string, args ...any) error {
	return &failure{cause: cause, detail: fmt.Sprintf(format, args...)}
}

// An inputError is a target that is no badge to check, or cannot be read:
// the command exits 2.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error { return &inputError{fmt.Sprintf(format, args...)} }

// chinaTime is the zone a badge's date is written in, as the widget
// writes it.
var chinaTime = time.FixedZone("CST", 8*3600)

// jsonBadge is what qcverify reads of a .json badge (widget's
// Handler, GET {prefix}badge/{gtin}.json).
type jsonBadge struct {
	GTIN      client.GTIN             `json:"gtin"`
	Verdict   *client.Verdict         `json:"verdict"`
	Status    client.CommitmentStatus `json:"status"`
	Since     string                  `json:"since"`
	VerifyURL string                  `json:"verify_url"`
	Proof     *struct {
		Checkpoint      string       `json:"checkpoint"`
		DecidedAt       time.Time    `json:"decided_at"`
		LookbackSeconds int64        `json:"lookback_seconds"`
		Records         []jsonRecord `json:"records"`
	} `json:"proof"`
}

type jsonRecord struct {
	Kind      string           `json:"kind"`
	ID        string           `json:"id"`
	Seq       int64            `json:"seq"`
	LeafIndex int64            `json:"leaf_index"`
	SHA256    string           `json:"sha256"`
	Inclusion []client.LogHash `json:"inclusion"`
	Record    json.RawMessage  `json:"record"`
}

// ldBadge is what qcverify reads of the widget's JSON-LD.
type ldBadge struct {
	Type          string `json:"@type"`
	GTIN          string `json:"gtin"`
	Certification *struct {
		Type           string `json:"@type"`
		Identification string `json:"certificationIdentification"`
	} `json:"hasCertification"`
	Proof *struct {
		Checkpoint string `json:"checkpoint"`
		Records    []struct {
			Kind      string `json:"kind"`
			ID        string `json:"id"`
			Seq       int64  `json:"seq"`
			LeafIndex int64  `json:"leafIndex"`
			SHA256    string `json:"sha256"`
		} `json:"records"`
	} `json:"qcsdk:proof"`
}

// isBadgeLD reports whether a JSON-LD document is a badge's: a Product
// with a Certification. A page carries other JSON-LD, which is not.
func (b *ldBadge) isBadgeLD() bool {
	return b.Type == "Product" && b.Certification != nil && b.Certification.Type == "Certification"
}

// A verifier checks badges against the registry's log: with keys alone
// (offline), or with the registry too, which gives the keys, the
// inclusion proofs a JSON-LD badge does not carry, and its own latest
// checkpoint, which every badge's checkpoint must be consistent with.
type verifier struct {
	keys []client.LogKey
	reg  *client.Client // nil: offline
	now  func() time.Time

	latest *client.Checkpoint // the registry's, once fetched
}

// checkpoint opens a badge's checkpoint and, with a registry, checks that
// the registry's log extends it (or is it): a badge from a view of the
// log the registry showed someone else fails as a fork.
func (v *verifier) checkpoint(ctx context.Context, signed string) (*client.Checkpoint, error) {
	if signed == "" {
		return nil, fail(causeNoProof, "the proof carries no checkpoint")
	}
	cp, err := client.VerifyCheckpoint([]byte(signed), "", v.keys, v.now())
	if err != nil {
		return nil, fail(causeSignature, "%v", err)
	}
	if v.reg == nil {
		return cp, nil
	}
	for fresh := false; ; fresh = true {
		if v.latest == nil || (fresh && cp.Size > v.latest.Size) {
			if v.latest, err = v.registryCheckpoint(ctx); err != nil {
				return nil, err
			}
		}
		if cp.Size <= v.latest.Size || fresh {
			break
		}
	}
	if cp.Size > v.latest.Size {
		return nil, fail(causeFork, "the badge's checkpoint is of %d changes, the registry's log has %d", cp.Size, v.latest.Size)
	}
	var proof client.ConsistencyProof
	if cp.Size > 0 && cp.Size < v.latest.Size {
		p, _, err := v.reg.Log.Consistency(ctx, cp.Size, v.latest.Size)
		if err != nil {
			return nil, fail(causeRegistry, "the consistency proof from %d to %d: %v", cp.Size, v.latest.Size, err)
		}
		proof = *p
	}
	if err := client.VerifyConsistency(cp, v.latest, proof); err != nil {
		return nil, fail(causeFork, "the registry's log does not extend the badge's checkpoint: %v", err)
	}
	return cp, nil
}

func (v *verifier) registryCheckpoint(ctx context.Context) (*client.Checkpoint, error) {
	signed, _, err := v.reg.Log.Checkpoint(ctx)
	if err != nil {
		return nil, fail(causeRegistry, "the registry's checkpoint: %v", err)
	}
	cp, err := client.VerifyCheckpoint(signed, "", v.keys, v.now())
	if err != nil {
		return nil, fail(causeRegistry, "the registry's own checkpoint does not verify: %v", err)
	}
	return cp, nil
}

// verifyJSON checks a .json badge: its checkpoint, each record's digest
// and place in the log, that the records make one product's status, and
// that they give the badge's verdict as of when it was decided.
func (v *verifier) verifyJSON(ctx context.Context, raw []byte) (string, error) {
	var b jsonBadge
	if err := json.Unmarshal(raw, &b); err != nil || b.Verdict == nil {
		return "", badInput("not a badge: no JSON object with a verdict")
	}
	verdict := *b.Verdict
	switch verdict {
	case client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn:
	default:
		return "", fail(causeNoProof, "a %q badge rests on no record, and carries none", verdict)
	}
	p := b.Proof
	if p == nil {
		return "", fail(causeNoProof, "the %s badge of GTIN %s carries no proof", verdict, b.GTIN)
	}
	cp, err := v.checkpoint(ctx, p.Checkpoint)
	if err != nil {
		return "", err
	}
	st := client.ProductStatus{Key: client.ProductKey{GTIN: b.GTIN}}
	for i, r := range p.Records {
		ev, err := decodeRecord(r)
		if err != nil {
			return "", err
		}
		if r.LeafIndex != r.Seq-1 {
			return "", fail(causeRecords, "record %d (%s %q) is at position %d, not leaf %d", i, r.Kind, r.ID, r.Seq, r.LeafIndex)
		}
		leaf, err := client.LogLeaf(ev)
		if err != nil {
			return "", fail(causeRecords, "record %d: %v", i, err)
		}
		if got := leafDigest(leaf); got != r.SHA256 {
			return "", fail(causeDigest, "%s %q: the record's SHA-256 is %s, the badge says %s", r.Kind, r.ID, got, r.SHA256)
		}
		proof := client.InclusionProof{Index: r.Seq - 1, Size: cp.Size, Proof: r.Inclusion}
		if err := client.VerifyInclusion(cp, r.Seq-1, leaf, proof); err != nil {
			return "", fail(causeInclusion, "%s %q: %v", r.Kind, r.ID, err)
		}
		if err := addRecord(&st, i, ev); err != nil {
			return "", err
		}
	}
	if err := checkTogether(&st); err != nil {
		return "", err
	}
	d := client.Decide(&st, p.DecidedAt, time.Duration(p.LookbackSeconds)*time.Second)
	since := ""
	if !d.Since.IsZero() {
		since = d.Since.In(chinaTime).Format(time.DateOnly)
	}
	if d.Verdict != verdict || d.Status != b.Status || since != b.Since {
		return "", fail(causeVerdict, "the badge says %s (%s, %s), its records give %s (%s, %s) as of %s",
			verdict, orNone(string(b.Status)), orNone(b.Since), d.Verdict, orNone(string(d.Status)), orNone(since),
			p.DecidedAt.UTC().Format(time.RFC3339))
	}
	if b.VerifyURL != "" && b.VerifyURL != recordLink(d) {
		return "", fail(causeVerdict, "the badge links to %q, not to the record its verdict rests on", b.VerifyURL)
	}
	return fmt.Sprintf("%s, GTIN %s, %d records in the log of %d changes signed by %s", verdict, b.GTIN, len(p.Records), cp.Size, cp.Signer), nil
}

// verifyLD checks a JSON-LD badge: its checkpoint, and each record it
// names against the leaf and inclusion proof the registry serves for it.
// It carries the records' digests, not the records: its verdict is not
// recomputed (the .json badge's is).
func (v *verifier) verifyLD(ctx context.Context, b *ldBadge) (string, error) {
	p := b.Proof
	if p == nil {
		return "", fail(causeNoProof, "the JSON-LD of GTIN %s carries no proof", b.GTIN)
	}
	cp, err := v.checkpoint(ctx, p.Checkpoint)
	if err != nil {
		return "", err
	}
	if v.reg == nil {
		return "", fail(causeNoProof, "a JSON-LD badge carries no inclusion proofs: check it with -registry")
	}
	cert := false
	for _, r := range p.Records {
		if r.Seq < 1 || r.LeafIndex != r.Seq-1 || r.LeafIndex >= cp.Size {
			return "", fail(causeInclusion, "%s %q: position %d, leaf %d, in a log of %d changes", r.Kind, r.ID, r.Seq, r.LeafIndex, cp.Size)
		}
		leaf, _, err := v.reg.Log.Leaf(ctx, r.LeafIndex)
		if err != nil {
			return "", fail(causeRegistry, "leaf %d: %v", r.LeafIndex, err)
		}
		proof, _, err := v.reg.Log.Inclusion(ctx, r.LeafIndex, cp.Size)
		if err != nil {
			return "", fail(causeRegistry, "the inclusion proof of leaf %d: %v", r.LeafIndex, err)
		}
		if err := client.VerifyInclusion(cp, r.LeafIndex, leaf, *proof); err != nil {
			return "", fail(causeInclusion, "%s %q: %v", r.Kind, r.ID, err)
		}
		f := leafFields(leaf)
		if f["seq"] != fmt.Sprint(r.Seq) || f["kind"] != r.Kind || f["id"] != r.ID {
			return "", fail(causeInclusion, "leaf %d is %s %q at %s, the badge names %s %q at %d",
				r.LeafIndex, f["kind"], f["id"], f["seq"], r.Kind, r.ID, r.Seq)
		}
		if f["sha256"] != r.SHA256 {
			return "", fail(causeDigest, "%s %q: the log holds SHA-256 %s, the badge says %s", r.Kind, r.ID, f["sha256"], r.SHA256)
		}
		cert = cert || (r.Kind == "commitment" && r.ID == b.Certification.Identification)
	}
	if !cert {
		return "", fail(causeRecords, "the certification %q is none of the records the proof names", b.Certification.Identification)
	}
	return fmt.Sprintf("certification %s, GTIN %s, %d records in the log of %d changes signed by %s (records checked, verdict not recomputed)",
		b.Certification.Identification, b.GTIN, len(p.Records), cp.Size, cp.Signer), nil
}

// decodeRecord reads a record of the proof as its kind's type, into the
// change that made it.
func decodeRecord(r jsonRecord) (client.Event, error) {
	ev := client.Event{Seq: r.Seq}
	var (
		id  string
		err error
	)
	switch r.Kind {
	case "enterprise":
		ev.Enterprise = new(client.Enterprise)
		err = json.Unmarshal(r.Record, ev.Enterprise)
		id = ev.Enterprise.ID
	case "commitment":
		ev.Commitment = new(client.Commitment)
		err = json.Unmarshal(r.Record, ev.Commitment)
		id = ev.Commitment.ID
	case "inspection":
		ev.Inspection = new(client.Inspection)
		err = json.Unmarshal(r.Record, ev.Inspection)
		id = ev.Inspection.ID
	default:
		return ev, fail(causeRecords, "a record of kind %q, not enterprise, commitment or inspection", r.Kind)
	}
	if err != nil {
		return ev, fail(causeRecords, "%s %q is not one: %v", r.Kind, r.ID, err)
	}
	if id != r.ID {
		return ev, fail(causeRecords, "the proof names %s %q, the record is %q", r.Kind, r.ID, id)
	}
	return ev, nil
}

// addRecord puts record i into st, in the order a status's proof names
// them: the enterprise, the commitment, the inspections.
func addRecord(st *client.ProductStatus, i int, ev client.Event) error {
	switch {
	case ev.Enterprise != nil:
		if i != 0 {
			return fail(causeRecords, "the enterprise is record %d, not the first", i)
		}
		st.Enterprise, st.Listed = ev.Enterprise, true
	case ev.Commitment != nil:
		if st.Commitment != nil || len(st.Inspections) > 0 {
			return fail(causeRecords, "commitment %q out of place", ev.Commitment.ID)
		}
		st.Commitment = ev.Commitment
	case ev.Inspection != nil:
		st.Inspections = append(st.Inspections, *ev.Inspection)
	}
	return nil
}

// checkTogether checks that genuine records were not put together into a
// status the registry never gave: the commitment and the inspections are
// the enterprise's, and an inspection that names a GTIN sampled this
// product.
func checkTogether(st *client.ProductStatus) error {
	if st.Enterprise == nil {
		return nil // no maker listed: the verdict recomputed is not_listed, which no badge with a proof shows
	}
	ent := st.Enterprise.ID
	if c := st.Commitment; c != nil && c.EnterpriseID != ent {
		return fail(causeRecords, "commitment %q is not maker %q's", c.ID, ent)
	}
	for _, in := range st.Inspections {
		if in.EnterpriseID != ent {
			return fail(causeRecords, "inspection %q is not maker %q's", in.ID, ent)
		}
		if in.Product.GTIN != "" && st.Key.GTIN != "" && in.Product.GTIN != st.Key.GTIN {
			return fail(causeRecords, "inspection %q sampled GTIN %s, not %s", in.ID, in.Product.GTIN, st.Key.GTIN)
		}
	}
	return nil
}

// recordLink is the link of the record a decision rests on, as the
// widget links it.
func recordLink(d client.Decision) string {
	if d.Verdict == client.VerdictInspectionFailed && d.Inspection != nil {
		return d.Inspection.VerifyURL
	}
	if d.Commitment != nil {
		return d.Commitment.VerifyURL
	}
	return ""
}

// leafFields reads a leaf's "name value" lines.
func leafFields(leaf []byte) map[string]string {
	f := map[string]string{}
	for line := range bytes.Lines(leaf) {
		k, val, ok := strings.Cut(strings.TrimSuffix(string(line), "\n"), " ")
		if ok {
			f[k] = val
		}
	}
	return f
}

func leafDigest(leaf []byte) string { return leafFields(leaf)["sha256"] }

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// causeOf is the cause of a failure, "" for another error.
func causeOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.cause
	}
	return ""
}
