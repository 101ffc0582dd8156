package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
)

// VerifyCosts reports what c's verification has cost so far: the
// checkpoint signatures it checked and the record leaves it made.
func VerifyCosts(c *Client) (sigChecks, leaves int64) {
	return c.trust.sigChecks.Load(), c.trust.leaves.Load()
}

// VerifyRecords checks st's records against cp, whose signature is taken
// as verified: the per-status cost of verifying, for benchmarks.
func VerifyRecords(st *ProductStatus, cp *Checkpoint) error {
	return verifyRecords(st, statusRecords(st), cp, nil)
}

// ReferenceDigest is the SHA-256 of rec's canonical JSON made the
// straightforward way (json.Marshal, decoded with UseNumber, written by
// referenceCanonical), for tests that hold LogLeaf's digest to it.
func ReferenceDigest(rec any) ([sha256.Size]byte, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return [sha256.Size]byte{}, err
	}
	canon, err := referenceCanonical(nil, v)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(canon), nil
}

// VerifyPage checks the records of one answer's statuses against cp, as
// verifyAnswer does: a record shared by several statuses (their maker's)
// is verified once. It answers the leaves it made.
func VerifyPage(sts []*ProductStatus, cp *Checkpoint) (int, error) {
	var seen verifiedRecords
	for _, st := range sts {
		if err := verifyRecords(st, statusRecords(st), cp, &seen); err != nil {
			return seen.leaves, err
		}
	}
	return seen.leaves, nil
}

// The error types a caller only ever matches with errors.Is, under the
// names the tests give them.
type (
	TransportError     = transportError
	TooLargeError      = tooLargeError
	TruncatedError     = truncatedError
	WebhookDecodeError = webhookDecodeError
)

// LogHashes is logHashes, for the tests that build proofs.
var LogHashes = logHashes

// BaseURL is the API base URL c calls.
func BaseURL(c *Client) string { return c.base }
