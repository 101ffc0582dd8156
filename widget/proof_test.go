package widget

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A badge carries a proof only when it has one that matches its status,
// and a decision whose instant it knows: otherwise none, never one that
// cannot verify.
func TestProofOnlyWhenItHoldsOne(t *testing.T) {
	w := &Widget{verifyHost: DefaultVerifyHost}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	hasProof := func(v *verdict) (jsonBadge, ld bool) {
		return strings.Contains(w.renderJSON(v, Look{}), `"proof":`), strings.Contains(w.renderJSONLD(v, Look{}), `"qcsdk:proof":`)
	}
	if j, ld := hasProof(decidedVerdict(withVersions(hostileStatus()), now)); !j || !ld {
		t.Fatalf("a status with its proof: .json proof %v, JSON-LD proof %v", j, ld)
	}
	for name, change := range map[string]func(v *verdict){
		"no proof (a status read back from a store)": func(v *verdict) { v.st.Proof = nil },
		"no checkpoint":          func(v *verdict) { v.st.Proof.Checkpoint = "" },
		"a record short":         func(v *verdict) { v.st.Proof.Records = v.st.Proof.Records[:2] },
		"another record's id":    func(v *verdict) { v.st.Proof.Records[1].ID = "cmt_2" },
		"another kind":           func(v *verdict) { v.st.Proof.Records[1].Kind = "inspection" },
		"another position":       func(v *verdict) { v.st.Proof.Records[2].Seq = 8 },
		"a record with no place": func(v *verdict) { v.st.Inspections[0].Version, v.st.Proof.Records[2].Seq = 0, 0 },
	} {
		v := decidedVerdict(withVersions(hostileStatus()), now)
		change(v)
		if j, ld := hasProof(v); j || ld {
			t.Errorf("%s: .json proof %v, JSON-LD proof %v; want none", name, j, ld)
		}
	}
	v := decidedVerdict(withVersions(hostileStatus()), now)
	v.slots.decided.Store(&decided{d: *v.d, from: now.Add(time.Hour)})
	if j, _ := hasProof(v); j {
		t.Error("a verdict whose decision was since made again carries a proof")
	}
	v.slots = nil
	if j, _ := hasProof(v); j {
		t.Error("a verdict whose decision's instant is unknown carries a proof")
	}
}

// The .json badge's proof says when, and with what look-back, the verdict
// was decided.
func TestProofSaysWhenDecided(t *testing.T) {
	w := &Widget{verifyHost: DefaultVerifyHost, lookback: 90 * 24 * time.Hour}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	var b badgeJSON
	if err := json.Unmarshal([]byte(w.renderJSON(decidedVerdict(withVersions(hostileStatus()), now), Look{})), &b); err != nil || b.Proof == nil {
		t.Fatalf("%v, proof %v", err, b.Proof)
	}
	if b.Proof.DecidedAt != "2026-03-15T12:00:00Z" || b.Proof.LookbackSeconds != 90*24*3600 {
		t.Errorf("decided at %s with a look-back of %d s", b.Proof.DecidedAt, b.Proof.LookbackSeconds)
	}
	if r := b.Proof.Records[1]; r.Kind != "commitment" || r.Seq != 7 || r.LeafIndex != 6 || len(r.SHA256) != 44 || r.Record == nil {
		t.Errorf("the commitment's entry: %+v", r)
	}
}
