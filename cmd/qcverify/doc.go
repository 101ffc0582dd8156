// Command qcverify checks quality-commitment badges against the
// registry's transparency log, as a shopper's tool, a rival platform or a
// regulator's crawler would: it trusts the registry's signing keys and
// nothing the badge's server says.
//
//	go run ./cmd/qcverify                                   # the demo, on an embedded sandbox
//	qcverify -key registry.keys badge.json                  # offline, with the registry's keys
//	qcverify -registry https://api.registry.example https://shop.example/item/1
//
// A target is a .json badge (a file or its URL, as widget's Handler
// serves it at {prefix}badge/{gtin}.json), a JSON-LD badge in a file, or a
// product page (a URL, or a saved file): every JSON-LD badge in the page
// and every .json badge it links to is checked.
//
// # What is checked
//
// A .json badge carries its proof: the registry's signed checkpoint, and
// each record its verdict rests on (the maker, the commitment, the
// inspections) with its position in the log, its SHA-256 and its
// inclusion proof. qcverify checks that a registry key signed the
// checkpoint, recomputes each record's digest from the record, checks
// each leaf's inclusion in the checkpoint's tree, checks that the records
// belong together (the commitment and the inspections are the maker's,
// and an inspection that names a GTIN sampled this one), and recomputes
// the verdict with client.Decide as of the instant the badge says it was
// decided: the verdict, its status, its date and its link must be the
// badge's.
//
// A JSON-LD badge carries the checkpoint and the records' digests, not
// the records nor their inclusion proofs: with -registry, qcverify
// fetches each leaf and its inclusion proof and checks that the log holds
// what the badge names, and that the certification is one of those
// records. Its verdict is not recomputed (the .json badge's is).
//
// With -registry, every badge's checkpoint must also be one the
// registry's own latest checkpoint extends (a consistency proof): a badge
// from a view of the log shown to one platform only fails as a fork.
//
// What a badge's proof does not show: that its records are still the
// latest (a commitment revoked after the checkpoint is not in it), nor
// that a record was left out. The log is a list of changes, not a map:
// freshness is the registry's live answer to say.
//
// # Keys
//
// -key FILE reads note verifier keys ("name+hash+base64"), one a line,
// each trusted at any time. -registry URL fetches the keys the registry
// lists at /v1/keys, with their dates, over TLS: as trustworthy as the
// connection. An API key, if the registry needs one, is read from
// QC_API_KEY, never from a flag. One of -key and -registry is required.
//
// # Output and exit status
//
// One line per badge: "ok", "FAIL" with the cause (no proof, signature,
// fork, digest, inclusion, records, verdict mismatch, registry) and why,
// or "ERROR" for a target that is no badge or cannot be read. The exit
// status is 0 when every badge verifies, 1 when one does not, and 2 when
// the command could not check: bad flags, both or neither of -key and
// -registry, keys that cannot be read or fetched, a target that cannot
// be read or is no badge.
//
// With no arguments, qcverify runs a demo in process: an embedded
// sandbox, and a client, cache and widget over it, as a platform runs
// them. It renders a committed product's .json badge and verifies it,
// flips a withdrawn product's badge to committed, edits a record of it,
// and renders a badge from a view of the log forked for one platform,
// which verifies with the keys alone and fails against the registry's
// own checkpoint. It exits 0 when each did as expected.
package main
