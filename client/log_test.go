package client_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/qualitycommit/qcsdk/client"
)

// testLog is a log of leaves kept in memory, as a registry keeps its own:
// the hashes tlog says to store, and proofs read from them.
type testLog struct {
	t      *testing.T
	origin string
	hashes []tlog.Hash
	leaves [][]byte
}

func (l *testLog) read(ids []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ids))
	for i, id := range ids {
		if id >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", id)
		}
		out[i] = l.hashes[id]
	}
	return out, nil
}

func (l *testLog) append(leaf []byte) {
	l.t.Helper()
	hs, err := tlog.StoredHashes(int64(len(l.leaves)), leaf, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	l.hashes = append(l.hashes, hs...)
	l.leaves = append(l.leaves, leaf)
}

// checkpoint signs the tree of the first size leaves with skey.
func (l *testLog) checkpoint(size int64, skey string) []byte {
	l.t.Helper()
	root, err := tlog.TreeHash(size, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		l.t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, root)}, s)
	if err != nil {
		l.t.Fatal(err)
	}
	return msg
}

func (l *testLog) inclusion(index, size int64) client.InclusionProof {
	l.t.Helper()
	p, err := tlog.ProveRecord(size, index, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	return client.InclusionProof{Index: index, Size: size, Proof: client.LogHashes(p)}
}

func (l *testLog) consistency(from, to int64) client.ConsistencyProof {
	l.t.Helper()
	p, err := tlog.ProveTree(to, from, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	return client.ConsistencyProof{From: from, To: to, Proof: client.LogHashes(p)}
}

func logKey(t *testing.T, name string) (skey string, key client.LogKey) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, client.LogKey{Key: vkey, NotBefore: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// logEvents are changes of each kind of record, positions 1 to n.
func logEvents(n int) []client.Event {
	evs := make([]client.Event, n)
	for i := range evs {
		seq := int64(i + 1)
		ev := client.Event{ID: fmt.Sprintf("evt_%012d", seq), Seq: seq}
		switch i % 3 {
		case 0:
			ev.Commitment = &client.Commitment{ID: fmt.Sprintf("cmt_%06d", i), EnterpriseID: "ent_000123",
				Status: client.CommitmentActive, Version: seq}
		case 1:
			ev.Enterprise = &client.Enterprise{ID: "ent_000123", Name: client.Text{ZH: "示例<电器>&有限公司\u2028"}, Version: seq}
		default:
			ev.Inspection = &client.Inspection{ID: fmt.Sprintf("ins_%06d", i), EnterpriseID: "ent_000123",
				Result: client.InspectionPass, Version: seq}
		}
		evs[i] = ev
	}
	return evs
}

func buildLog(t *testing.T, evs []client.Event) *testLog {
	t.Helper()
	l := &testLog{t: t, origin: "registry.example/log"}
	for _, ev := range evs {
		leaf, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		l.append(leaf)
	}
	return l
}

// A record's leaf names its position, kind and id, and a digest of the
// record that survives re-encoding: through JSON and back (as a Redis
// tier stores it), the leaf is the same; any change of the record is a
// different leaf.
func TestLogLeaf(t *testing.T) {
	ev := logEvents(2)[1]
	leaf, err := client.LogLeaf(ev)
	if err != nil {
		t.Fatal(err)
	}
	text := string(leaf)
	for _, want := range []string{"qcsdk record v1\n", "seq 2\n", "kind enterprise\n", "id ent_000123\n", "sha256 "} {
		if !strings.Contains(text, want) {
			t.Errorf("leaf %q lacks %q", text, want)
		}
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var again client.Event
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if leaf2, err := client.LogLeaf(again); err != nil || string(leaf2) != text {
		t.Errorf("the record through JSON and back has leaf %q (%v); want %q", leaf2, err, text)
	}
	changed := again
	e := *again.Enterprise
	e.Name.ZH += "。"
	changed.Enterprise = &e
	if leaf3, _ := client.LogLeaf(changed); string(leaf3) == text {
		t.Error("a changed record has the same leaf")
	}
	if _, err := client.LogLeaf(client.Event{ID: "evt_1", Seq: 1}); err == nil {
		t.Error("a change with no record has a leaf")
	}
	if _, err := client.LogLeaf(client.Event{ID: "evt_1", Commitment: &client.Commitment{ID: "cmt_1"}}); err == nil {
		t.Error("a change with no position has a leaf")
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	l := buildLog(t, logEvents(10))
	skey, key := logKey(t, "registry.example")
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	signed := l.checkpoint(10, skey)

	cp, err := client.VerifyCheckpoint(signed, "registry.example/log", []client.LogKey{key}, now)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != "registry.example/log" || cp.Size != 10 || cp.Signer != "registry.example" || string(cp.Note) != string(signed) {
		t.Errorf("checkpoint %+v", cp)
	}

	_, other := logKey(t, "registry.example")
	ended := key
	end := now.Add(-time.Hour)
	ended.NotAfter = &end
	notYet := key
	notYet.NotBefore = now.Add(time.Hour)
	tampered := strings.Replace(string(signed), "\n10\n", "\n11\n", 1)
	for _, c := range []struct {
		name   string
		signed []byte
		origin string
		keys   []client.LogKey
		want   error
	}{
		{"signed by a key the registry does not list", signed, "", []client.LogKey{other}, client.ErrCheckpointSignature},
		{"signed by a key past its end", signed, "", []client.LogKey{ended}, client.ErrCheckpointSignature},
		{"signed by a key not yet in force", signed, "", []client.LogKey{notYet}, client.ErrCheckpointSignature},
		{"its size changed after signing", []byte(tampered), "", []client.LogKey{key}, client.ErrCheckpointSignature},
		{"no signature at all", []byte("registry.example/log\n10\nAAAA\n"), "", []client.LogKey{key}, client.ErrCheckpointSignature},
		{"of another log", signed, "other.example/log", []client.LogKey{key}, client.ErrMalformedCheckpoint},
	} {
		if _, err := client.VerifyCheckpoint(c.signed, c.origin, c.keys, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}

	// A rotation: the old key verifies until its end, beside the new one.
	newSkey, newKey := logKey(t, "registry.example")
	oldEnd := now.Add(24 * time.Hour)
	old := key
	old.NotAfter = &oldEnd
	keys := []client.LogKey{old, newKey}
	for _, s := range []string{skey, newSkey} {
		if _, err := client.VerifyCheckpoint(l.checkpoint(10, s), "", keys, now); err != nil {
			t.Errorf("during the rotation: %v", err)
		}
	}
	if _, err := client.VerifyCheckpoint(signed, "", keys, oldEnd); !errors.Is(err, client.ErrCheckpointSignature) {
		t.Errorf("the old key at its end: %v; want ErrCheckpointSignature", err)
	}

	// Not a checkpoint, though signed.
	s, _ := note.NewSigner(skey)
	for _, text := range []string{"registry.example/log\n", "registry.example/log\nten\nAAAA\n", "registry.example/log\n10\nnot-a-hash\n", "\n10\n" + tlog.Hash{}.String() + "\n"} {
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.VerifyCheckpoint(msg, "", []client.LogKey{key}, now); !errors.Is(err, client.ErrMalformedCheckpoint) {
			t.Errorf("checkpoint text %q: %v; want ErrMalformedCheckpoint", text, err)
		}
	}
}

func TestVerifyInclusion(t *testing.T) {
	evs := logEvents(13)
	l := buildLog(t, evs)
	skey, key := logKey(t, "registry.example")
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	cp, err := client.VerifyCheckpoint(l.checkpoint(13, skey), "", []client.LogKey{key}, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(13) {
		if err := client.VerifyInclusion(cp, i, l.leaves[i], l.inclusion(i, 13)); err != nil {
			t.Errorf("leaf %d: %v", i, err)
		}
	}

	forged := evs[3]
	c := *forged.Commitment
	c.Status = client.CommitmentActive + "x"
	forged.Commitment = &c
	forgedLeaf, err := client.LogLeaf(forged)
	if err != nil {
		t.Fatal(err)
	}
	full := l.inclusion(3, 13)
	cut := full
	cut.Proof = full.Proof[:len(full.Proof)-1]
	otherSize := l.inclusion(3, 12)
	garbled := full
	garbled.Proof = slices.Clone(full.Proof)
	garbled.Proof[0][0] ^= 1
	for _, c := range []struct {
		name  string
		index int64
		leaf  []byte
		proof client.InclusionProof
	}{
		{"a record changed after the registry logged it", 3, forgedLeaf, full},
		{"a proof cut short", 3, l.leaves[3], cut},
		{"a proof for another tree size", 3, l.leaves[3], otherSize},
		{"a proof for another leaf", 5, l.leaves[5], l.inclusion(4, 13)},
		{"a hash that is not one", 3, l.leaves[3], garbled},
		{"a leaf past the tree", 13, l.leaves[3], client.InclusionProof{Index: 13, Size: 13}},
	} {
		if err := client.VerifyInclusion(cp, c.index, c.leaf, c.proof); !errors.Is(err, client.ErrLogProof) {
			t.Errorf("%s: %v; want ErrLogProof", c.name, err)
		}
	}
}

func TestVerifyConsistency(t *testing.T) {
	evs := logEvents(20)
	l := buildLog(t, evs)
	skey, key := logKey(t, "registry.example")
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	keys := []client.LogKey{key}
	at := func(l *testLog, size int64) *client.Checkpoint {
		cp, err := client.VerifyCheckpoint(l.checkpoint(size, skey), "", keys, now)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	for _, sizes := range [][2]int64{{1, 2}, {7, 8}, {8, 20}, {13, 20}, {19, 20}} {
		if err := client.VerifyConsistency(at(l, sizes[0]), at(l, sizes[1]), l.consistency(sizes[0], sizes[1])); err != nil {
			t.Errorf("%d to %d: %v", sizes[0], sizes[1], err)
		}
	}
	if err := client.VerifyConsistency(at(l, 20), at(l, 20), client.ConsistencyProof{}); err != nil {
		t.Errorf("a checkpoint against itself: %v", err)
	}
	if err := client.VerifyConsistency(at(l, 20), at(l, 13), client.ConsistencyProof{}); !errors.Is(err, client.ErrLogBackwards) {
		t.Errorf("20 then 13: %v; want ErrLogBackwards", err)
	}

	// A fork: the same first twelve changes, then another history, signed
	// with the registry's own key, as a registry showing one reader
	// another log would.
	forked := buildLog(t, evs[:12])
	other := evs[12]
	c := *other.Commitment
	c.Status = client.CommitmentRevoked
	other.Commitment = &c
	for _, ev := range append([]client.Event{other}, evs[13:]...) {
		leaf, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		forked.append(leaf)
	}
	if err := client.VerifyConsistency(at(l, 13), at(forked, 20), forked.consistency(13, 20)); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("the honest 13 and the forked 20: %v; want ErrLogFork", err)
	}
	if err := client.VerifyConsistency(at(l, 20), at(forked, 20), client.ConsistencyProof{}); !errors.Is(err, client.ErrLogFork) {
		t.Errorf("two roots for 20: %v; want ErrLogFork", err)
	}
	// Before the fork point the two agree.
	if err := client.VerifyConsistency(at(l, 12), at(forked, 20), forked.consistency(12, 20)); err != nil {
		t.Errorf("the common 12 and the forked 20: %v", err)
	}
	cut := l.consistency(8, 20)
	cut.Proof = cut.Proof[:len(cut.Proof)-1]
	if err := client.VerifyConsistency(at(l, 8), at(l, 20), cut); err == nil {
		t.Error("a consistency proof cut short verified")
	}
}

// A log hash reads and writes as the standard base64 of its 32 bytes,
// as tlog spells one; anything else is an error, not a hash.
func TestLogHashText(t *testing.T) {
	var h client.LogHash
	for i := range h {
		h[i] = byte(i * 7)
	}
	b, err := json.Marshal([]client.LogHash{h})
	if err != nil || string(b) != `["`+tlog.Hash(h).String()+`"]` {
		t.Fatalf("json of a hash: %s, %v; want tlog's spelling %q", b, err, tlog.Hash(h).String())
	}
	var back []client.LogHash
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 || back[0] != h {
		t.Fatalf("read back: %v, %v", back, err)
	}
	for _, bad := range []string{`""`, `"AAAA"`, `"` + strings.Repeat("A", 43) + `="x`, `"` + strings.Repeat("!", 44) + `"`,
		`"` + base64.StdEncoding.EncodeToString(make([]byte, 33)) + `"`, `"` + strings.Repeat("A", 42) + `=="`, `123`, `["` + strings.Repeat("A", 43) + `="]`} {
		var x client.LogHash
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("%s read as a hash: %x", bad, x)
		}
	}
}
