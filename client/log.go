package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The registry's changes form an append-only Merkle log, in the manner of
// Certificate Transparency (RFC 6962 hashing) and Go's checksum database:
// the change at position seq is the log's leaf seq-1; the registry signs
// checkpoints of the log (its size and root hash) with keys it lists at
// /v1/keys; and proofs show that a leaf is in a tree, and that a larger
// tree extends a smaller one. Anyone holding a checkpoint can then check a
// record against it — a shopper's badge, a rival platform's claim — and
// two readers comparing checkpoints catch a log that shows them different
// histories. The tree and its proofs are golang.org/x/mod/sumdb/tlog's,
// the signatures golang.org/x/mod/sumdb/note's (Ed25519).

// Errors of the log, each wrapped with what failed; test with errors.Is.
var (
	// ErrCheckpointSignature: no registry key in force when it was
	// checked signed the checkpoint (a forged or tampered one, a key
	// unknown or past its end).
	ErrCheckpointSignature = errors.New("qcsdk: the log's checkpoint is not signed by a registry key in force")
	// ErrMalformedCheckpoint: the checkpoint is not one (its origin, size
	// or root hash unreadable).
	ErrMalformedCheckpoint = errors.New("qcsdk: the log's checkpoint is malformed")
	// ErrLogProof: a proof does not show what it should — the leaf is
	// not in the tree, it is cut short, or it is for another tree.
	ErrLogProof = errors.New("qcsdk: a proof of the registry's log does not verify")
	// ErrLogFork: two signed checkpoints show histories that cannot both
	// be the log's: one tree does not extend the other. The registry
	// showed different readers different logs, or its signing key leaked.
	ErrLogFork = errors.New("qcsdk: two checkpoints of the registry's log show different histories")
	// ErrLogBackwards: a checkpoint is smaller than one already verified.
	ErrLogBackwards = errors.New("qcsdk: the registry's log went backwards")
)

// Checkpoint is a checkpoint of the registry's log whose signature
// verified: the log's origin, its size (the changes it holds) and the
// root hash of their tree.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Signer names the key whose signature verified.
	Signer string
	// Note is the signed note as served, to be passed on (in a badge) or
	// cosigned (by a witness) as it is.
	Note []byte
}

