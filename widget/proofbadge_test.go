package widget_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// What the .json badge carries verifies against the registry's log with
// the client's functions alone: each record's digest is its leaf's, each
// leaf is in the signed checkpoint's tree, and the records give the
// badge's verdict as of when it was decided. The JSON-LD names the same
// checkpoint and digests.
func TestJSONBadgeProofVerifies(t *testing.T) {
	e := setup(t, nil)
	h := e.w.Handler("/quality/")
	proven := 0
	for _, p := range e.srv.Demo() {
		var b struct {
			Verdict client.Verdict `json:"verdict"`
			Proof   *struct {
				Checkpoint      string    `json:"checkpoint"`
				DecidedAt       time.Time `json:"decided_at"`
				LookbackSeconds int64     `json:"lookback_seconds"`
				Records         []struct {
					Kind      string           `json:"kind"`
					Seq       int64            `json:"seq"`
					SHA256    string           `json:"sha256"`
					Inclusion []client.LogHash `json:"inclusion"`
					Record    json.RawMessage  `json:"record"`
				} `json:"records"`
			} `json:"proof"`
		}
		resp := get(t, h, "/quality/badge/"+string(p.GTIN)+".json")
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatal(err)
		}
		switch b.Verdict {
		case client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn:
		default:
			if b.Proof != nil {
				t.Errorf("%s: a %s badge carries a proof", p.GTIN, b.Verdict)
			}
			continue
		}
		if b.Proof == nil {
			t.Errorf("%s: the %s badge carries no proof", p.GTIN, b.Verdict)
			continue
		}
		proven++
		cp, err := client.VerifyCheckpoint([]byte(b.Proof.Checkpoint), "", e.srv.LogKeys(), time.Now())
		if err != nil {
			t.Fatalf("%s: %v", p.GTIN, err)
		}
		st := client.ProductStatus{Key: client.ProductKey{GTIN: p.GTIN}, Listed: true}
		var digests []string
		for _, r := range b.Proof.Records {
			ev := client.Event{Seq: r.Seq}
			var target any
			switch r.Kind {
			case "enterprise":
				ev.Enterprise = new(client.Enterprise)
				target = ev.Enterprise
			case "commitment":
				ev.Commitment = new(client.Commitment)
				target = ev.Commitment
			case "inspection":
				ev.Inspection = new(client.Inspection)
				target = ev.Inspection
			}
			if err := json.Unmarshal(r.Record, target); err != nil {
				t.Fatalf("%s: %s: %v", p.GTIN, r.Kind, err)
			}
			leaf, err := client.LogLeaf(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(leaf), "\nsha256 "+r.SHA256+"\n") {
				t.Errorf("%s: the %s's digest %s is not its leaf's:\n%s", p.GTIN, r.Kind, r.SHA256, leaf)
			}
			digests = append(digests, r.SHA256)
			if err := client.VerifyInclusion(cp, r.Seq-1, leaf, client.InclusionProof{Index: r.Seq - 1, Size: cp.Size, Proof: r.Inclusion}); err != nil {
				t.Errorf("%s: %s: %v", p.GTIN, r.Kind, err)
			}
			switch {
			case ev.Enterprise != nil:
				st.Enterprise = ev.Enterprise
			case ev.Commitment != nil:
				st.Commitment = ev.Commitment
			default:
				st.Inspections = append(st.Inspections, *ev.Inspection)
			}
		}
		if d := client.Decide(&st, b.Proof.DecidedAt, time.Duration(b.Proof.LookbackSeconds)*time.Second); d.Verdict != b.Verdict {
			t.Errorf("%s: the badge says %s, its records give %s as of %s", p.GTIN, b.Verdict, d.Verdict, b.Proof.DecidedAt)
		}
		ld := string(e.w.JSONLD(context.Background(), string(p.GTIN)))
		var doc struct {
			Proof struct {
				Checkpoint string `json:"checkpoint"`
				Records    []struct {
					LeafIndex int64  `json:"leafIndex"`
					SHA256    string `json:"sha256"`
				} `json:"records"`
			} `json:"qcsdk:proof"`
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(ld, `<script type="application/ld+json">`), `</script>`)
		if err := json.Unmarshal([]byte(inner), &doc); err != nil {
			t.Fatalf("%s: the JSON-LD: %v", p.GTIN, err)
		}
		if doc.Proof.Checkpoint != b.Proof.Checkpoint || len(doc.Proof.Records) != len(digests) {
			t.Errorf("%s: the JSON-LD's proof is not the .json badge's: %+v", p.GTIN, doc.Proof)
			continue
		}
		for i, r := range doc.Proof.Records {
			if r.SHA256 != digests[i] || r.LeafIndex != b.Proof.Records[i].Seq-1 {
				t.Errorf("%s: the JSON-LD's record %d: %+v", p.GTIN, i, r)
			}
		}
	}
	if proven < 3 {
		t.Errorf("%d demo products' badges carry a proof; the demo has one of each verdict that rests on records", proven)
	}
}