// LogKey is one of the registry's keys for signing checkpoints, as
// /v1/keys lists it. A key verifies a checkpoint checked while it is in
// force, from NotBefore until NotAfter (none: until the registry gives
// one); so a checkpoint signed with a key since rotated out verifies
// until the old key's end.
type LogKey struct {
	// Key is the note verifier key, "name+hash+base64".
	Key       string     `json:"key"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// LogHash is one hash of the registry's log: a SHA-256, which JSON
// spells as the standard base64 of its 32 bytes. A proof holds its
// hashes as 32 bytes each, not as strings of 44 characters and their
// headers, decoded from the JSON string without an allocation; it is
// tlog's Hash by another name. A value that is not a hash so spelled
// fails the decoding of the answer that holds it.
type LogHash [tlog.HashSize]byte

// MarshalText spells h as JSON and text carry it: standard base64.
func (h LogHash) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(make([]byte, 0, base64.StdEncoding.EncodedLen(len(h))), h[:]), nil
}

// UnmarshalText reads the standard base64 of exactly 32 bytes.
func (h *LogHash) UnmarshalText(b []byte) error {
	var buf [tlog.HashSize + 1]byte // DecodedLen of 44 characters is 33
	if len(b) != base64.StdEncoding.EncodedLen(len(h)) {
		return fmt.Errorf("qcsdk: a log hash is 44 characters of base64, not %d", len(b))
	}
	n, err := base64.StdEncoding.Decode(buf[:], b)
	if err != nil || n != len(h) {
		return errors.New("qcsdk: a log hash is not the base64 of 32 bytes")
	}
	copy(h[:], buf[:n])
	return nil
}

// UnmarshalJSON reads h from its JSON string. encoding/json would call
// UnmarshalText too, but by a longer way: a proof has a few dozen hashes,
// and a page's answers a few thousand. (Encoding goes by MarshalText,
// which encoding/json writes out as it is; a MarshalJSON's output it
// would parse again.)
func (h *LogHash) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json leaves any value it reads null into
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("qcsdk: a log hash is a JSON string")
	}
	return h.UnmarshalText(b[1 : len(b)-1])
}

// String is h in base64.
func (h LogHash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// tlogHashes is a proof's hashes as tlog takes them: the same 32-byte
// arrays, under tlog's name for them.
func tlogHashes(p []LogHash) []tlog.Hash {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Slice((*tlog.Hash)(unsafe.Pointer(&p[0])), len(p))
}

// logHashes is a proof tlog made, as a proof of the registry's log holds
// it (for a registry, or a test, that proves with tlog).
func logHashes(p []tlog.Hash) []LogHash {
	out := make([]LogHash, len(p))
	for i, h := range p {
		out[i] = LogHash(h)
	}
	return out
}

// InclusionProof is the answer of /v1/log/proof/inclusion: the hashes
// that show leaf Index is in the tree of Size leaves.
type InclusionProof struct {
	Index int64     `json:"index"`
	Size  int64     `json:"size"`
	Proof []LogHash `json:"proof"`
}

// ConsistencyProof is the answer of /v1/log/proof/consistency: the
// hashes that show the tree of To leaves extends the tree of From.
type ConsistencyProof struct {
	From  int64     `json:"from"`
	To    int64     `json:"to"`
	Proof []LogHash `json:"proof"`
}

// LogLeaf returns the leaf the registry's log holds for a change: a few
// lines naming its position, the kind and id of the record it made, and
// the SHA-256 of that record in canonical JSON (RFC 8785: keys sorted, no
// insignificant space, strings escaped minimally), so that the record can
// be checked against the log wherever it travelled and however it was
// re-encoded on the way. Its hash in the tree is tlog.RecordHash(leaf).
func LogLeaf(ev Event) ([]byte, error) {
	return appendLogLeaf(nil, ev)
}

// appendLogLeaf appends the leaf LogLeaf returns to dst: verifyRecords
// makes its leaves in a buffer on its stack, as each is only hashed.
func appendLogLeaf(dst []byte, ev Event) ([]byte, error) {
	var (
		kind, id string
		rec      any
	)
	switch {
	case ev.Enterprise != nil:
		kind, id, rec = "enterprise", ev.Enterprise.ID, ev.Enterprise
	case ev.Commitment != nil:
		kind, id, rec = "commitment", ev.Commitment.ID, ev.Commitment
	case ev.Inspection != nil:
		kind, id, rec = "inspection", ev.Inspection.ID, ev.Inspection
	case ev.Case != nil:
		kind, id, rec = "case", ev.Case.ID, ev.Case
	case ev.Category != nil:
		kind, id, rec = "category", ev.Category.Code, ev.Category
	case ev.Report != nil:
		kind, id, rec = "report", ev.Report.ID, ev.Report
	default:
		return nil, fmt.Errorf("qcsdk: change %q at position %d carries no record", ev.ID, ev.Seq)
	}
	if ev.Seq <= 0 {
		return nil, fmt.Errorf("qcsdk: change %q has no position", ev.ID)
	}
	if id == "" || strings.ContainsAny(id, "\n\r") {
		return nil, fmt.Errorf("qcsdk: change %q's %s has no usable id", ev.ID, kind)
	}
	digest, err := recordDigest(rec)
	if err != nil {
		return nil, fmt.Errorf("qcsdk: change %q: %w", ev.ID, err)
	}
	// Appended rather than formatted: this runs for every record of
	// every status verified, and the sandbox makes its whole log with it.
	const (
		head     = "qcsdk record v1\nseq "
		digest64 = 44 // base64 of a SHA-256
	)
	leaf := slices.Grow(dst, len(head)+20+len("\nkind ")+len(kind)+len("\nid ")+len(id)+len("\nsha256 ")+digest64+1)
	leaf = append(leaf, head...)
	leaf = strconv.AppendInt(leaf, ev.Seq, 10)
	leaf = append(leaf, "\nkind "...)
	leaf = append(leaf, kind...)
	leaf = append(leaf, "\nid "...)
	leaf = append(leaf, id...)
	leaf = append(leaf, "\nsha256 "...)
	leaf = base64.StdEncoding.AppendEncode(leaf, digest[:])
	return append(leaf, '\n'), nil
}

// digestState is what one record's digest needs: its JSON, the encoder
// that writes it, and its canonical form. Digests are made by the
// thousand (every record of a cold page's statuses, the sandbox's whole
// log at start), so their buffers are pooled rather than allocated and
// dropped each time.
type digestState struct {
	raw   bytes.Buffer
	enc   *json.Encoder
	canon []byte
}

var digestStates = sync.Pool{New: func() any {
	d := new(digestState)
	d.enc = json.NewEncoder(&d.raw)
	// "<", ">" and "&" as they are: json.Marshal's \u003c and the like
	// would only have to be undone again, the canonical form has none.
	d.enc.SetEscapeHTML(false)
	return d
}}

// maxPooledDigest bounds the buffers a digestState keeps: a record
// larger than any the registry publishes is digested, but its buffers
// are not held on to.
const maxPooledDigest = 64 << 10

// recordDigest is the SHA-256 of rec in canonical JSON.
func recordDigest(rec any) ([sha256.Size]byte, error) {
	d := digestStates.Get().(*digestState)
	defer func() {
		if d.raw.Cap() <= maxPooledDigest && cap(d.canon) <= maxPooledDigest {
			digestStates.Put(d)
		}
	}()
	d.raw.Reset()
	if err := d.enc.Encode(rec); err != nil {
		return [sha256.Size]byte{}, err
	}
	var err error
	d.canon, err = appendCanonicalJSON(d.canon[:0], d.raw.Bytes())
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(d.canon), nil
}

// VerifyCheckpoint opens a signed checkpoint of the registry's log: one
// of keys, in force at now, must have signed it, and its text must be a
// checkpoint of origin (any origin when origin is ""). The text is the
// log's origin, its size and its root hash (base64), a line each; lines
// after them are extensions, ignored.
func VerifyCheckpoint(signed []byte, origin string, keys []LogKey, now time.Time) (*Checkpoint, error) {
	var verifiers []note.Verifier
	for _, k := range keys {
		if now.Before(k.NotBefore) || (k.NotAfter != nil && !now.Before(*k.NotAfter)) {
			continue
		}
		v, err := note.NewVerifier(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: a registry key that is not one (%q): %v", ErrCheckpointSignature, shorten(k.Key), err)
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(signed, note.VerifierList(verifiers...))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpointSignature, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return nil, fmt.Errorf("%w: %d lines, not origin, size and root hash", ErrMalformedCheckpoint, len(lines)-1)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return nil, fmt.Errorf("%w: size %q", ErrMalformedCheckpoint, shorten(lines[1]))
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return nil, fmt.Errorf("%w: root hash %q", ErrMalformedCheckpoint, shorten(lines[2]))
	}
	if lines[0] == "" || (origin != "" && lines[0] != origin) {
		return nil, fmt.Errorf("%w: origin %q, not %q", ErrMalformedCheckpoint, shorten(lines[0]), origin)
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: root, Signer: n.Sigs[0].Name, Note: slices.Clone(signed)}, nil
}

// VerifyInclusion checks that leaf is leaf index of the tree cp states,
// by proof.
func VerifyInclusion(cp *Checkpoint, index int64, leaf []byte, proof InclusionProof) error {
	if proof.Index != index || proof.Size != cp.Size {
		return fmt.Errorf("%w: a proof of leaf %d in a tree of %d, asked of leaf %d in %d",
			ErrLogProof, proof.Index, proof.Size, index, cp.Size)
	}
	if index < 0 || index >= cp.Size {
		return fmt.Errorf("%w: leaf %d is not in a tree of %d", ErrLogProof, index, cp.Size)
	}
	if err := tlog.CheckRecord(tlogHashes(proof.Proof), cp.Size, cp.Root, index, tlog.RecordHash(leaf)); err != nil {
		return fmt.Errorf("%w: leaf %d in the tree of %d: %v", ErrLogProof, index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that newer's tree extends older's, by proof.
// A newer checkpoint smaller than older is ErrLogBackwards; two of one
// size with different roots, or a proof that fails, ErrLogFork.
func VerifyConsistency(older, newer *Checkpoint, proof ConsistencyProof) error {
	switch {
	case newer.Size < older.Size:
		return fmt.Errorf("%w: from %d changes to %d", ErrLogBackwards, older.Size, newer.Size)
	case newer.Size == older.Size:
		if newer.Root != older.Root {
			return fmt.Errorf("%w: two roots for a tree of %d", ErrLogFork, older.Size)
		}
		return nil
	case older.Size == 0:
		return nil // every tree extends the empty one
	}
	if proof.From != older.Size || proof.To != newer.Size {
		return fmt.Errorf("%w: a proof from %d to %d, asked from %d to %d",
			ErrLogProof, proof.From, proof.To, older.Size, newer.Size)
	}
	if err := tlog.CheckTree(tlogHashes(proof.Proof), newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return fmt.Errorf("%w: the tree of %d does not extend the tree of %d: %v", ErrLogFork, newer.Size, older.Size, err)
	}
	return nil
}

// shorten quotes at most 64 bytes of what came over the wire.
func shorten(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}
